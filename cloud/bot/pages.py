"""Admin pages of the bot: the questions it could not answer (grouped) and its rates over time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from cloud.auth.models import Role, User
from cloud.bot import stats
from cloud.db import SessionDep
from cloud.localtime import DEFAULT_TIME_ZONE, local_time, zone_label
from cloud.web.admin_forms import translator
from cloud.web.pages import page_user, render

router = APIRouter(include_in_schema=False)
READERS = (Role.admin, Role.agent, Role.service_center)


@router.get("/admin/bot")
def bot_admin(
    request: Request,
    session: SessionDep,
    user: Annotated[User, page_user(*READERS)],
    days: Annotated[int, Query(ge=1, le=365)] = 90,
    ask: Annotated[int | None, Query()] = None,
) -> Response:
    """Unanswered questions grouped, with "write an entry" and "mark the right entry"; rates by week."""
    from cloud.kb.models import KbEntry, KbStatus

    clusters = stats.unanswered(session, days=days)
    entries = session.execute(select(KbEntry.id, KbEntry.key, KbEntry.question)
                              .where(KbEntry.status == KbStatus.active).order_by(KbEntry.question)).all()
    groups: list[dict[str, Any]] = []
    for number, cluster in enumerate(clusters, start=1):
        texts = cluster.texts
        groups.append({"number": number, "texts": texts, "count": len(cluster.asks),
                       "ask_ids": [a.id for a in cluster.asks], "last_at": local_time(cluster.last_at),
                       "channels": sorted({str(getattr(a.channel, "value", a.channel)) for a in cluster.asks}),
                       "feedback_no": sum(1 for a in cluster.asks if a.helpful is False),
                       "suggestions": cluster.suggestions, "highlight": ask in {a.id for a in cluster.asks}})
    rates = stats.weekly_rates(session, weeks=12)
    return render(request, "admin/bot_unanswered.html", user, active="kb", can_edit=user.role == Role.admin,
                  groups=groups, rates=rates,
                  entries=[{"id": e.id, "key": e.key, "question": e.question} for e in entries], days=days,
                  time_zone=zone_label(DEFAULT_TIME_ZONE, translator(request)))

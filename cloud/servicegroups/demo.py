"""Demo service groups: one live group per demo hospital with its members and a short conversation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.registry.models import Hospital
from cloud.servicegroups import service


def seed_service_groups(session: Session, hospitals: Sequence[Hospital], users: Mapping[str, User]) -> None:
    """Each hospital's group (bot, desk, engineers, verified lab users) and a few messages in the first one."""
    groups = [service.ensure_hospital_group(session, hospital_id=h.id) for h in hospitals]
    session.flush()
    first = groups[0]
    lab, agent = users.get("labuser"), users.get("agent")
    if lab is None or agent is None:
        return
    service.post_message(session, group_id=first.id, author_user_id=None, kind="system",
                         text="欢迎加入服务群：智能助手、客服坐席和工程师都在这里。")
    service.post_message(session, group_id=first.id, author_user_id=lab.id, kind="text",
                         text="AU5800 做 ISE 的时候钾总是偏高，是电极的问题吗？")
    service.post_message(session, group_id=first.id, author_user_id=agent.id, kind="text",
                         text="陈老师您好，请先做一次 ISE 清洗并重新定标；如果还偏高，我们安排工程师上门检查电极。")

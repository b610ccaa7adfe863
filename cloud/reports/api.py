"""The report PDFs as people open them from a page or a message.

- /t/{number}/report.pdf: a ticket's service report, for whoever may see the ticket (the reporter's link with
  ?k=, a verified lab user of the hospital, staff) once it is resolved or closed.
- /reports/monthly/{hospital_id}/{YYYY-MM}.pdf: a hospital's monthly report, for its lab managers, the engineers
  serving it, the desk and admins (everyone else gets the same "not found" as for a hospital that does not
  exist).

Both answer a person in a browser: a problem is a readable page in their language, never JSON or a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cloud.auth.models import User
from cloud.db import SessionDep
from cloud.deps import OptionalUser, SettingsDep
from cloud.errors import Invalid, NotFound
from cloud.i18n import pick_language, translate
from cloud.registry.models import Hospital
from cloud.reports import service
from cloud.tickets import service as ticket_service
from cloud.web.pages import LANGUAGE_COOKIE, page_user, render

router = APIRouter(include_in_schema=False)


def _pdf(content: bytes, filename: str) -> Response:
    # inline: WeChat's browser and phones open it in their viewer; the name is what "save" suggests.
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f"inline; filename=\"report.pdf\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "private, no-cache",  # a rating or a late photo changes the report
    })


def _translator(request: Request) -> Callable[[str], str]:
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return lambda text: translate(text, language)


def _problem(request: Request, user: User | None, status: int, title: str, text: str) -> Response:
    response = render(request, "h5/message.html", user, icon="warn", title=title, text=text, link=None)
    response.status_code = status
    return response


@router.get("/t/{number}/report.pdf")
def service_report_pdf(
    number: str, request: Request, session: SessionDep, settings: SettingsDep, user: OptionalUser,
    k: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """A ticket's service report (PDF), rendered now if the stored one is missing or out of date."""
    t = _translator(request)
    ticket = ticket_service.visible_by_number(session, number, ticket_service.Viewer(user=user, reporter_key=k),
                                              settings)
    if ticket is None:
        return _problem(request, user, 404, t("Ticket not found"),
                        t("Check the link you received, or sign in."))
    try:
        path = service.current_service_report(session, ticket, data_dir=settings.data_dir)
    except NotFound:
        return _problem(request, user, 404, t("The service report is not ready yet"),
                        t("It is ready once the repair is done."))
    session.commit()
    return _pdf(path.read_bytes(), f"服务报告-{ticket.number}.pdf")


@router.get("/reports/monthly/{hospital_id}/{month}.pdf")
def monthly_report_pdf(
    hospital_id: int, month: str, request: Request, session: SessionDep, settings: SettingsDep,
    user: Annotated[User, page_user()],
) -> Response:
    """A hospital's monthly report (PDF); the month still running is rendered as it stands."""
    t = _translator(request)
    hospital = session.get(Hospital, hospital_id)
    if hospital is None or not service.can_see_monthly(user, hospital_id):
        return _problem(request, user, 404, t("Report not found"),
                        t("There is no such report, or it is not for your account."))
    try:
        wanted = service.month_for(hospital, month)
    except service.MonthNotBegun:
        return _problem(request, user, 400, t("That month has not begun yet"),
                        t("Monthly reports cover months that have begun."))
    except Invalid:
        return _problem(request, user, 400, t("Not a month"),
                        t("Give the month as YYYY-MM, e.g. 2026-11."))
    report = service.monthly_report(session, hospital, wanted, data_dir=settings.data_dir)
    session.commit()
    return _pdf(report.content, f"月报-{hospital.name}-{wanted.key}.pdf")

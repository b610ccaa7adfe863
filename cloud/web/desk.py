"""Service desk pages: the live agent console (desktop) and the engineer's ticket pages (mobile, WeUI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth.models import DESK_ROLES, Role, User
from cloud.db import SessionDep
from cloud.i18n import CATALOG, DEFAULT_LANGUAGE, pick_language, translate
from cloud.registry.models import Hospital
from cloud.telemetry.catalog import METRICS, metric_label
from cloud.tickets.checklists import all_texts
from cloud.tickets.models import Ticket
from cloud.web.pages import LANGUAGE_COOKIE, page_user, render

router = APIRouter(include_in_schema=False)

# Common remote answers an agent can drop into the answer box (English keys, zh-CN in the catalog).
CANNED_REPLIES = (
    "Please power the analyzer off for 30 seconds, restart it and check whether the alarm clears.",
    "Please check that the reagents and consumables are within their expiry date and loaded correctly.",
    "Please run the daily maintenance (wash / prime) from the operator manual, then try again.",
    "Please send us a photo of the alarm screen with the error code so we can diagnose it.",
    "We confirmed remotely that the parameters are back to normal; please run QC before resuming testing.",
    "An engineer will contact you shortly; please keep your phone available.",
)

# Every text the console and engineer scripts show; the scripts look them up by these English keys.
JS_TEXTS = (
    # ticket statuses and actions
    "submitted", "escalated", "dispatched", "accepted", "on_site", "resolved", "reopened", "closed", "cancelled",
    "answer", "escalate", "dispatch", "accept", "decline", "arrive", "complete", "confirm", "reopen", "cancel",
    "add_info", "note", "rate", "submit", "auto_close", "overdue",
    "low", "normal", "high", "critical", "Undelivered notifications",
    *(f"action.{a}" for a in ("submit", "answer", "escalate", "dispatch", "accept", "decline", "arrive", "complete",
                              "confirm", "auto_close", "reopen", "cancel", "add_info", "note", "rate", "overdue")),
    # live connection and alerts
    "Live", "Reconnecting…", "Offline", "New repair ticket", "Ticket updated",
    "Click anywhere to enable sound and desktop alerts", "Alerts on",
    # queue
    "To handle", "Remote centre", "Dispatched", "Awaiting confirmation", "Closed",
    "No tickets here.", "Loading…", "just now", "min ago", "h ago", "d ago",
    "Response", "Resolution", "overdue", "left", "Engineer",
    # detail
    "Select a ticket in the list to see its details.", "Status", "Device", "System no.", "Model", "Department",
    "Hospital", "System", "Score", "Recent tickets of this device", "No earlier tickets.", "Reporter", "Phone",
    "Description",
    "Photos", "Voice note", "Transcript", "media.pending", "media.voice_failed", "media.fetch_failed",
    "media.original", "Timeline", "Internal", "Actions", "No actions available now.",
    "Findings", "Parts used", "Reason", "Created", "Priority", "Urgency", "Group", "whole group",
    "Canned replies", "Answer text", "Note for the remote centre (optional)", "Choose an engineer",
    "matches category", "other category", "open tickets", "No engineer is available for this hospital.",
    "Message to the engineer (optional)", "Cancel reason", "Internal note (only staff see it)", "Reopen reason",
    "Information to add", "Send", "Close", "Done", "Saved", "Required",
    "The ticket was updated by someone else; the latest version is shown.",
    "This ticket has just changed.", "Could not save", "Network error; try again.",
    "Notifications", "No new notifications.", "Mark all read", "View PDF",
    "Metrics", "Open chart",  # a predictive ticket's mini chart (console_detail.js)
    "alert.open", "alert.acknowledged", "alert.resolved",  # its alerts' states
    # engineer
    "My tickets", "Ticket", "Accept", "Decline", "Arrived on site", "Complete repair", "Decline reason",
    "What did you find and fix?", "Parts replaced (optional)", "Add photos", "Uploading…", "Upload failed",
    "Call", "Back", "Submit", "Nothing assigned to you right now.", "New dispatch", "Rating", "Service desk",
    *CANNED_REPLIES,
    # a predictive ticket's pre-check (precheck.js)
    "precheck", "action.precheck", "Pre-check", "Pre-check checklist", "answered", "unanswered", "Note", "Add note",
    "Edit note", "Note on this check (optional)", "Finish pre-check", "Outcome", "Findings / note",
    "Answer every check first (done or not applicable).", "A false alarm needs a note saying why.", "Alert chart",
    "Pre-check finished", *(f"precheck.{a}" for a in ("done", "not_applicable", "open")),
    *(f"precheck.{o}{hint}" for o in ("fault_confirmed", "false_alarm", "fixed") for hint in ("", ".hint")),
    *all_texts(),
    # tiers: self-service, the escalated bot conversation
    "self_serve", "action.self_serve", "Tier", "tier.basic", "tier.remote", "tier.on_site", "Bot conversation",
    "conversation.user", "conversation.bot", "conversation.agent", "KB entry", "Device chart",
    "The bot could not solve it; the reporter asked for the service centre.", "Resolve remotely",
    "Dispatch an engineer", "Remote answer to the reporter", "Note (optional)",
    # the inbox: search, filters, views, reply, reassign, merge
    "desk.Search", "desk.Number, device, serial, reporter, phone or text", "desk.Views", "desk.tab.todo",
    "desk.Tickets in hand (not awaiting confirmation or ended)",
    "desk.tab.remote", "desk.tab.dispatched", "desk.tab.resolved", "desk.tab.closed", "desk.Mine", "desk.Unassigned",
    "desk.All", "desk.Filters", "desk.Clear filters", "desk.Any", "desk.Assignee", "desk.Source",
    "desk.source.reported", "desk.source.predictive", "No tickets match the search and filters.",
    "Possible duplicate", "Another open ticket exists for this device.", "desk.Merge",
    "desk.Merge duplicate tickets?", "desk.merge.text", "desk.Merged.", "Merged from", "Merged into", "desk.Reply",
    "desk.Message to the reporter", "desk.Resolve this ticket remotely?", "desk.confirm.resolve", "desk.Back",
    "desk.Reassign", "desk.Reason for the change (optional)", "desk.The reporter's other tickets",
    "desk.No other tickets.", "merged", "reply", "reassign", "merge", "action.reply", "action.reassign",
    "action.merge", "role.agent", "role.engineer",
    # the engineer's ticket page: address, hotline, the device's history, before/after photos, confirmations
    "Address", "Hotline", "Open in map", "Device history", "No earlier repairs of this device.", "Before repair",
    "After repair", "Cancel", "Confirm", "actor.system",
    # what the fault was, on every resolving form (fault_fields.js) and in the timeline
    "Fault category", "Suggested", "No suggestion: choose what fits.", "Choose…", "Root cause", "Root cause (optional)",
    "Why it failed, if known", "Add part", "Part name", "Part no. (optional)", "Qty", "Remove",
    "Choose the fault category.", "Name each part, or remove its row.", "The quantity is a whole number from 1 to 999.",
    "A false alarm is filed under 'no fault found'.",
    # the service report PDF of a resolved or closed ticket (cloud/reports)
    "Service report", "View PDF",
    # the on-site estimate at submission and its route, the device's profile (cloud/profiles)
    "onsite.estimate", "onsite.hint", "onsite.route.dispatch", "onsite.route.remote", "Maintenance profile",
)


def js_texts(request: Request) -> dict[str, str]:
    """The scripts' texts in the request's language."""
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    # System actors by what they are (actor.predictive: 预测性维护), as the audit exports name them.
    actors = {key: translate(key, language) for key in CATALOG[DEFAULT_LANGUAGE] if key.startswith("actor.")}
    return {key: translate(key, language) for key in JS_TEXTS} | actors | {
        f"metric.{key}": metric_label(key, language) for key in METRICS}


def _filter_choices(session: Session) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The hospitals and the people tickets can be assigned to (agents, engineers), for the console's filters."""
    hospitals = [{"id": h.id, "name": h.name} for h in session.execute(select(Hospital).order_by(Hospital.name))
                 .scalars()]
    people = session.execute(select(User).where(User.role.in_([Role.agent, Role.engineer]), User.is_active.is_(True))
                             .order_by(User.role, User.full_name, User.username)).scalars()
    return hospitals, [{"id": u.id, "name": u.full_name or u.username, "role": u.role.value} for u in people]


@router.get("/console")
def console(
    request: Request,
    session: SessionDep,
    user: Annotated[User, page_user(*DESK_ROLES)],
    ticket: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The live service desk console; ?ticket=ID opens that ticket, ?q= and the filters come back from the URL."""
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    hospitals, assignees = _filter_choices(session)
    return render(request, "desk/console.html", user, active="console", texts=js_texts(request),
                  open_ticket=ticket, canned=[translate(c, language) for c in CANNED_REPLIES], hospitals=hospitals,
                  assignees=assignees)


@router.get("/engineer")
def engineer_home(request: Request, user: Annotated[User, page_user(Role.engineer)]) -> Response:
    """The engineer's open tickets (mobile)."""
    return render(request, "desk/engineer.html", user, texts=js_texts(request))


@router.get("/engineer/tickets/{ticket_id}")
def engineer_ticket(
    request: Request, ticket_id: int, session: SessionDep, user: Annotated[User, page_user(Role.engineer)]
) -> Response:
    """One ticket for the engineer: details and the actions they may take."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        response = render(request, "desk/engineer_missing.html", user, texts=js_texts(request))
        response.status_code = 404
        return response
    return render(request, "desk/engineer_ticket.html", user, texts=js_texts(request), ticket_id=ticket.id,
                  number=ticket.number)

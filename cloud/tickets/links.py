"""Addresses of a ticket's pages, shared by the parts that link to them (messages, reports, dashboards)."""

from __future__ import annotations


def ticket_page_url(number: str) -> str:
    """The reporter's page of the ticket (signed-in users; an anonymous reporter's link adds its key)."""
    return f"/t/{number}"


def service_report_url(number: str, key: str | None = None) -> str:
    """Where the ticket's service report is served (cloud/reports/api.py), with the reporter link's key if any."""
    return f"{ticket_page_url(number)}/report.pdf" + (f"?k={key}" if key else "")

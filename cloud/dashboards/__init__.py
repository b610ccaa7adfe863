"""Dashboards (S9): aggregates over the ticket history, the /dashboards page, drill-down and exports."""

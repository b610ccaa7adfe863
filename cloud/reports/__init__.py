"""Service reports (one PDF per ticket) and each hospital's monthly report."""

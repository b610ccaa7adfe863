"""Repair tickets: the state machine, submission, assignment, SLAs and the timeline."""

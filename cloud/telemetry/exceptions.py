"""Telemetry-specific errors (the rest are the shared ones in cloud/errors.py)."""

from __future__ import annotations

from cloud.errors import DomainError


class PayloadTooLarge(DomainError):
    """An upload over the size limit, compressed or inflated."""

    status_code = 413


class UnsupportedEncoding(DomainError):
    """A Content-Encoding the ingest does not speak."""

    status_code = 415

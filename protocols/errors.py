"""Errors shared by the sans-I/O protocol codecs (h11 style)."""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class: something about a protocol exchange is wrong."""


class LocalProtocolError(ProtocolError):
    """We misused the protocol (a bug or wrong call order on our side)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol (bad bytes, bad record, wrong sequence)."""

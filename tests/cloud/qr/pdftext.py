"""A small reader for the PDFs reportlab writes: page count and the text drawn, in drawing order."""

from __future__ import annotations

import base64
import re
import zlib

_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.S)
_TOKEN = re.compile(rb"/(F\d+) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def page_count(pdf: bytes) -> int:
    """Number of page objects."""
    return len(re.findall(rb"/Type /Page(?![s\w])", pdf))


def _unescape(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i:i + 1]
        if ch != b"\\":
            out += ch
            i += 1
            continue
        nxt = raw[i + 1:i + 2]
        octal = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4])
        if octal:
            out.append(int(octal.group(0), 8) & 0xFF)
            i += 1 + len(octal.group(0))
        else:
            out += _ESCAPES.get(nxt, nxt)
            i += 2
    return bytes(out)


def _streams(pdf: bytes) -> list[bytes]:
    streams = []
    for match in _STREAM.finditer(pdf):
        data = match.group(1).strip()
        if data.endswith(b"~>"):
            data = base64.a85decode(data, adobe=True)
        try:
            data = zlib.decompress(data)
        except zlib.error:
            pass
        streams.append(data)
    return streams


def strings(pdf: bytes) -> list[str]:
    """Every string shown with Tj, decoded by its font (UTF-16BE for the CJK CID font, else Latin-1)."""
    cid_fonts = set(re.findall(rb"/Encoding /UniGB-UCS2-H /Name /(F\d+)", pdf))
    found: list[str] = []
    for stream in _streams(pdf):
        font = b""
        for match in _TOKEN.finditer(stream):
            if match.group(1):
                font = match.group(1)
                continue
            raw = _unescape(match.group(2))
            found.append(raw.decode("utf-16-be") if font in cid_fonts else raw.decode("cp1252"))
    return found

"""ASTM E1394 record grammar: delimiters, escape sequences and the generic :class:`Record`.

Each field is a tuple of repeats, each repeat a tuple of components; components are stored
unescaped. Field numbers are the standard's 1-based ones (field 1 is the record type letter).
Typed records (H, P, O, R, ...) live in :mod:`protocols.astm.records` and register themselves
here by their ``kind`` letter, so parsing and building always return the typed class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from protocols.astm.framing import FRAMING_BYTES
from protocols.errors import LocalProtocolError, RemoteProtocolError

Repeat = tuple[str, ...]
Field = tuple[Repeat, ...]
#: What a caller may pass for one field when building: text, components, or repeats of components.
FieldInput = str | Sequence[str] | Sequence[Sequence[str]]

#: Record classes by type letter, filled in by ``Record.__init_subclass__``.
RECORD_TYPES: dict[str, type[Record]] = {}


@dataclass(frozen=True)
class Delimiters:
    """The four delimiters of one message, taken from its H record."""

    field: str = "|"
    repeat: str = "\\"
    component: str = "^"
    escape: str = "&"

    @classmethod
    def from_header(cls, text: str) -> Delimiters:
        """Read the delimiters from the start of an H record (``H|\\^&...``)."""
        if len(text) < 2 or text[0] != "H":
            raise RemoteProtocolError(f"not a header record: {text[:20]!r}")
        field_delim = text[1]
        definition = text[2:].split(field_delim, 1)[0]
        default = cls()
        delims = cls(
            field=field_delim,
            repeat=definition[0] if len(definition) > 0 else default.repeat,
            component=definition[1] if len(definition) > 1 else default.component,
            escape=definition[2] if len(definition) > 2 else default.escape,
        )
        if len({delims.field, delims.repeat, delims.component, delims.escape}) != 4:
            raise RemoteProtocolError(f"header delimiters are not distinct: {text[:6]!r}")
        return delims

    @property
    def definition(self) -> str:
        """Return the header's second field: repeat, component and escape delimiters."""
        return self.repeat + self.component + self.escape


# --- escape sequences (E1394 7.1.x: &F& &S& &R& &E& &Xhh..& with the message's escape char) ---


def unescape(text: str, delims: Delimiters) -> str:
    """Replace escape sequences by the characters they stand for; unknown ones stay verbatim."""
    esc = delims.escape
    if esc not in text:
        return text
    pattern = re.compile(re.escape(esc) + r"([^" + re.escape(esc) + r"]*)" + re.escape(esc))
    named = {"F": delims.field, "S": delims.component, "R": delims.repeat, "E": delims.escape}

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in named:
            return named[code]
        if code[:1] == "X" and len(code) > 1 and len(code) % 2 == 1:
            try:
                return bytes.fromhex(code[1:]).decode("latin-1")
            except ValueError:
                return match.group(0)
        return match.group(0)  # &Z..& (local) and anything unknown: keep for the caller to see

    return pattern.sub(replace, text)


#: Characters that would end a record (CR, LF) or break E1381 framing (STX ETX EOT ENQ ACK NAK ETB): sent as &Xhh&.
_HEX_ESCAPED = frozenset({"\r", *map(chr, FRAMING_BYTES)})


def escape(text: str, delims: Delimiters) -> str:
    """Escape delimiter characters in a component value so it survives being built into a record and framed."""
    out: list[str] = []
    codes = {delims.escape: "E", delims.field: "F", delims.component: "S", delims.repeat: "R"}
    for char in text:
        if char in codes:
            out.append(f"{delims.escape}{codes[char]}{delims.escape}")
        elif char in _HEX_ESCAPED:
            out.append(f"{delims.escape}X{ord(char):02X}{delims.escape}")
        else:
            out.append(char)
    return "".join(out)


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One record: ``fields[0]`` is the type field, so ``field(n)`` uses the standard's numbering."""

    fields: tuple[Field, ...]
    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            RECORD_TYPES[cls.kind] = cls

    @property
    def type(self) -> str:
        """Return the record type letter (H, P, O, R, C, Q, M, S, L)."""
        return self.get(1)

    def field(self, number: int) -> Field:
        """Return field ``number`` (1-based) as repeats of components; missing fields are empty."""
        if number < 1:
            raise LocalProtocolError("field numbers start at 1")
        return self.fields[number - 1] if number <= len(self.fields) else ()

    def components(self, number: int, repeat: int = 0) -> Repeat:
        """Return the components of one repeat of field ``number`` (empty tuple if missing)."""
        repeats = self.field(number)
        return repeats[repeat] if repeat < len(repeats) else ()

    def get(self, number: int, component: int = 1, repeat: int = 0) -> str:
        """Return one component (1-based) of one repeat of field ``number``, or ''."""
        comps = self.components(number, repeat)
        return comps[component - 1] if 0 < component <= len(comps) else ""

    def first(self, number: int) -> str:
        """Return the first non-empty component of field ``number`` (handy for ``^0.0`` values)."""
        return next((c for c in self.components(number) if c), "")

    def to_text(self, delims: Delimiters) -> str:
        """Build the record text (without the trailing CR) using ``delims``."""
        parts: list[str] = []
        for index, repeats in enumerate(self.fields):
            if index == 1 and self.type == "H":
                parts.append(delims.definition)  # the definition itself is never escaped
                continue
            parts.append(
                delims.repeat.join(delims.component.join(escape(c, delims) for c in comps) for comps in repeats)
            )
        if self.type == "H" and len(parts) < 2:
            parts.append(delims.definition)  # a bare H still defines the delimiters, or it would not parse back
        # Trailing empty fields are kept: what was parsed builds back byte for byte.
        return delims.field.join(parts)

    @classmethod
    def build(cls, kind: str, *values: FieldInput) -> Record:
        """Build a record of ``kind`` from the values of fields 2, 3, ... (typed subclass returned)."""
        fields: list[Field] = [((kind,),)]
        fields.extend(_to_field(value) for value in values)
        return _typed(tuple(fields))

    @classmethod
    def from_numbered(cls, kind: str, values: Mapping[int, FieldInput]) -> Record:
        """Build a record of ``kind`` from ``{field number: value}`` (numbers from 2; gaps stay empty)."""
        if any(number < 2 for number in values):
            raise LocalProtocolError("field 1 is the record type; number fields from 2")
        last = max(values, default=1)
        return cls.build(kind, *(values.get(number, "") for number in range(2, last + 1)))


def _to_field(value: FieldInput) -> Field:
    if isinstance(value, str):
        return ((value,),) if value else ()
    items = list(value)
    if all(isinstance(item, str) for item in items):
        return (tuple(str(item) for item in items),) if items else ()
    return tuple((item,) if isinstance(item, str) else tuple(item) for item in items)


def _typed(fields: tuple[Field, ...]) -> Record:
    kind = fields[0][0][0] if fields and fields[0] and fields[0][0] else ""
    return RECORD_TYPES.get(kind, Record)(fields)


def parse_record(text: str, delims: Delimiters) -> Record:
    """Parse one record line (no CR) into a typed record."""
    raw_fields = text.split(delims.field)
    fields: list[Field] = []
    is_header = raw_fields[0] == "H"
    for index, raw in enumerate(raw_fields):
        if is_header and index == 1:
            fields.append(((raw,),))
        elif raw == "":
            fields.append(())
        else:
            fields.append(
                tuple(
                    tuple(unescape(c, delims) for c in rep.split(delims.component)) for rep in raw.split(delims.repeat)
                )
            )
    if not fields[0] or not fields[0][0][0]:
        raise RemoteProtocolError(f"record without a type: {text[:20]!r}")
    return _typed(tuple(fields))

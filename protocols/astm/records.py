"""ASTM E1394 / CLSI LIS2-A2 records: parse message text into typed records and build it back.

A message is the records ``H .. L`` joined by CR. The header's second field defines the
delimiters for the whole message: ``H|\\^&`` means field ``|``, repeat ``\\``, component ``^``,
escape ``&`` (GeneXpert sends ``H|@^\\``). Each field is a tuple of repeats, each repeat a tuple
of components; components are stored unescaped. Field numbers are the standard's 1-based ones
(field 1 is the record type letter), so ``record.get(4)`` on an R record is the result value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from protocols.astm.fields import (
    RECORD_TYPES,
    Delimiters,
    Field,
    FieldInput,
    Record,
    Repeat,
    escape,
    parse_record,
    unescape,
)
from protocols.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "RECORD_TYPES",
    "CommentRecord",
    "Delimiters",
    "Field",
    "FieldInput",
    "HeaderRecord",
    "ManufacturerRecord",
    "Message",
    "OrderRecord",
    "PatientRecord",
    "QueryRecord",
    "Record",
    "Repeat",
    "ResultRecord",
    "ScientificRecord",
    "TerminatorRecord",
    "build_message",
    "escape",
    "parse_message",
    "parse_messages",
    "parse_record",
    "pick_test_code",
    "split_lines",
    "unescape",
]


@dataclass(frozen=True)
class HeaderRecord(Record):
    """H: message header; carries the delimiters and who sent the message."""

    kind: ClassVar[str] = "H"

    @property
    def message_control_id(self) -> str:
        """Return H.3, the message control id."""
        return self.get(3)

    @property
    def sender(self) -> Repeat:
        """Return H.5 components: sender name / instrument, software version, serial."""
        return self.components(5)

    @property
    def receiver(self) -> str:
        """Return H.10, the receiver id."""
        return self.get(10)

    @property
    def processing_id(self) -> str:
        """Return H.12 (P production, T training, D debugging, Q quality control)."""
        return self.get(12)

    @property
    def version(self) -> str:
        """Return H.13, the version of the standard (e.g. ``E1394-97``, ``LIS2-A2``)."""
        return self.get(13)

    @property
    def timestamp(self) -> str:
        """Return H.14, the message date and time (``YYYYMMDDHHMMSS``)."""
        return self.get(14)


@dataclass(frozen=True)
class PatientRecord(Record):
    """P: patient information."""

    kind: ClassVar[str] = "P"

    @property
    def sequence(self) -> str:
        """Return P.2, the sequence number."""
        return self.get(2)

    @property
    def patient_id(self) -> str:
        """Return the first non-empty of P.3 (practice), P.4 (laboratory), P.5 (patient id 3)."""
        return self.get(3) or self.get(4) or self.get(5)

    @property
    def name(self) -> Repeat:
        """Return P.6 components (last, first, middle, suffix, title)."""
        return self.components(6)

    @property
    def birthdate(self) -> str:
        """Return P.8, the birthdate."""
        return self.get(8)

    @property
    def sex(self) -> str:
        """Return P.9 (M, F, U)."""
        return self.get(9)


@dataclass(frozen=True)
class OrderRecord(Record):
    """O: test order; its specimen id links results to a sample."""

    kind: ClassVar[str] = "O"

    @property
    def sequence(self) -> str:
        """Return O.2, the sequence number."""
        return self.get(2)

    @property
    def specimen_id(self) -> str:
        """Return O.3 component 1, the (LIS) specimen id / sample id."""
        return self.get(3)

    @property
    def instrument_specimen_id(self) -> str:
        """Return O.4 component 1, the instrument's specimen id."""
        return self.get(4)

    @property
    def sample_id(self) -> str:
        """Return the specimen id, falling back to the instrument's one (many analyzers fill only O.4)."""
        return self.specimen_id.strip() or self.first(4).strip()

    @property
    def test_ids(self) -> tuple[Repeat, ...]:
        """Return O.5 repeats, each the components of a universal test id."""
        return self.field(5)

    @property
    def test_codes(self) -> tuple[str, ...]:
        """Return one code per O.5 repeat (see :func:`pick_test_code`)."""
        return tuple(pick_test_code(comps) for comps in self.field(5))

    @property
    def priority(self) -> str:
        """Return O.6 (S stat, A asap, R routine, ...)."""
        return self.get(6)

    @property
    def collected_at(self) -> str:
        """Return O.8, the specimen collection date and time."""
        return self.get(8)

    @property
    def action_code(self) -> str:
        """Return O.12 (N new, A add, C cancel, Q control, ...)."""
        return self.get(12)

    @property
    def report_type(self) -> str:
        """Return O.26 (O order, F final, P preliminary, X cannot be done, ...)."""
        return self.get(26)


@dataclass(frozen=True)
class ResultRecord(Record):
    """R: one result value with units, reference range, flags and status."""

    kind: ClassVar[str] = "R"

    @property
    def sequence(self) -> str:
        """Return R.2, the sequence number."""
        return self.get(2)

    @property
    def test_id(self) -> Repeat:
        """Return R.3 components, the universal test id."""
        return self.components(3)

    @property
    def test_code(self) -> str:
        """Return the analyzer's test code from R.3 (see :func:`pick_test_code`)."""
        return pick_test_code(self.test_id)

    @property
    def value(self) -> str:
        """Return R.4: the first non-empty component (GeneXpert puts numbers in component 2)."""
        return self.first(4)

    @property
    def numeric_value(self) -> float | None:
        """Return R.4 as a float, or None when it is not a number (e.g. ``-----``, ``NEG``)."""
        try:
            return float(self.value)
        except ValueError:
            return None

    @property
    def units(self) -> str:
        """Return R.5, the units."""
        return self.get(5)

    @property
    def reference_range(self) -> str:
        """Return R.6, the reference range as sent (e.g. ``3.9 to 6.1``)."""
        return self.get(6)

    @property
    def abnormal_flags(self) -> str:
        """Return R.7 (L, H, LL, HH, <, >, N, A, ...)."""
        return self.get(7)

    @property
    def status(self) -> str:
        """Return R.9, the result status (F final, C correction, P preliminary, X cannot be done...)."""
        return self.get(9)

    @property
    def operator(self) -> str:
        """Return R.11, the operator id."""
        return self.get(11)

    @property
    def completed_at(self) -> str:
        """Return R.13, when the test completed (falls back to R.12, when it started)."""
        return self.get(13) or self.get(12)

    @property
    def instrument(self) -> str:
        """Return R.14, the instrument identification."""
        return self.get(14)


@dataclass(frozen=True)
class CommentRecord(Record):
    """C: comment on the record before it (or an instrument error/status message)."""

    kind: ClassVar[str] = "C"

    @property
    def source(self) -> str:
        """Return C.3 (P practice, L LIS, I instrument)."""
        return self.get(3)

    @property
    def text(self) -> str:
        """Return C.4 with its non-empty components joined by a space."""
        return " ".join(c for c in self.components(4) if c)

    @property
    def comment_type(self) -> str:
        """Return C.5 (G generic, T test name, P positive, N negative, I instrument flag)."""
        return self.get(5)


@dataclass(frozen=True)
class QueryRecord(Record):
    """Q: request for information (host query)."""

    kind: ClassVar[str] = "Q"

    @property
    def starting_range(self) -> Repeat:
        """Return Q.3 components (patient id, specimen id, ...)."""
        return self.components(3)

    @property
    def test_ids(self) -> tuple[Repeat, ...]:
        """Return Q.5 repeats of universal test ids."""
        return self.field(5)

    @property
    def status_code(self) -> str:
        """Return Q.13, the request information status code."""
        return self.get(13)


@dataclass(frozen=True)
class ManufacturerRecord(Record):
    """M: manufacturer information (content defined by the analyzer's manual)."""

    kind: ClassVar[str] = "M"


@dataclass(frozen=True)
class ScientificRecord(Record):
    """S: scientific record."""

    kind: ClassVar[str] = "S"


@dataclass(frozen=True)
class TerminatorRecord(Record):
    """L: message terminator."""

    kind: ClassVar[str] = "L"

    @property
    def termination_code(self) -> str:
        """Return L.3 (N normal, T sender aborted, R receiver abort, E error, Q, I, F)."""
        return self.get(3)


def pick_test_code(components: Sequence[str]) -> str:
    """Return a test code from universal test id components.

    E1394 puts the manufacturer's code in component 4 (``^^^GLU``); analyzers shift it (Sysmex
    ``^^^^WBC^1``), so this is the first non-empty component from the fourth on, else the first
    non-empty one. Analyzer-specific mappings belong in device configuration, not here.
    """
    return next((c for c in components[3:] if c), "") or next((c for c in components if c), "")


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A whole message: H, then P/O/R/C/Q/M/S records, then (normally) L."""

    records: tuple[Record, ...]
    delimiters: Delimiters = field(default_factory=Delimiters)

    @property
    def header(self) -> HeaderRecord:
        """Return the H record."""
        head = self.records[0]
        if not isinstance(head, HeaderRecord):
            raise LocalProtocolError("message does not start with an H record")
        return head

    @property
    def terminator(self) -> TerminatorRecord | None:
        """Return the L record, or None if the message was cut short."""
        last = self.records[-1]
        return last if isinstance(last, TerminatorRecord) else None

    @property
    def patients(self) -> list[PatientRecord]:
        """Return the P records in order."""
        return [r for r in self.records if isinstance(r, PatientRecord)]

    @property
    def orders(self) -> list[OrderRecord]:
        """Return the O records in order."""
        return [r for r in self.records if isinstance(r, OrderRecord)]

    @property
    def results(self) -> list[ResultRecord]:
        """Return the R records in order."""
        return [r for r in self.records if isinstance(r, ResultRecord)]

    @property
    def comments(self) -> list[CommentRecord]:
        """Return the C records in order."""
        return [r for r in self.records if isinstance(r, CommentRecord)]

    def results_by_order(self) -> list[tuple[OrderRecord | None, list[ResultRecord]]]:
        """Group R records under the O record that precedes them (None before any O)."""
        groups: list[tuple[OrderRecord | None, list[ResultRecord]]] = []
        for record in self.records:
            if isinstance(record, OrderRecord):
                groups.append((record, []))
            elif isinstance(record, ResultRecord):
                if not groups:
                    groups.append((None, []))
                groups[-1][1].append(record)
        return groups

    def comments_for(self, record: Record) -> list[CommentRecord]:
        """Return the C records that directly follow ``record``."""
        index = next(i for i, r in enumerate(self.records) if r is record)
        out: list[CommentRecord] = []
        for following in self.records[index + 1 :]:
            if not isinstance(following, CommentRecord):
                break
            out.append(following)
        return out

    def to_text(self) -> str:
        """Build the message text: records joined and ended by CR."""
        return "".join(record.to_text(self.delimiters) + "\r" for record in self.records)


def split_lines(text: str) -> list[str]:
    """Split message text into record lines on CR, LF or CR LF, dropping empty lines."""
    return [line for line in re.split(r"\r\n|\r|\n", text) if line]


def parse_messages(text: str) -> list[Message]:
    """Parse text holding one or more messages; each H record starts a new message."""
    messages: list[Message] = []
    records: list[Record] = []
    delims: Delimiters | None = None
    for line in split_lines(text):
        if line.startswith("H") and len(line) > 1 and not line[1].isalnum():
            if delims is not None:
                messages.append(Message(tuple(records), delims))
            delims = Delimiters.from_header(line)
            records = []
        elif delims is None:
            raise RemoteProtocolError(f"record before any H record: {line[:20]!r}")
        records.append(parse_record(line, delims))
    if delims is not None:
        messages.append(Message(tuple(records), delims))
    return messages


def parse_message(text: str) -> Message:
    """Parse the text of exactly one message (H .. L) into typed records."""
    messages = parse_messages(text)
    if len(messages) != 1:
        raise RemoteProtocolError(f"expected one message, found {len(messages)}")
    return messages[0]


def build_message(records: Sequence[Record], delimiters: Delimiters | None = None) -> str:
    """Build message text from records (delimiters default to ``|\\^&``)."""
    return Message(tuple(records), delimiters or Delimiters()).to_text()

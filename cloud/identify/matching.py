"""Matching OCR text to serial and system numbers, tolerant to what OCR confuses (O/0, I/1, S/5, B/8, dashes).

Pure functions, no database: the service hands in the hospital's identifiers. A match must be clearly better
than every other device's: a tie, or a long fuzzy hit on a short identifier, is no match (a wrong device is
worse than none: the user then falls back to the photo or the list).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Both sides are folded into one alphabet, so "MF-OOO123", "MF 000 l23" and "MF-000123" meet.
_FOLD = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "|": "1", "!": "1", "S": "5", "B": "8",
                       "Z": "2", "G": "6"})
_NOT_CODE = re.compile(r"[^0-9A-Z]+")


@dataclass(frozen=True)
class Identifier:
    """One device identifier a nameplate may show."""

    device_id: int
    kind: str  # "serial" | "system_number"
    text: str


@dataclass(frozen=True)
class TextMatch:
    """The device a nameplate text names, and how sure we are (1.0 = exact after folding)."""

    device_id: int
    kind: str
    score: float
    found: str


def fold(text: str) -> str:
    """Upper case, only letters and digits, confusable letters as digits: 'mf-ooo l23' -> 'MF000123'."""
    return _NOT_CODE.sub("", text.upper().translate(_FOLD))


def allowed_edits(length: int) -> int:
    """How many OCR slips an identifier of this folded length tolerates and stays unmistakable."""
    if length >= 11:
        return 2
    if length >= 7:
        return 1
    return 0


def _window_distance(needle: str, hay: str, limit: int) -> int:
    """Smallest edit distance between needle and any substring of hay (semi-global), capped at limit + 1."""
    if not needle:
        return 0
    previous = [0] * (len(hay) + 1)  # a match may start anywhere in hay
    for i, char in enumerate(needle, 1):
        current = [i] + [0] * len(hay)
        best = current[0]
        for j, other in enumerate(hay, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
            best = min(best, current[j])
        if best > limit:
            return limit + 1
        previous = current
    return min(min(previous), limit + 1)


def _grams(text: str) -> set[str]:
    return {text[i:i + 3] for i in range(len(text) - 2)}


_SPLIT = re.compile(r"[\s:：,，;；|\[\]()（）]+")
FREE_SUBSTRING = 8  # identifiers this long may be found inside run-together text; shorter ones only whole
MAX_JOIN = 4  # a serial read as "C702 1834 07" is three tokens


def text_pieces(text: str) -> tuple[list[str], set[str]]:
    """The OCR text as folded lines, and every run of 1-4 adjacent tokens of a line, folded and joined."""
    lines: list[str] = []
    whole: set[str] = set()
    for line in text.splitlines():
        folded = fold(line)
        if len(folded) >= 3:
            lines.append(folded)
        tokens = [piece for piece in (fold(token) for token in _SPLIT.split(line)) if piece]
        for i in range(len(tokens)):
            for j in range(i + 1, min(len(tokens), i + MAX_JOIN) + 1):
                whole.add("".join(tokens[i:j]))
    return lines, whole


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance between a and b, capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, other in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != other))
        if min(current) > limit:
            return limit + 1
        previous = current
    return min(previous[-1], limit + 1)


def _short_distance(wanted: str, whole: set[str], edits: int) -> int:
    # A short identifier inside a longer run ("00240" in "AC 100-240V") is chance, not a nameplate: whole only.
    if wanted in whole:
        return 0
    if not edits:
        return edits + 1
    return min((_distance(wanted, piece, edits) for piece in whole if abs(len(piece) - len(wanted)) <= edits),
               default=edits + 1)


def _long_distance(wanted: str, lines: list[str], line_grams: list[set[str]], edits: int) -> int:
    if any(wanted in line for line in lines):
        return 0
    distance = edits + 1
    grams = _grams(wanted)
    # Each slip spoils at most three 3-grams: fewer shared than that cannot be within `edits`.
    need = max(1, len(grams) - 3 * edits)
    for line, have in zip(lines, line_grams, strict=True):
        if len(grams & have) >= need:
            distance = min(distance, _window_distance(wanted, line, edits))
            if distance == 0:
                break
    return distance


def match_text(text: str, identifiers: Iterable[Identifier]) -> list[TextMatch]:
    """Devices the OCR text names, best first; empty unless one device is clearly the best."""
    lines, whole = text_pieces(text)
    if not lines:
        return []
    line_grams = [_grams(line) for line in lines]
    best: dict[int, TextMatch] = {}
    for ident in identifiers:
        wanted = fold(ident.text)
        if len(wanted) < 3:
            continue
        edits = allowed_edits(len(wanted))
        if len(wanted) >= FREE_SUBSTRING:
            distance = _long_distance(wanted, lines, line_grams, edits)
        else:
            distance = _short_distance(wanted, whole, edits)
        if distance <= edits:
            score = round(1.0 - distance / max(len(wanted), 1), 3)
            previous = best.get(ident.device_id)
            if previous is None or score > previous.score:
                best[ident.device_id] = TextMatch(ident.device_id, ident.kind, score, wanted)
    ranked = sorted(best.values(), key=lambda m: (-m.score, -len(m.found), m.device_id))
    if not ranked:
        return []
    top, rest = ranked[0], ranked[1:]
    # A shorter identifier found inside the top one ("12345" in "123456") is no rival: the longer one is meant.
    rivals = [m for m in rest if m.score >= top.score and not (len(m.found) < len(top.found) and m.found in top.found)]
    if rivals:
        return []  # two devices fit equally well: guessing would send the user to the wrong one
    return [top]

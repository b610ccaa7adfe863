"""The fault taxonomy: the managed list of fault categories, their display names, and the suggestion for a ticket.

A resolved ticket names what the fault was by a category code (ticket.fault_category). The list is kept per device
category: a row for one device category (chemistry's ISE electrodes) wins over a general row (device_category None)
with the same code, so every device category sees the general list plus its own entries, in one order (position).
Admins add, rename, reorder and deactivate entries (cloud/web/admin_faults.py); a code never changes once tickets
carry it, and a deactivated entry still names the tickets filed under it.

The suggestion shown preselected on every resolving form comes from, in this order: the resolver's own words (the
findings or answer typed so far), the alert's metric and the pre-check of a predictive ticket, the category the
ticket was resolved with before it was reopened, the knowledge-base entry the bot answered with, and the words of the
report itself (description, bot conversation, added information). Words match a category by built-in keywords
(zh-CN and English) and by the category's own names, so an entry an admin adds is found by its name too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.errors import Conflict, Invalid, NotFound
from cloud.i18n import DEFAULT_LANGUAGE, translate
from cloud.tickets.checklists import family_of
from cloud.tickets.models import FaultCategory, PrecheckOutcome, PrecheckTask, Ticket


def N_(text: str) -> str:  # noqa: N802 - gettext's name: marks a key for `make messages`, translated later
    return text


# A fault looked for and not found: an engineer on site who finds the analyzer working, and every pre-check that
# ends as a false alarm (seeded by migration 0022). Profiles count it apart from the faults.
NO_FAULT = "no_fault"
# The fallback entry: never suggested from words ("其他" is an everyday word in reports).
OTHER = "other"
_CACHE = "medfix.fault_taxonomy"

# Words that point at a default category, beside its names. Chinese words match anywhere in the text; ASCII words
# match whole words only ("ise" must not match "noise").
KEYWORDS: dict[str, tuple[str, ...]] = {
    "temperature_control": (
        "温度", "温控", "恒温", "加热", "制冷", "冷藏", "冷却", "孵育", "过热", "散热", "风扇", "temperature", "temp",
        "heater", "heating", "cooling", "thermostat", "incubator", "incubation", "overheat", "fan"),
    "optics_lamp": (
        "光源", "灯泡", "卤素灯", "氙灯", "光路", "光度计", "吸光度", "比色杯", "杯空白", "滤光片", "光学", "lamp",
        "optics", "optical", "photometer", "absorbance", "cuvette", "cuvettes"),
    "sample_probe": (
        "加样针", "样本针", "样品针", "试剂针", "吸样", "堵针", "堵塞", "凝块", "液面检测", "撞针", "probe", "clog",
        "clogged", "clot", "needle", "aspiration"),
    "reagent_fluidics": (
        "试剂", "液路", "管路", "漏液", "漏水", "泵", "压力", "负压", "真空", "清洗液", "气泡", "废液", "纯水", "水质",
        "电导率", "阀", "reagent", "reagents", "fluidics", "leak", "pump", "pressure", "vacuum", "bubble", "bubbles",
        "waste", "valve", "conductivity"),
    "ise": ("电极", "电解质", "ISE", "钠", "钾", "氯", "electrode", "electrodes", "electrolyte"),
    "mechanical": (
        "机械", "卡住", "卡样", "卡杯", "卡管", "异响", "噪音", "电机", "马达", "机械臂", "传动", "皮带", "轨道",
        "齿轮", "撞击", "mechanical", "motor", "jam", "jammed", "belt", "gear", "stuck", "collision", "noise"),
    "communication_software": (
        "通信", "通讯", "LIS", "网络", "软件", "死机", "蓝屏", "联机", "传输", "上传", "程序", "固件", "升级",
        "communication", "software", "network", "crash", "firmware", "interface", "connection"),
    "operator_error": (
        "误操作", "操作不当", "操作错误", "使用不当", "放错", "放反", "未按规程", "培训", "operator error",
        "user error", "misuse", "training"),
    NO_FAULT: ("误报", "无故障", "未发现故障", "未见异常", "false alarm", "no fault"),
}

# An alert's metric family (cloud/tickets/checklists.FAMILIES) → the category it points at; metrics outside these
# families (alarms, error codes, counters) point at none, and the words decide.
FAMILY_CATEGORY = {"temperature": "temperature_control", "optics": "optics_lamp", "pressure": "reagent_fluidics",
                   "water": "reagent_fluidics"}
# Metrics of the general family that still name their part.
METRIC_WORDS = (("reagent", "reagent_fluidics"), ("probe", "sample_probe"), ("electrode", "ise"), ("ise", "ise"))

# Where a suggestion came from, as shown under the field ({detail} is the word, KB entry or metric).
SOURCES = {
    "findings": N_("fault.source.findings"),
    "alert": N_("fault.source.alert"),
    "precheck": N_("fault.source.precheck"),
    "previous": N_("fault.source.previous"),
    "kb": N_("fault.source.kb"),
    "text": N_("fault.source.text"),
}
UNKNOWN_LABEL = N_("fault.unknown")


@dataclass(frozen=True)
class Entry:
    """A plain copy of one fault_category row (kept for the session: ticket listings label many tickets)."""

    id: int
    device_category: str | None
    code: str
    name_zh: str
    name_en: str
    basic: bool
    position: int
    active: bool

    def name(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The display name in the language (English falls back to the Chinese name when none was given)."""
        return self.name_en if language == "en" and self.name_en else self.name_zh


@dataclass(frozen=True)
class Suggestion:
    """A category to preselect, where it came from, and what in that source pointed at it."""

    code: str
    source: str  # a key of SOURCES
    detail: str  # the matched word, the KB entry's question, the metric key; "" when there is nothing to add


def _entries(session: Session) -> list[Entry]:
    cached = session.info.get(_CACHE)
    if cached is None:
        rows = session.execute(select(FaultCategory).order_by(FaultCategory.position, FaultCategory.id)).scalars()
        cached = [Entry(r.id, r.device_category, r.code, r.name_zh, r.name_en, r.basic, r.position, r.active)
                  for r in rows]
        session.info[_CACHE] = cached
    return list(cached)


def all_entries(session: Session) -> list[Entry]:
    """Every entry of every device category, active or not, in the admins' order."""
    return _entries(session)


def forget(session: Session) -> None:
    """Drop the session's copy of the list (after a change)."""
    session.info.pop(_CACHE, None)


def view(session: Session, device_category: str | None, *, include_inactive: bool = False) -> list[Entry]:
    """The list a device of device_category sees: the general entries and its own, its own winning a shared code."""
    entries = _entries(session)
    own = {e.code for e in entries if e.device_category is not None and e.device_category == device_category}
    return [e for e in entries
            if (e.device_category == device_category or (e.device_category is None and e.code not in own))
            and (include_inactive or e.active)]


def categories_for(session: Session, device_category: str | None, *, include_inactive: bool = False,
                   ) -> list[FaultCategory]:
    """The fault categories offered for a device of device_category, in the admins' order (active ones only)."""
    ids = [e.id for e in view(session, device_category, include_inactive=include_inactive)]
    if not ids:
        return []
    rows = {r.id: r for r in session.execute(select(FaultCategory).where(FaultCategory.id.in_(ids))).scalars()}
    return [rows[i] for i in ids if i in rows]


def entry_for(session: Session, code: str | None, device_category: str | None) -> Entry | None:
    """The entry a ticket's code names for its device category (inactive ones too); any entry of the code else."""
    if not code:
        return None
    found = next((e for e in view(session, device_category, include_inactive=True) if e.code == code), None)
    return found or next((e for e in _entries(session) if e.code == code), None)


def fault_label(session: Session, code: str | None, device_category: str | None,
                language: str = DEFAULT_LANGUAGE) -> str:
    """The display name of a ticket's fault category in the language ("" for none; never the code itself)."""
    if not code:
        return ""
    entry = entry_for(session, code, device_category)
    return entry.name(language) if entry is not None else translate(UNKNOWN_LABEL, language)


def is_basic(session: Session, code: str | None, device_category: str | None) -> bool | None:
    """Whether the category is a basic fault (solved without an engineer on site as a rule); None when unknown."""
    entry = entry_for(session, code, device_category)
    return entry.basic if entry is not None else None


def require(session: Session, code: str | None, device_category: str | None) -> Entry:
    """The active entry code names for the device category, else a 422 naming the field."""
    entry = next((e for e in view(session, device_category) if e.code == (code or "").strip()), None)
    if entry is None:
        if not (code or "").strip():
            raise Invalid("choose the fault category", [{"field": "fault_category", "message": "required"}])
        raise Invalid("choose a fault category from the list",
                      [{"field": "fault_category", "message": f"unknown category {code}"}])
    return entry


# --- suggestions --------------------------------------------------------------------------------------------------

def _names(entry: Entry) -> list[str]:
    """The parts of an entry's names that are words of their own ("光学 / 光源" → 光学, 光源)."""
    parts = [part.strip() for name in (entry.name_zh, entry.name_en)
             for part in re.split(r"[/／、,，;；()（）]|\s+and\s+|与|和|及", name)]
    return list(dict.fromkeys(p for p in parts if len(p) >= 2))


def _hits(text: str, words: Iterable[str]) -> list[str]:
    lowered = text.lower()
    hits = []
    for word in words:
        needle = word.lower()
        if needle.isascii():
            if re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", lowered):
                hits.append(word)
        elif needle in lowered:
            hits.append(word)
    return hits


def match_text(session: Session, text: str | None, device_category: str | None) -> tuple[str, str] | None:
    """(code, the word that matched) of the active category the text speaks of most, None when no word matches.

    An entry's own name weighs twice a built-in keyword, and a word that names one entry counts for no other: an
    admin who adds "比色杯" means cuvettes to be filed there, no longer under optics. Ties go to the longer words
    matched, then to the admins' order; 'other' is never matched by words.
    """
    if not text or not text.strip():
        return None
    entries = [e for e in view(session, device_category) if e.code != OTHER]
    names = {e.id: {n.lower() for n in _names(e)} for e in entries}
    named = set().union(*names.values()) if names else set()
    best: tuple[int, int, int, str, str] | None = None
    for index, entry in enumerate(entries):
        score, counted = 0, []
        for word in _hits(text, dict.fromkeys([*KEYWORDS.get(entry.code, ()), *_names(entry)])):
            if word.lower() in names[entry.id]:
                score += 2
            elif word.lower() in named:
                continue  # another entry's name
            else:
                score += 1
            counted.append(word)
        if not counted:
            continue
        rank = (score, sum(len(w) for w in counted), -index, entry.code, max(counted, key=len))
        if best is None or rank[:3] > best[:3]:
            best = rank
    return (best[3], best[4]) if best else None


def metric_category(metric: str) -> str | None:
    """The category an alert's metric points at (reaction_disk_temp → temperature_control), if any."""
    family = family_of(metric)
    if family in FAMILY_CATEGORY:
        return FAMILY_CATEGORY[family]
    name = metric.lower()
    return next((code for word, code in METRIC_WORDS if word in name), None)


def _kb_entry_text(session: Session, ticket: Any) -> tuple[str, str] | None:
    """(the KB entry's question, its words) the bot answered this ticket's reporter with, newest first."""
    from cloud.kb.models import BotAsk, KbEntry

    ids: list[int] = []
    keys: list[str] = []
    if ticket.ask_ids:
        asks = session.execute(select(BotAsk).where(BotAsk.id.in_(ticket.ask_ids)).order_by(BotAsk.id.desc()))
        for ask in asks.scalars():
            # The entry an agent marked as the right one wins over the one the bot picked.
            ids.extend(i for i in (ask.resolved_entry_id, ask.entry_id) if i is not None)
    for turn in reversed(ticket.conversation or []):
        entry_id = turn.get("entry_id") if isinstance(turn, dict) else None
        if isinstance(entry_id, int) or (isinstance(entry_id, str) and entry_id.isdigit()):
            ids.append(int(entry_id))
        elif isinstance(entry_id, str) and entry_id:
            keys.append(entry_id)
    entries: list[KbEntry] = []
    if ids:
        found = {e.id: e for e in session.execute(select(KbEntry).where(KbEntry.id.in_(ids))).scalars()}
        entries.extend(found[i] for i in dict.fromkeys(ids) if i in found)
    if keys:
        found_keys = {e.key: e for e in session.execute(select(KbEntry).where(KbEntry.key.in_(keys))).scalars()}
        entries.extend(found_keys[k] for k in dict.fromkeys(keys) if k in found_keys)
    if not entries:
        return None
    return entries[0].question, " ".join([entries[0].question, *(entries[0].variants or [])])


def _predictive(session: Session, ticket: Any) -> Suggestion | None:
    """A predictive ticket's category from its pre-check: its outcome, else its alerts' metrics.

    The pre-check holds the first alert's metric and each later alert's checks with their metric (its rows are
    the tickets package's own), so the alerts package, which builds on this one, is not asked."""
    task = session.execute(select(PrecheckTask).where(PrecheckTask.ticket_id == ticket.id)).scalar()
    if task is None:
        return None
    if task.outcome == PrecheckOutcome.false_alarm:
        return Suggestion(NO_FAULT, "precheck", task.outcome.value)
    metrics = [task.metric, *(item.metric for item in sorted(task.items, key=lambda item: item.position))]
    for metric in dict.fromkeys(metrics):
        code = metric_category(metric)
        if code is not None:
            return Suggestion(code, "alert", metric)
    return None


def _report_text(session: Session, ticket: Any) -> str:
    """The reporter's words: the description, their turns of the bot conversation, what they added later."""
    from cloud.audit.models import AuditLog

    parts = [ticket.description or ""]
    parts += [turn.get("text", "") for turn in ticket.conversation or []
              if isinstance(turn, dict) and turn.get("who") == "user"]
    added = session.execute(select(AuditLog.after).where(
        AuditLog.entity == "ticket", AuditLog.entity_id == ticket.id, AuditLog.action == "add_info")).scalars()
    parts += [str((after or {}).get("text") or "") for after in added]
    return "\n".join(p for p in parts if p)


def suggest(session: Session, ticket: Any, *, text: str | None = None) -> Suggestion | None:
    """The category to preselect for resolving ticket (see the module's description for the order)."""
    category = ticket.device.category if ticket.device is not None else None
    active = {e.code for e in view(session, category)}
    for found in _candidates(session, ticket, text, category):
        if found is not None and found.code in active:
            return found
    return None


def _candidates(session: Session, ticket: Any, text: str | None, category: str | None,
                ) -> Iterator[Suggestion | None]:
    """The sources best first, lazily: the later ones query more and run only when the earlier found nothing."""
    typed = match_text(session, text, category)
    yield Suggestion(typed[0], "findings", typed[1]) if typed else None
    if _is_predictive(ticket):
        yield _predictive(session, ticket)
    if ticket.fault_category:
        yield Suggestion(ticket.fault_category, "previous", "")
    yield _from_kb(session, ticket, category)
    reported = match_text(session, _report_text(session, ticket), category)
    yield Suggestion(reported[0], "text", reported[1]) if reported else None


def _is_predictive(ticket: Any) -> bool:
    return str(getattr(ticket.source, "value", ticket.source)) == "predictive"


def _from_kb(session: Session, ticket: Any, category: str | None) -> Suggestion | None:
    found = _kb_entry_text(session, ticket)
    if found is None:
        return None
    question, words = found
    matched = match_text(session, words, category)
    return Suggestion(matched[0], "kb", question) if matched else None


def source_label(suggestion: Suggestion, language: str = DEFAULT_LANGUAGE) -> str:
    """Where the suggestion came from, in words: 来自报修描述中的“温度”, 来自告警指标：反应盘温度, …"""
    from cloud.telemetry.catalog import metric_label

    detail = suggestion.detail
    if suggestion.source == "alert":
        detail = metric_label(detail, language)
    elif suggestion.source == "precheck":
        detail = translate(f"precheck.{detail}", language)
    return translate(SOURCES[suggestion.source], language).replace("{detail}", detail)


def suggestion_out(session: Session, ticket: Any, suggestion: Suggestion | None,
                   language: str = DEFAULT_LANGUAGE) -> dict[str, Any] | None:
    """A suggestion as the API answers it: the code, its name and its source in the language."""
    if suggestion is None:
        return None
    category = ticket.device.category if ticket.device is not None else None
    return {"code": suggestion.code, "name": fault_label(session, suggestion.code, category, language),
            "source": suggestion.source, "detail": suggestion.detail,
            "source_label": source_label(suggestion, language)}


# --- the managed list (admin) -------------------------------------------------------------------------------------

def _snapshot(row: FaultCategory) -> dict[str, Any]:
    return {"device_category": row.device_category, "code": row.code, "name_zh": row.name_zh,
            "name_en": row.name_en, "basic": row.basic, "position": row.position, "active": row.active}


def get(session: Session, category_id: int) -> FaultCategory:
    """One entry, else NotFound."""
    row = session.get(FaultCategory, category_id)
    if row is None:
        raise NotFound(f"fault category {category_id} not found")
    return row


def _clean_names(name_zh: str, name_en: str) -> tuple[str, str]:
    zh, en = (name_zh or "").strip(), (name_en or "").strip()
    if not zh:
        raise Invalid("give the Chinese name", [{"field": "name_zh", "message": "required"}])
    for field, value in (("name_zh", zh), ("name_en", en)):
        if len(value) > 100:
            raise Invalid("a name is up to 100 characters", [{"field": field, "message": "too long"}])
    return zh, en


def _clash(session: Session, device_category: str | None, name_zh: str, name_en: str,
           exclude: int | None = None) -> None:
    """A name may appear once in any list a device sees (inactive entries included: they still label tickets)."""
    if device_category is None:
        lists: list[str | None] = [None, *{e.device_category for e in _entries(session) if e.device_category}]
    else:
        lists = [device_category]
    for listed in lists:
        for entry in view(session, listed, include_inactive=True):
            if entry.id == exclude:
                continue
            if entry.name_zh.casefold() == name_zh.casefold():
                raise Conflict("a fault category with this name exists already", field="name_zh")
            if name_en and entry.name_en.casefold() == name_en.casefold():
                raise Conflict("a fault category with this English name exists already", field="name_en")


def _new_code(session: Session, name_en: str) -> str:
    """A stable code from the English name (lamp_housing), unique among every entry, so it overrides nothing."""
    base = re.sub(r"[^a-z0-9]+", "_", name_en.lower()).strip("_")[:40] or "category"
    taken = {e.code for e in _entries(session)}
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


def create(session: Session, *, device_category: str | None, name_zh: str, name_en: str = "", basic: bool = False,
           actor: Actor) -> FaultCategory:
    """Add an entry at the end of the list, for one device category or (None) for every one; audited."""
    zh, en = _clean_names(name_zh, name_en)
    _clash(session, device_category, zh, en)
    position = (session.execute(select(func.max(FaultCategory.position))).scalar() or 0) + 1
    row = FaultCategory(device_category=device_category, code=_new_code(session, en), name_zh=zh, name_en=en,
                        basic=basic, position=position, active=True)
    session.add(row)
    session.flush()
    forget(session)
    record(session, actor=actor, action="create", entity="fault_category", entity_id=row.id, after=_snapshot(row))
    return row


def update(session: Session, *, category_id: int, name_zh: str, name_en: str, basic: bool, actor: Actor,
           ) -> FaultCategory:
    """Rename an entry (tickets keep its code, so they show the new name) and set whether it is a basic fault."""
    row = get(session, category_id)
    zh, en = _clean_names(name_zh, name_en)
    _clash(session, row.device_category, zh, en, exclude=row.id)
    before = _snapshot(row)
    row.name_zh, row.name_en, row.basic = zh, en, basic
    session.flush()
    forget(session)
    record(session, actor=actor, action="update", entity="fault_category", entity_id=row.id, before=before,
           after=_snapshot(row))
    return row


def set_active(session: Session, *, category_id: int, active: bool, actor: Actor) -> FaultCategory:
    """Deactivate (no longer offered; old tickets keep their name) or reactivate an entry."""
    row = get(session, category_id)
    if row.active == active:
        return row
    if not active and row.device_category is None and \
            [e.id for e in view(session, None)] == [row.id]:
        raise Conflict("keep at least one active fault category")
    before = _snapshot(row)
    row.active = active
    session.flush()
    forget(session)
    record(session, actor=actor, action="activate" if active else "deactivate", entity="fault_category",
           entity_id=row.id, before=before, after=_snapshot(row))
    return row


def move(session: Session, *, category_id: int, direction: int, device_category: str | None, actor: Actor,
         ) -> FaultCategory:
    """Move an entry one place up (-1) or down (+1) in the list device_category sees; the rest keep their order."""
    row = get(session, category_id)
    shown = [e.id for e in view(session, device_category, include_inactive=True)]
    if row.id not in shown:
        raise NotFound(f"fault category {category_id} is not in this list")
    index = shown.index(row.id)
    target = index + (1 if direction > 0 else -1)
    if not 0 <= target < len(shown):
        return row  # already first or last
    neighbour = shown[target]
    order = [e.id for e in _entries(session)]
    order.remove(row.id)
    at = order.index(neighbour)
    order.insert(at + 1 if direction > 0 else at, row.id)
    rows = {r.id: r for r in session.execute(select(FaultCategory)).scalars()}
    before = row.position
    for position, entry_id in enumerate(order):
        if rows[entry_id].position != position:
            rows[entry_id].position = position
    session.flush()
    forget(session)
    record(session, actor=actor, action="move", entity="fault_category", entity_id=row.id,
           before={"position": before}, after={"position": row.position, "list": device_category})
    return row


def usage(session: Session) -> dict[tuple[str | None, str], int]:
    """How many tickets carry each code, by the device category of their device: {(device category, code): n}."""
    from cloud.registry.models import Device

    rows = session.execute(select(Device.category, Ticket.fault_category, func.count())
                           .select_from(Ticket).outerjoin(Device, Device.id == Ticket.device_id)
                           .where(Ticket.fault_category.is_not(None))
                           .group_by(Device.category, Ticket.fault_category)).all()
    # Device.category is NULL for a whole-group ticket (outer join); codes are never NULL here (the WHERE).
    return {(category, str(code)): int(n) for category, code, n in rows}

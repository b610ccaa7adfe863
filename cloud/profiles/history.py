"""Generated service history: a fleet's faults, reports, predictive alerts and how each case ended.

Used twice: the demo seeds a year of it (cloud/profiles/demo_history.py), and bench/onsite_predictor.py measures
the basic/advanced predictor on it. The rules that decide how a case ends live only here and are never shown to
the predictor (models/maintenance/onsite.py sees a report's text and device, as in real life): a hidden
per-hospital effect (how far the engineers travel, how skilled the lab is), hidden "bad patches" in which a
device degrades, an age x mechanism interaction, severity carried by wording, and noise. So the predictor's
accuracy on held-back history is an honest measure, not a replay of its own assumptions.

Pure and deterministic: the same fleet, period and seed give the same history.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

# Faults per device and 30 days, by device category, for a well-kept device of four years or less.
BASE_RATE = {"chemistry": 0.75, "immunoassay": 0.6, "hematology": 0.55, "automation": 0.6, "coagulation": 0.4,
             "poct": 0.25, "molecular": 0.25, "blood_gas": 0.45, "urinalysis": 0.5, "microbiology": 0.35,
             "other": 0.3}

# How faults of a device category split over the fault taxonomy (weights).
CATEGORY_MIX: dict[str, dict[str, float]] = {
    "chemistry": {"temperature_control": 3, "optics_lamp": 3, "sample_probe": 3, "reagent_fluidics": 4, "ise": 3,
                  "mechanical": 2, "communication_software": 2, "operator_error": 2, "other": 1},
    "immunoassay": {"temperature_control": 3, "optics_lamp": 2, "sample_probe": 3, "reagent_fluidics": 4,
                    "mechanical": 2, "communication_software": 2, "operator_error": 2, "other": 1},
    "hematology": {"temperature_control": 1, "optics_lamp": 2, "sample_probe": 4, "reagent_fluidics": 5,
                   "mechanical": 2, "communication_software": 2, "operator_error": 3, "other": 1},
    "automation": {"mechanical": 6, "communication_software": 4, "sample_probe": 1, "operator_error": 2, "other": 1},
    "blood_gas": {"ise": 5, "reagent_fluidics": 3, "temperature_control": 1, "communication_software": 1,
                  "operator_error": 3, "other": 1},
}
DEFAULT_MIX = {"temperature_control": 2, "optics_lamp": 2, "sample_probe": 2, "reagent_fluidics": 3, "mechanical": 2,
               "communication_software": 2, "operator_error": 3, "other": 1}
# Models with a known weak spot (hidden: a model's quirk the predictor can only learn from its outcomes).
MODEL_QUIRKS = {"au5800": "ise", "cobas c 111": "optics_lamp", "pentra xlr": "sample_probe",
                "cobas 8100": "mechanical", "architect i2000sr": "temperature_control"}

# Hidden: how strongly each kind of fault calls for an engineer on site (log-odds).
ONSITE_BASE = {"mechanical": 1.5, "optics_lamp": 0.9, "temperature_control": 0.35, "sample_probe": 0.25,
               "ise": 0.1, "other": -0.3, "reagent_fluidics": -1.0, "communication_software": -1.3,
               "operator_error": -2.6}
# Of the cases solved without an engineer, the share the reporter solved alone (knowledge base, bot).
SELF_SERVE = {"operator_error": 0.6, "reagent_fluidics": 0.35, "communication_software": 0.25}

# The metric an IoT alert shows a fault on, by fault kind (faults without one are never caught early).
ALERT_METRICS = {"temperature_control": ("reaction_disk_temp", "incubator_temp", "reagent_fridge_temp"),
                 "optics_lamp": ("lamp_intensity", "cuvette_blank"),
                 "reagent_fluidics": ("wash_pressure", "vacuum", "water_conductivity"),
                 "sample_probe": ("pressure_offset",)}

# (text, severe): what reporters write, by fault kind; {model} and {code} are filled in. "Severe" wording
# carries hidden weight towards an on-site visit, beyond what the kind of fault says.
TEXTS: dict[str, tuple[tuple[str, bool], ...]] = {
    "temperature_control": (
        ("{model} 反应盘温度报警 {code}，无法开始测试", False), ("孵育温度偏高，结果漂移，报警 {code}", False),
        ("试剂仓温度异常，制冷不工作，试剂可能失效", True), ("温控报警反复出现，重启后仍然报警", True),
        ("{model} 提示温度超出范围", False)),
    "optics_lamp": (
        ("{model} 光度计灯能量低，质控超出 2SD", False), ("光源报警 {code}，空白吸光度异常", False),
        ("灯泡不亮，完全无法检测", True), ("比色杯空白值偏高，结果不稳定", False)),
    "sample_probe": (
        ("样本针堵塞报警 {code}，已清洗仍报警", False), ("加样针撞针，针头弯曲", True),
        ("液面检测失败，样本吸不上", False), ("{model} 加样量不准，重复性差", False)),
    "reagent_fluidics": (
        ("试剂余量检测异常，提示更换试剂", False), ("清洗液压力低报警 {code}", False),
        ("管路漏液，机器底部有积液", True), ("气泡报警，灌注后仍有气泡", False), ("纯水电导率偏高", False)),
    "ise": (
        ("ISE 模块电极漂移，钾离子结果偏高 {code}", False), ("电极斜率不合格，定标失败", False),
        ("ISE 定标反复失败，已更换标准液", True), ("钠钾氯结果异常，质控失控", False)),
    "mechanical": (
        ("{model} 机械臂异响，运行中停机 {code}", True), ("传送带卡样本架，轨道报警", False),
        ("搅拌杆不转，报机械错误 {code}", False), ("开机自检机械初始化失败，无法开机", True)),
    "communication_software": (
        ("LIS 传输失败，结果传不到系统", False), ("软件卡死，重启后正常一段时间又卡", False),
        ("与流水线通讯中断 {code}", False), ("打印和上传结果都失败", False)),
    "operator_error": (
        ("请问质控怎么做，新来的同事不会操作", False), ("样本条码扫不上，是不是放错了", False),
        ("忘记做日保养，现在提示维护", False), ("试剂装反了，怎么处理", False)),
    "other": (
        ("{model} 有报警，不清楚原因", False), ("机器显示错误 {code}", False), ("仪器外壳松动，有异味", True)),
}
ROOT_CAUSES = {
    "temperature_control": ("散热风扇积尘，散热不良", "温控传感器老化", "半导体制冷片失效"),
    "optics_lamp": ("光源灯老化，能量下降", "比色杯污染", "滤光片积尘"),
    "sample_probe": ("加样针内壁蛋白沉积堵塞", "液面感应板接触不良", "加样针碰撞变形"),
    "reagent_fluidics": ("管路接头老化漏液", "清洗液泵膜片磨损", "试剂瓶位放置错误"),
    "ise": ("电极使用寿命到期", "参比电极污染", "ISE 管路气泡"),
    "mechanical": ("机械臂导轨缺润滑", "驱动皮带磨损", "步进电机故障"),
    "communication_software": ("网线松动", "LIS 接口程序异常", "软件缓存过大"),
    "operator_error": ("操作不规范", "未按要求做日保养", "试剂装载错误"),
    "other": ("外壳螺丝松动", "电源插座接触不良", "原因不明，复位后恢复"),
}
PARTS = {
    "temperature_control": (("散热风扇", "FAN-12V"), ("温度传感器", "TS-PT100")),
    "optics_lamp": (("卤素灯", "LAMP-12V20W"), ("比色杯组", "CUV-SET")),
    "sample_probe": (("加样针", "PRB-STD"),),
    "reagent_fluidics": (("管路接头", "TUBE-FIT"), ("泵膜片", "PMP-DIA")),
    "ise": (("钾电极", "ISE-K"), ("参比电极", "ISE-REF")),
    "mechanical": (("驱动皮带", "BLT-300"), ("步进电机", "MTR-STP")),
}
COMMENTS = ("工程师很专业", "响应很快", "处理及时", "希望下次更快一些", "讲解很清楚", "")


@dataclass(frozen=True)
class FleetDevice:
    """A device the history is generated for; `condition` (0-100) is how well it is kept, a hidden driver."""

    id: int
    hospital_id: int
    category: str
    model: str
    manufacturer: str = ""
    install_date: date | None = None
    condition: int = 85
    connected: bool = False  # sends run data, so faults can be caught early by an alert


@dataclass
class HistoryCase:
    """One ticket of the history, as it happened and ended (times in UTC)."""

    device_id: int
    hospital_id: int
    created_at: datetime
    source: str  # web / wechat / predictive
    urgency: str
    description: str
    fault_category: str | None  # None: a predictive false alarm (no fault)
    tier: str  # basic / remote / on_site
    first_responded_at: datetime
    resolved_at: datetime
    closed_at: datetime
    auto_closed: bool
    reopen_count: int = 0
    reopened_at: datetime | None = None
    root_cause: str | None = None
    parts: list[dict[str, object]] = field(default_factory=list)
    findings: str = ""
    alert_metric: str | None = None
    alert_score: float | None = None
    precheck_outcome: str | None = None  # fault_confirmed / fixed / false_alarm (predictive tickets)
    rating: tuple[int, int, int, int] | None = None  # overall, speed, attitude, skill
    rating_comment: str = ""
    rated_at: datetime | None = None


def _age_years(device: FleetDevice, moment: datetime) -> float:
    if device.install_date is None:
        return 4.0
    return max(0.0, (moment.date() - device.install_date).days / 365.25)


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


class _Generator:
    def __init__(self, fleet: Sequence[FleetDevice], start: datetime, end: datetime, seed: int) -> None:
        self.fleet = list(fleet)
        self.start, self.end = start, end
        self.rng = random.Random(seed)
        hospitals = sorted({d.hospital_id for d in self.fleet})
        # Hidden per hospital: far from the service base or a lab that fixes little itself -> more visits.
        self.hospital_effect = {h: self.rng.gauss(0.0, 0.6) for h in hospitals}
        self.cases: list[HistoryCase] = []

    def run(self) -> list[HistoryCase]:
        # Days run from local (Shanghai) midnight, so a day's lab hours fall on that day.
        first = self.start.replace(hour=16, minute=0, second=0, microsecond=0)
        self.start = first if first >= self.start else first + timedelta(days=1)
        for device in self.fleet:
            self._device_history(device)
        self.cases.sort(key=lambda c: (c.created_at, c.device_id))
        return self.cases

    def _rate(self, device: FleetDevice, moment: datetime, patch: bool) -> float:
        """Faults per day of this device at this moment (hidden)."""
        base = BASE_RATE.get(device.category, 0.35) / 30
        condition = (130 - device.condition) / 50
        age = 1 + 0.07 * max(0.0, _age_years(device, moment) - 4)
        return base * condition * age * (2.6 if patch else 1.0)

    def _device_history(self, device: FleetDevice) -> None:
        rng = self.rng
        day = self.start
        patch_until: datetime | None = None
        patch_kind: str | None = None
        mix = dict(CATEGORY_MIX.get(device.category, DEFAULT_MIX))
        quirk = MODEL_QUIRKS.get(device.model.lower())
        if quirk:
            mix[quirk] = mix.get(quirk, 0) + 4
        while day < self.end:
            if device.install_date and day.date() < device.install_date:
                day += timedelta(days=1)
                continue
            if patch_until is None and rng.random() < 0.08 / 30 * (1.6 - device.condition / 100):
                patch_until = day + timedelta(days=rng.randint(30, 75))  # a bad patch: the device degrades
                patch_kind = _pick(rng, mix)
            patch = patch_until is not None and day < patch_until
            if patch_until is not None and day >= patch_until:
                patch_until, patch_kind = None, None
            summer = day.month in (6, 7, 8)  # hot months: more temperature faults
            if rng.random() < self._rate(device, day, patch) * (1.15 if summer else 1.0):
                weights = {**mix, "temperature_control": mix.get("temperature_control", 0) * 2} if summer else mix
                kind = patch_kind if patch and patch_kind and rng.random() < 0.6 else _pick(rng, weights)
                self._fault(device, day, kind, patch)
            if device.connected and rng.random() < 0.25 / 30 * (1.3 - device.condition / 100):
                self._false_alarm(device, day)
            day += timedelta(days=1)

    def _moment(self, day: datetime) -> datetime:
        # Mostly lab hours in Shanghai (UTC+8), kept in UTC; day is the local date's midnight expressed in UTC.
        local_hour = self.rng.choices(range(24), weights=[1, 1, 1, 1, 1, 1, 2, 6, 10, 10, 9, 8, 6, 8, 9, 9, 8, 6,
                                                             4, 3, 3, 2, 1, 1])[0]
        return day + timedelta(hours=local_hour, minutes=self.rng.randint(0, 59), seconds=self.rng.randint(0, 59))

    def _fault(self, device: FleetDevice, day: datetime, kind: str, patch: bool) -> None:
        rng = self.rng
        created = self._moment(day)
        if created >= self.end:
            return
        metrics = ALERT_METRICS.get(kind)
        caught = device.connected and metrics is not None and rng.random() < 0.45
        urgency = rng.choices(("low", "normal", "high", "critical"), weights=(1, 5, 3, 1))[0]
        age = _age_years(device, created)
        if caught:
            assert metrics is not None
            metric = rng.choice(metrics)
            # Caught early: the engineer checks on site about half the time, else the desk fixes it remotely.
            onsite = rng.random() < _sigmoid(ONSITE_BASE[kind] - 0.6 + self.hospital_effect[device.hospital_id])
            outcome = "fault_confirmed" if onsite else "fixed"
            text = f"预测性告警：{metric} 偏离正常（评分 {rng.uniform(0.55, 1.4):.2f}）。"
            self._add(device, created, "predictive", "high", text, kind, "on_site" if onsite else "remote", age,
                      alert_metric=metric, outcome=outcome)
            return
        template, severe = rng.choice(TEXTS[kind])
        code = f"E-{rng.randint(10, 4999)}" if rng.random() < 0.7 else ""
        text = template.format(model=device.model, code=code).replace("  ", " ").strip(" ，")
        logit = (ONSITE_BASE[kind] + 0.12 * (age - 6) + self.hospital_effect[device.hospital_id]
                 + (0.9 if severe else 0.0) + (0.4 if urgency == "critical" else 0.0) + (0.7 if patch else 0.0)
                 + (0.8 if kind == "mechanical" and age > 8 else 0.0) + rng.gauss(0.0, 0.7))
        if rng.random() < _sigmoid(logit):
            tier = "on_site"
        else:
            tier = "basic" if rng.random() < SELF_SERVE.get(kind, 0.08) else "remote"
        self._add(device, created, rng.choice(("wechat", "web")), urgency, text, kind, tier, age)

    def _false_alarm(self, device: FleetDevice, day: datetime) -> None:
        created = self._moment(day)
        if created >= self.end:
            return
        kind = self.rng.choice(tuple(ALERT_METRICS))
        metric = self.rng.choice(ALERT_METRICS[kind])
        text = f"预测性告警：{metric} 偏离正常（评分 {self.rng.uniform(0.5, 0.9):.2f}）。"
        tier = "on_site" if self.rng.random() < 0.25 else "remote"
        self._add(device, created, "predictive", "normal", text, None, tier, _age_years(device, created),
                  alert_metric=metric, outcome="false_alarm")

    def _add(self, device: FleetDevice, created: datetime, source: str, urgency: str, text: str, kind: str | None,
             tier: str, age: float, *, alert_metric: str | None = None, outcome: str | None = None) -> None:
        rng = self.rng
        respond = created + timedelta(minutes=rng.lognormvariate(math.log(5 if source == "predictive" else 12), 0.6))
        median_hours = {"basic": 0.5, "remote": 3.0, "on_site": 18.0}[tier]
        if kind == "mechanical" or age > 9:
            median_hours *= 1.5
        resolved = respond + timedelta(hours=rng.lognormvariate(math.log(median_hours), 0.7))
        reopen = 0
        reopened_at = None
        if kind is not None and rng.random() < {"basic": 0.15, "remote": 0.12, "on_site": 0.07}[tier]:
            reopen = 1
            reopened_at = resolved + timedelta(hours=rng.uniform(2, 30))
            resolved = reopened_at + timedelta(hours=rng.lognormvariate(math.log(median_hours), 0.6))
        auto = rng.random() < 0.2
        closed = resolved + (timedelta(hours=72) if auto else timedelta(hours=rng.lognormvariate(math.log(5), 0.8)))
        if closed >= self.end:
            return  # the history ends with every case closed; newer cases are the live demo's
        case = HistoryCase(device_id=device.id, hospital_id=device.hospital_id, created_at=created, source=source,
                           urgency=urgency, description=text, fault_category=kind, tier=tier,
                           first_responded_at=respond, resolved_at=resolved, closed_at=closed, auto_closed=auto,
                           reopen_count=reopen, reopened_at=reopened_at, alert_metric=alert_metric,
                           alert_score=rng.uniform(0.5, 1.4) if alert_metric else None, precheck_outcome=outcome)
        if kind is not None:
            case.root_cause = rng.choice(ROOT_CAUSES[kind])
            if tier == "on_site" and kind in PARTS and rng.random() < 0.6:
                name, part_no = rng.choice(PARTS[kind])
                case.parts = [{"name": name, "part_no": part_no, "qty": 1}]
            case.findings = f"{case.root_cause}；已处理，复测正常。"
        else:
            case.findings = "预检确认为误报：读数与仪器自身显示一致，未发现故障。"
        if source != "predictive" and not auto and rng.random() < 0.75:
            hours = (resolved - created).total_seconds() / 3600
            slow = 1 if hours > 24 else 0
            overall = max(1, min(5, round(rng.gauss(4.6 - slow - 0.6 * reopen, 0.6))))
            case.rating = (overall, max(1, min(5, overall - slow + rng.choice((0, 0, 1, -1))))
                           , max(1, min(5, overall + rng.choice((0, 0, 1)))), max(1, min(5, overall)))
            case.rating_comment = rng.choice(COMMENTS)
            case.rated_at = closed + timedelta(minutes=rng.randint(5, 600))
            if case.rated_at >= self.end:
                case.rating, case.rated_at, case.rating_comment = None, None, ""
        self.cases.append(case)


def generate(fleet: Sequence[FleetDevice], *, start: datetime, end: datetime, seed: int = 11) -> list[HistoryCase]:
    """Every case of the fleet between start and end (UTC), oldest first; only cases closed before end."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware (UTC) datetimes")
    return _Generator(fleet, start.astimezone(UTC), end.astimezone(UTC), seed).run()

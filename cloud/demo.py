"""Demo data: two Shanghai hospitals, their labs' analyzers, two device groups and one account per role."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.auth.models import Role, User
from cloud.auth.service import create_user
from cloud.kb.demo import seed_demo_kb, seed_demo_manual
from cloud.profiles.demo_history import seed_history
from cloud.profiles.predictor import store_estimate
from cloud.profiles.service import refresh_all
from cloud.registry import groups, service
from cloud.registry.models import Device, DeviceStatus, Hospital
from cloud.registry.schemas import DeviceIn, GroupCreate, HospitalIn
from cloud.servicegroups.demo import seed_service_groups
from cloud.tickets.models import Ticket

DEMO_PASSWORD = "medfix-demo"
DEMO_ACTOR = Actor.system("demo-seed")

HOSPITALS = [
    HospitalIn(name="上海交通大学医学院附属瑞金医院", aliases=["瑞金医院", "Ruijin Hospital"],
               address="上海市黄浦区瑞金二路197号", latitude=31.2117, longitude=121.4677, geofence_radius_m=800,
               hotline="400-820-1234"),
    HospitalIn(name="复旦大学附属中山医院", aliases=["中山医院", "Zhongshan Hospital"],
               address="上海市徐汇区枫林路180号", latitude=31.2007, longitude=121.4530, geofence_radius_m=800,
               hotline="021-64041990"),
]
# Known codes for the demo's walkthroughs (tests/e2e); real hospitals get random, expiring ones from the admin.
DEMO_INVITE_CODES = ["RJ-2026", "ZS-2026"]
DEPARTMENTS = {0: ["检验科", "急诊检验", "临床分子诊断中心"], 1: ["检验科", "急诊检验"]}

# (hospital index, department, manufacturer, model, category, serial, installed, key device, status, score)
DEVICES = [
    (0, "检验科", "Roche", "cobas c 702", "chemistry", "C702-1834-07", date(2019, 5, 12), True, "in_service", 92),
    (0, "检验科", "Roche", "cobas c 502", "chemistry", "C502-2201-33", date(2019, 5, 12), False, "in_service", 88),
    (0, "检验科", "Roche", "cobas e 801", "immunoassay", "E801-0943-12", date(2020, 3, 2), True, "under_repair", 71),
    (0, "检验科", "Roche", "cobas 8100", "automation", "8100-0311-02", date(2019, 5, 10), True, "in_service", 95),
    (0, "检验科", "Sysmex", "XN-1000", "hematology", "XN1-26881", date(2021, 8, 20), False, "in_service", 90),
    (0, "检验科", "Sysmex", "CS-5100", "coagulation", "CS51-10482", date(2022, 1, 15), False, "in_service", 86),
    (0, "检验科", "Beckman Coulter", "AU5800", "chemistry", "AU58-2019-4471", date(2018, 11, 3), False, "fault", 54),
    (0, "急诊检验", "Roche", "cobas c 311", "chemistry", "C311-1288-90", date(2017, 6, 30), False, "in_service", 77),
    (0, "急诊检验", "Siemens Healthineers", "DCA Vantage", "poct", "DCAV-318812", date(2020, 9, 9), False,
     "in_service", 93),
    (0, "临床分子诊断中心", "Cepheid", "GeneXpert IV", "molecular", "GX4-808125", date(2021, 2, 18), True,
     "in_service", 97),
    (0, "急诊检验", "Roche", "cobas c 111", "chemistry", "C111-41077", date(2016, 4, 1), False, "in_service", 68),
    (1, "检验科", "Sysmex", "XN-550", "hematology", "XN55-14330", date(2020, 7, 7), False, "in_service", 91),
    (1, "检验科", "Sysmex", "XN-10 (B4)", "hematology", "XN10-22014", date(2021, 10, 11), True, "in_service", 89),
    (1, "检验科", "Sysmex", "XN-10 (B4)", "hematology", "XN10-22015", date(2021, 10, 11), False, "in_service", 87),
    (1, "检验科", "Sysmex", "SP-50", "hematology", "SP50-3021", date(2021, 10, 11), False, "in_service", 84),
    (1, "检验科", "Abbott", "ARCHITECT i2000SR", "immunoassay", "ISR-55012", date(2018, 3, 28), False,
     "in_service", 74),
    (1, "检验科", "Mindray", "BS-2000M", "chemistry", "BS2K-MR-8810", date(2022, 6, 6), False, "in_service", 94),
    (1, "急诊检验", "Horiba", "Pentra XLR", "hematology", "PXLR-71023", date(2016, 12, 12), False, "fault", 58),
    (1, "急诊检验", "Radiometer", "ABL90 FLEX PLUS", "blood_gas", "ABL90-75410", date(2023, 2, 1), False,
     "in_service", 98),
    (1, "检验科", "Bio-Rad", "D-100", "other", "D100-2207", date(2022, 9, 19), False, "in_service", 90),
]

GROUPS = [
    (0, "cobas 8000 生化免疫流水线", "Roche cobas 8000", ["cobas c 702", "cobas c 502", "cobas e 801", "cobas 8100"],
     ["C702-1834-07", "C502-2201-33", "E801-0943-12", "8100-0311-02"]),
    (1, "XN-9000 血液流水线", "Sysmex XN-9000", ["XN-10 (B4)", "SP-50"], ["XN10-22014", "XN10-22015", "SP50-3021"]),
]

# Devices the demo gateway reads (cloud/demo_run.py): in their history, alerts caught some faults early. The
# AU5800 (MF-000007) is left out: its first alert is the one `make run` shows live, a few minutes in.
CONNECTED = frozenset({"MF-000001", "MF-000005", "MF-000008", "MF-000010"})

# (username, role, full name); lab users belong to the first hospital.
DEMO_USERS = [
    ("admin", "admin", "系统管理员"),
    ("agent", "agent", "王坐席"),
    ("center", "service_center", "远程服务中心 李工"),
    ("engineer", "engineer", "张工程师"),
    ("labuser", "lab_user", "瑞金检验科 陈老师"),
]


def seed(session: Session, *, data_dir: Path | None = None) -> bool:
    """Load the demo data into an empty database; returns False (and changes nothing) otherwise.

    With data_dir the demo manual (a PDF) is stored there too, and the bot's answers cite its sections.
    """
    if session.execute(select(func.count(Hospital.id))).scalar_one():
        return False
    hospitals = [service.create_hospital(session, data=h, actor=DEMO_ACTOR) for h in HOSPITALS]
    for hospital, code in zip(hospitals, DEMO_INVITE_CODES, strict=True):
        hospital.invite_code = code
    departments = {}
    for index, names in DEPARTMENTS.items():
        for name in names:
            departments[(index, name)] = service.create_department(
                session, hospital_id=hospitals[index].id, name=name, actor=DEMO_ACTOR)
    by_serial = {}
    for h, dept, maker, model, category, serial, installed, key, status, score in DEVICES:
        device = service.create_device(session, actor=DEMO_ACTOR, data=DeviceIn(
            serial=serial, manufacturer=maker, model=model, category=category, hospital_id=hospitals[h].id,
            department_id=departments[(h, dept)].id, install_date=installed,
            warranty_end=date(installed.year + 5, installed.month, 1), keywords=[model.split()[0], category],
            status=DeviceStatus(status), maintenance_score=score, is_key=key,
        ))
        by_serial[serial] = device
    for h, name, line, models, serials in GROUPS:
        groups.create_group(session, actor=DEMO_ACTOR, data=GroupCreate(
            name=name, line=line, compatible_models=models, device_ids=[by_serial[s].id for s in serials],
            department_id=departments[(h, "检验科")].id,
        ))
    users = {}
    for username, role, full_name in DEMO_USERS:
        is_lab = role == Role.lab_user
        users[username] = create_user(
            session, username=username, password=DEMO_PASSWORD, role=Role(role), actor=DEMO_ACTOR,
            full_name=full_name, phone="13800000000", hospital_id=hospitals[0].id if is_lab else None, verified=True)
    session.flush()
    # A year of closed cases first (numbered before today's), which also trains the on-site predictor; the typed
    # scores above are each device's condition in that history, then every score is computed from it.
    seed_history(session, connected=CONNECTED)
    _seed_tickets(session, by_serial, users)
    refresh_all(session)
    seed_demo_kb(session)  # the bot's demo entries (skipped while the file is missing)
    if data_dir is not None:
        seed_demo_manual(session, data_dir=data_dir)
    seed_service_groups(session, hospitals, users)
    return True


def _seed_tickets(session: Session, by_serial: dict[str, Device], users: dict[str, User]) -> None:
    """A few tickets in different states, so the console and the pages have something to show."""
    from cloud.config import get_settings
    from cloud.tenancy import Scope
    from cloud.tickets.schemas import ActionIn, TicketSubmit
    from cloud.tickets.service import Viewer, apply_action, submit
    from cloud.tickets.state import Action

    settings = get_settings()
    reporter = Viewer(user=users["labuser"])
    agent, engineer = Viewer(user=users["agent"]), Viewer(user=users["engineer"])

    def open_ticket(serial: str, text: str, urgency: str, key: str) -> Ticket:
        ticket, _ = submit(session, data=TicketSubmit(device_id=by_serial[serial].id, description=text,
                                                      urgency=urgency), viewer=reporter,
                           scope=Scope.of_hospital(by_serial[serial].hospital_id), idempotency_key=key,
                           settings=settings)
        store_estimate(session, ticket=ticket)  # what ProfileFlows does after a submission in the service
        return ticket

    def act(ticket: Ticket, viewer: Viewer, action: Action, **fields: object) -> None:
        apply_action(session, ticket=ticket, data=ActionIn(action=action, **fields), viewer=viewer,
                     settings=settings)

    open_ticket("AU58-2019-4471", "AU5800 报警 E-32：ISE 模块电极漂移，钾离子结果偏高，已停用 ISE 检测。", "high",
                "demo-ticket-1")
    c111 = open_ticket("C111-41077", "c 111 光度计灯能量低，质控 ALT 超出 2SD。", "normal", "demo-ticket-2")
    act(c111, agent, Action.dispatch, engineer_id=users["engineer"].id)
    # The e 801 is listed as under repair: its engineer is on site.
    e801 = open_ticket("E801-0943-12", "e 801 试剂针液面探测报警，连续两次吸样失败，已暂停免疫项目。", "high",
                       "demo-ticket-4")
    act(e801, agent, Action.dispatch, engineer_id=users["engineer"].id)
    act(e801, engineer, Action.accept)
    act(e801, engineer, Action.arrive)
    done = open_ticket("DCAV-318812", "DCA Vantage 开机自检失败，提示卡匣舱温度异常。", "normal", "demo-ticket-3")
    act(done, agent, Action.dispatch, engineer_id=users["engineer"].id)
    act(done, engineer, Action.accept)
    act(done, engineer, Action.arrive)
    act(done, engineer, Action.complete, findings="清洁卡匣舱温度传感器并重新校准，自检通过。", parts_used="无",
        fault_category="temperature_control", root_cause="卡匣舱温度传感器积尘")
    act(done, reporter, Action.confirm)
    act(done, reporter, Action.rate, rating_overall=5, rating_speed=5, rating_attitude=5, rating_skill=4,
        rating_comment="工程师响应很快")

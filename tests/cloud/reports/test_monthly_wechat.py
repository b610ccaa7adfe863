"""The monthly report reaches a lab manager bound to WeChat as a template message linking to the PDF."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.notify.models import Delivery, Notification
from cloud.registry.models import Hospital
from cloud.reports import service
from cloud.wechat.models import WechatBinding
from cloud.wechat.standin import StandIn
from tests.cloud.wechat.conftest import settings, standin, standin_server  # noqa: F401 - the WeChat-enabled app
from tests.cloud.world import World

OPENID = "o-lab-manager"


def test_a_bound_manager_gets_a_template_message_with_the_reports_link(
        client: TestClient, app, db: Session, world: World,  # noqa: ANN001
        standin: StandIn) -> None:  # noqa: F811 - the fixture imported above
    manager = db.get(User, world.users["lab_a"])
    hospital = db.get(Hospital, world.hospital_a)
    assert manager is not None and hospital is not None
    manager.is_lab_manager = True
    hospital.created_at = datetime(2026, 1, 1, tzinfo=UTC)
    db.add(WechatBinding(openid=OPENID, user_id=manager.id))
    db.commit()
    first_of_june = datetime(2026, 6, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    done = service.deliver_due(app.state.sessionmaker, data_dir=app.state.settings.data_dir,
                               channels=app.state.channels, now=first_of_june)
    assert done == [(world.hospital_a, "2026-05")]
    [sent] = [s for s in standin.sent if s.touser == OPENID]
    link = f"{app.state.settings.public_url}/reports/monthly/{world.hospital_a}/2026-05.pdf"
    assert sent.url == link and sent.template_id == "TPL-GENERIC"
    assert sent.data["first"]["value"] == "设备维保服务月报"
    assert "2026年5月" in sent.data["keyword2"]["value"]
    db.expire_all()
    notification = db.execute(select(Notification).where(Notification.user_id == manager.id)).scalar_one()
    channels = {d.channel: d.status for d in db.execute(
        select(Delivery).where(Delivery.notification_id == notification.id)).scalars()}
    assert channels["in_app"] == "sent" and channels["wechat"] == "sent"
    # The link in the message opens the PDF for the manager.
    pdf = client.get(f"/reports/monthly/{world.hospital_a}/2026-05.pdf", headers=world.headers("lab_a"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

"""Defect 10: every printed label asks to scan for repair and carries the hospital's service hotline."""

from __future__ import annotations

from sqlalchemy import select

from cloud.qr import labels
from cloud.registry.models import Device, Hospital
from tests.cloud.qr.pdftext import strings


def test_a_device_label_says_scan_to_report_and_prints_the_hotline(db, world) -> None:
    hospital = db.get(Hospital, world.hospital_a)
    hospital.hotline = "400-820-1234"
    db.commit()
    device = db.execute(select(Device).where(Device.id == world.devices_a[0])).scalar_one()
    label = labels.device_label(device, "https://fix.example.cn/r/ABC")
    for template in labels.TEMPLATES:
        text = strings(labels.render_pdf([label], template))
        assert "扫码报修" in text, template
        assert "报修热线 400-820-1234" in text, template
        assert device.serial in text  # the large-type fallback is still there


def test_without_a_hotline_the_label_still_asks_to_scan(db, world) -> None:
    device = db.get(Device, world.devices_b[0])
    text = strings(labels.render_pdf([labels.device_label(device, "https://fix.example.cn/r/B")], "thermal-50x30"))
    assert "扫码报修" in text and not any(s.startswith("报修热线") for s in text)


def test_labels_print_through_the_api_with_the_call_to_action(client, world, db) -> None:
    db.get(Hospital, world.hospital_a).hotline = "021-64370045"
    db.commit()
    response = client.post("/api/v1/labels", json={"devices": [world.devices_a[0]], "template": "a4-3x8"},
                           headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    text = strings(response.content)
    assert "扫码报修" in text and "报修热线 021-64370045" in text

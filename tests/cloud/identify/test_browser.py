"""The backup-report page on a phone: 拍照识别设备 by nameplate, and by a device photo among the top 3."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image

from bench.nameplates import Plate, nameplate_photo
from tests.cloud.identify.pictures import device_picture, jpeg, rephotograph
from tests.e2e.conftest import (  # noqa: F401 - fixtures used by name
    LiveServer,
    browser,
    demo_data,
    demo_server,
    page_errors,
    screenshot,
    sign_in,
    token,
)

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "has_touch": True, "is_mobile": True}
RUIJIN = {"latitude": 31.2119, "longitude": 121.4680}


def _device(server: LiveServer, serial: str) -> dict:
    response = httpx.get(f"{server.url}/api/v1/devices", params={"q": serial},
                         headers={"Authorization": f"Bearer {token(server, 'admin')}"})
    return response.json()["items"][0]


def test_photo_of_the_nameplate_and_of_the_device_lead_to_the_repair_page(demo_server, browser, tmp_path) -> None:  # noqa: ANN001, F811
    device = _device(demo_server, "C702-1834-07")
    plate = tmp_path / "nameplate.jpg"
    plate.write_bytes(nameplate_photo(Plate("Roche Diagnostics", "cobas c 702", "全自动生化分析仪", "C702-1834-07",
                                            None), seed=5))
    context = browser.new_context(**PHONE, geolocation=RUIJIN)
    context.grant_permissions(["geolocation"])
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "labuser", "/report/hospital")
    page.goto(f"{demo_server.url}/report")
    assert page.locator("label[for=identify-photo]").inner_text().strip() == "拍照识别设备"
    page.set_input_files("#identify-photo", str(plate))
    page.wait_for_selector(".idp-card", timeout=20000)
    assert page.locator(".idp-card").count() == 1
    assert page.locator(".idp-card__no").inner_text() == device["system_number"]
    screenshot(page, "identify-nameplate")
    page.click(".idp-card")
    page.wait_for_url("**/r/*")
    assert page.locator(".sysno").inner_text() == device["system_number"]

    # Device photos kept by the admin; the user photographs one device again on the by-hospital page.
    admin = {"Authorization": f"Bearer {token(demo_server, 'admin')}"}
    serials = ["C502-2201-33", "E801-0943-12", "8100-0311-02", "XN10-22014"]
    pictures = {}
    for seed, serial in enumerate(serials, start=20):
        picture = device_picture(seed, (640, 480))
        pictures[serial] = picture
        target = _device(demo_server, serial)
        response = httpx.post(f"{demo_server.url}/api/v1/devices/{target['id']}/photos", headers=admin,
                              files={"photo": ("d.jpg", jpeg(picture), "image/jpeg")})
        assert response.status_code == 201, response.text
    wanted = _device(demo_server, "E801-0943-12")
    again = tmp_path / "again.jpg"
    again.write_bytes(rephotograph(pictures["E801-0943-12"]))
    page.goto(f"{demo_server.url}/report/hospital")
    assert page.locator("#identify-box").is_hidden()
    page.fill("#hospital-q", "rjyy")
    page.click(".hospital-hit")
    page.wait_for_selector(".device-pick")
    page.set_input_files("#identify-photo", str(again))
    page.wait_for_selector(".idp-card", timeout=20000)
    numbers = page.locator(".idp-card__no").all_inner_texts()
    assert wanted["system_number"] in numbers and len(numbers) <= 3
    assert page.locator(".idp-card img").count() == len(numbers)  # thumbnails to confirm with
    page.locator(".idp-card").first.scroll_into_view_if_needed()
    screenshot(page, "identify-photo-candidates")
    page.locator(".idp-card", has_text=wanted["system_number"]).click()
    page.wait_for_url("**/r/*")
    assert page.locator(".sysno").inner_text() == wanted["system_number"]

    # A photo with nothing to read and nothing like it: a clear message, no candidates.
    blank = tmp_path / "blank.jpg"
    blank.write_bytes(jpeg(Image.new("RGB", (500, 400), (128, 128, 128))))
    page.goto(f"{demo_server.url}/report")
    page.set_input_files("#identify-photo", str(blank))
    page.wait_for_selector(".idp-error", timeout=20000)
    assert "未能识别铭牌" in page.locator(".idp-error").inner_text()
    assert errors == []
    context.close()

    # The admin's photo page: thumbnails, one more upload, a removal.
    desk = browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    admin_page = desk.new_page()
    admin_errors = page_errors(admin_page)
    sign_in(admin_page, demo_server, "admin", f"/admin/devices/{wanted['id']}/photos")
    admin_page.wait_for_selector(".photo-card img")
    assert admin_page.locator(".photo-card").count() == 1
    extra = tmp_path / "side.jpg"
    extra.write_bytes(jpeg(device_picture(99, (640, 480))))
    admin_page.set_input_files("#photo-input", str(extra))
    admin_page.wait_for_function("document.querySelectorAll('.photo-card:not(.pending)').length === 2")
    screenshot(admin_page, "identify-admin-photos")
    admin_page.once("dialog", lambda dialog: dialog.accept())
    admin_page.locator("[data-remove]").last.click()
    admin_page.wait_for_function("document.querySelectorAll('.photo-card').length === 1")
    assert admin_errors == []
    desk.close()

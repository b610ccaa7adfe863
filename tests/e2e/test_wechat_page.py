"""Inside WeChat the repair form takes photos and voice through the JS-SDK (wx is a stand-in here)."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import LiveServer, label_code, medfix, screenshot, sign_in, token

pytestmark = pytest.mark.browser

WECHAT_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
             "Mobile Safari/537.36 MicroMessenger/8.0.49.2600 NetType/WIFI Language/zh_CN")

# What the page sees as `wx`: the JS-SDK calls answer like WeChat's, and record what was asked.
RED_PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAMwzM////yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="
FAKE_WX = """
window.__wxCalls = [];
const ok = (name, result) => (options) => { window.__wxCalls.push(name); options.success && options.success(result); };
window.wx = {
  config: (c) => window.__wxCalls.push("config:" + c.appId),
  ready: (cb) => cb(), error: () => {},
  chooseImage: ok("chooseImage", { localIds: ["RED_PIXEL"] }),
  uploadImage: ok("uploadImage", { serverId: "media-photo-1" }),
  startRecord: ok("startRecord", {}),
  stopRecord: ok("stopRecord", { localId: "wxvoice-1" }),
  uploadVoice: ok("uploadVoice", { serverId: "media-voice-1" }),
  translateVoice: ok("translateVoice", { translateResult: "反应盘温度报警" }),
  playVoice: ok("playVoice", {}),
  getLocation: ok("getLocation", { latitude: 31.2118, longitude: 121.4679 }),
};
""".replace("RED_PIXEL", RED_PIXEL)


@pytest.fixture(scope="module")
def wechat_server(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The product with a WeChat account configured (its API is never reached in this test)."""
    server = LiveServer(tmp_path_factory.mktemp("wx"), {
        "MEDFIX_WECHAT_APPID": "wx2c2769f8efd9abc2", "MEDFIX_WECHAT_SECRET": "s", "MEDFIX_WECHAT_TOKEN": "t",
        "MEDFIX_WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "MEDFIX_WECHAT_API_BASE": "http://127.0.0.1:9"})
    medfix("demo", "seed", env=server.env)
    server.start()
    yield server
    server.stop()


def _jssdk_config(route, request) -> None:  # noqa: ANN001, ARG001
    """wx.config parameters as /wechat/jssdk-config gives them (the fake wx accepts any signature)."""
    route.fulfill(content_type="application/json", body=json.dumps(
        {"appId": "wx2c2769f8efd9abc2", "timestamp": 1, "nonceStr": "n", "signature": "s", "jsApiList": []}))


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), "#c33").save(buffer, format="PNG")
    return buffer.getvalue()


def test_photos_and_voice_come_through_the_wechat_jssdk(wechat_server: LiveServer, browser) -> None:  # noqa: ANN001
    admin = token(wechat_server, "admin")
    code = label_code(wechat_server, "devices", 2)
    media_requests: list[dict] = []

    def media(route, request) -> None:  # noqa: ANN001
        # /wechat/media would fetch the media_id from WeChat; here the bytes come from the test instead.
        body = json.loads(request.post_data)
        media_requests.append(body)
        content, name = (_png(), "p.png") if body["kind"] == "photo" else (b"\x1a\x45\xdf\xa3" + b"\0" * 200, "v.webm")
        stored = httpx.post(f"{wechat_server.url}/api/v1/uploads", data={"kind": body["kind"]},
                            files={"file": (name, content, "application/octet-stream")})
        route.fulfill(status=201, content_type="application/json", body=stored.text)

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", user_agent=WECHAT_UA,
                                  has_touch=True, is_mobile=True)
    context.add_init_script(FAKE_WX)
    page = context.new_page()
    page.route("**/wechat/media", media)
    page.route("**/wechat/jssdk-config*", _jssdk_config)
    page.goto(f"{wechat_server.url}/r/{code}?wx=0")  # ?wx=0: skip the OAuth sign-in, as "continue without"
    page.wait_for_function("window.__wxCalls.includes('config:wx2c2769f8efd9abc2')")

    page.click("#add-photo")
    page.wait_for_selector(".thumb[data-upload-id]")
    record = page.locator("#record")
    record.scroll_into_view_if_needed()
    box = record.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 10)
    page.mouse.down()
    page.wait_for_timeout(1100)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#transcript').value === '反应盘温度报警'")
    page.fill("textarea[name=description]", "c 502 反应盘温度报警")
    page.fill("input[name=reporter_name]", "陈老师")
    page.fill("input[name=reporter_phone]", "13800001111")
    screenshot(page, "wechat-repair-form")
    calls = page.evaluate("window.__wxCalls")
    assert calls.index("chooseImage") < calls.index("uploadImage") and "translateVoice" in calls
    page.click("#submit")
    page.wait_for_url("**/t/WO-*")

    assert [r["kind"] for r in media_requests] == ["photo", "voice"]
    assert media_requests[1]["transcript"] == "反应盘温度报警"
    ticket_id = int(page.locator("#ticket").get_attribute("data-id"))
    ticket = httpx.get(f"{wechat_server.url}/api/v1/tickets/{ticket_id}",
                       headers={"Authorization": f"Bearer {admin}"}).json()
    assert [a["kind"] for a in ticket["attachments"]] == ["photo", "voice"]
    assert ticket["attachments"][1]["transcript"] == "反应盘温度报警"
    context.close()


def test_hospital_search_uses_wechats_location_inside_wechat(wechat_server: LiveServer, browser) -> None:  # noqa: ANN001
    # The browser's own geolocation says "far away"; only WeChat's getLocation puts the user in the hospital.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", user_agent=WECHAT_UA,
                                  geolocation={"latitude": 39.9, "longitude": 116.4}, permissions=["geolocation"])
    context.add_init_script(FAKE_WX)
    page = context.new_page()
    page.route("**/wechat/jssdk-config*", _jssdk_config)
    sign_in(page, wechat_server, "labuser", "/report/hospital")
    page.fill("#hospital-q", "瑞金")
    page.click(".hospital-hit")
    page.wait_for_selector(".device-pick")
    assert "getLocation" in page.evaluate("window.__wxCalls")
    context.close()

"""The service desk console and the engineer's phone pages, live, in two browser contexts."""

from __future__ import annotations

import io
import math
import struct
import uuid
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import LiveServer, label_code, screenshot, sign_in, token

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}
DESKTOP = {"viewport": {"width": 1440, "height": 900}, "locale": "zh-CN"}


def _photo(color: tuple[int, int, int] = (40, 60, 80)) -> bytes:
    """A small JPEG that looks like an analyzer screen with an alarm."""
    image = Image.new("RGB", (640, 480), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 60, 580, 420), fill=(225, 232, 238))
    draw.rectangle((60, 60, 580, 120), fill=(192, 57, 43))
    draw.text((80, 80), "ALARM E-2041 reaction disk temperature", fill=(255, 255, 255))
    for row in range(5):
        draw.rectangle((90, 150 + row * 50, 90 + 80 * (row + 2), 180 + row * 50), fill=(90, 120, 150))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _voice(seconds: float = 2.0) -> bytes:
    """A short WAV recording (a soft tone) as a voice note."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        frames = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / 8000)))
                          for i in range(int(8000 * seconds)))
        wav.writeframes(frames)
    return out.getvalue()




def _device(server: LiveServer, model: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token(server, 'agent')}"}
    items = httpx.get(f"{server.url}/api/v1/devices", params={"q": model}, headers=headers).json()["items"]
    return dict(items[0])




def _upload(server: LiveServer, kind: str, content: bytes, **form: str) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/v1/uploads", data={"kind": kind, **form},
                          files={"file": ("x", content, "application/octet-stream")})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _report(server: LiveServer, device_id: int, description: str, *, media: bool = False) -> dict[str, Any]:
    """Submit a ticket the way an anonymous reporter's phone does: uploads first, then one keyed submission."""
    attachments = []
    if media:
        photo = _upload(server, "photo", _photo())
        voice = _upload(server, "voice", _voice(), duration_s="2", transcript="反应盘温度报警，样本都卡住了")
        attachments = [{"id": photo["id"], "key": photo["key"]}, {"id": voice["id"], "key": voice["key"]}]
    response = httpx.post(f"{server.url}/api/v1/tickets", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
        "device_id": device_id, "qr_code": label_code(server, 'devices', device_id), "description": description,
        "urgency": "high", "reporter_name": "陈老师", "reporter_phone": "13800001111", "attachments": attachments})
    assert response.status_code == 201, response.text
    return dict(response.json()["ticket"])




# Stand-ins that record the new-ticket alert: the desktop notification and the Web Audio chime.
RECORD_ALERTS = """
window.__notifications = [];
window.__tones = 0;
window.Notification = class {
  constructor(title, options) { window.__notifications.push(title); }
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
};
const RealAudio = window.AudioContext;
window.AudioContext = class extends RealAudio {
  createOscillator() { window.__tones += 1; return super.createOscillator(); }
};
"""


def _watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Failed requests are checked by URL below (the browser's own favicon probe is no error of ours).
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and "Failed to load" not in msg.text
            else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    return errors


def test_ticket_travels_live_from_submission_to_dispatch_to_resolved(demo_server: LiveServer, browser: Any,
                                                                     tmp_path: Path) -> None:
    desk = browser.new_context(**DESKTOP)
    desk.add_init_script(RECORD_ALERTS)
    console = desk.new_page()
    console_errors = _watch_errors(console)
    sign_in(console, demo_server, "agent", "/console")
    console.wait_for_selector("#live[data-state=open]", timeout=5000)
    console.click(".queue-head h1")  # the first click arms sound and desktop alerts
    console.wait_for_selector("#alert-hint.armed")
    console.evaluate("window.__sameDocument = true")  # gone if the page ever reloads

    # The reporter scans the label with a phone, attaches a photo and a recorded voice note, and submits.
    device = _device(demo_server, "AU5800")
    lab = browser.new_context(**PHONE)
    lab.grant_permissions(["microphone"])
    reporter = lab.new_page()
    reporter_errors = _watch_errors(reporter)
    reporter.goto(f"{demo_server.url}/r/{label_code(demo_server, 'devices', device['id'])}")
    assert reporter.locator(".sysno").inner_text() == device["system_number"]
    shot = tmp_path / "alarm.jpg"
    shot.write_bytes(_photo())
    reporter.set_input_files("#photo-input", str(shot))
    reporter.wait_for_selector(".thumb[data-upload-id]")
    reporter.locator("#record").scroll_into_view_if_needed()  # below the fold under the device's history
    talk = reporter.locator("#record").bounding_box()
    reporter.mouse.move(talk["x"] + 20, talk["y"] + 10)
    reporter.mouse.down()
    reporter.wait_for_timeout(1200)
    reporter.mouse.up()
    reporter.wait_for_function("document.querySelector('#voice-hint').textContent.includes('″')", timeout=10000)
    reporter.fill("#transcript", "反应盘温度报警，样本都卡住了")
    reporter.fill("textarea[name=description]", "AU5800 反应盘温度报警 E-2041，无法开始测试")
    reporter.click(".segmented label:has(input[value=high]) span")
    reporter.fill("input[name=reporter_name]", "陈老师")
    reporter.fill("input[name=reporter_phone]", "13800001111")
    reporter.click("#submit")
    reporter.wait_for_url("**/t/WO-*")
    number = reporter.url.split("/t/")[1].split("?")[0]
    ticket = {"number": number, "id": int(reporter.locator("#ticket").get_attribute("data-id"))}

    item = console.locator(f'.q-item[data-number="{ticket["number"]}"]')
    item.wait_for(timeout=3000)  # pushed over the WebSocket, no reload
    assert console.evaluate("window.__sameDocument") is True
    assert "P1" in item.inner_text()  # high urgency on a chemistry analyzer moves up one level
    assert "响应" in item.locator(".sla").inner_text()
    assert console.evaluate("window.__notifications") == [f"新报修工单 {ticket['number']}"]
    assert console.evaluate("window.__tones") == 2  # the two-tone chime

    item.click()
    head = console.locator(".d-head")
    head.filter(has_text=ticket["number"]).wait_for()
    score = _device(demo_server, "AU5800")["maintenance_score"]  # recomputed when the report came in
    console.locator("#d-score").filter(has_text=str(score)).wait_for()
    assert console.locator(".d-media .thumb").count() == 1
    assert console.locator(".d-media audio").count() == 1
    assert "反应盘温度报警，样本都卡住了" in console.locator(".transcript").inner_text()
    assert "13800001111" in console.locator(".detail-pane").inner_text()
    assert "ticket=" in console.url
    screenshot(console, "console-new-ticket")

    console.click(".d-media .thumb")
    console.wait_for_selector(".lightbox img")
    screenshot(console, "console-photo")
    console.click(".lightbox")

    console.click("[data-action=answer]")
    console.wait_for_selector(".canned .chip")
    screenshot(console, "console-answer-form")
    console.click("[data-close]")

    console.click("[data-action=dispatch]")
    engineer_choice = console.locator("label.engineer", has_text="张工程师")
    engineer_choice.wait_for()
    screenshot(console, "console-dispatch")
    engineer_choice.click()
    console.click(".action-form button[type=submit]")
    console.wait_for_selector(".d-head .ts-dispatched")
    assert "张工程师" in console.locator(".timeline").inner_text()
    # Who acted, by full name: the desk's own dispatch shows 王坐席, never the account name "agent".
    actors = console.locator(".timeline .tl-meta").all_inner_texts()
    assert any(a.startswith("王坐席 ·") for a in actors), actors
    assert not any(a.split(" ·")[0] in ("agent", "labuser", "engineer") for a in actors), actors

    field = browser.new_context(**PHONE)
    phone = field.new_page()
    phone_errors = _watch_errors(phone)
    sign_in(phone, demo_server, "engineer", "/engineer")
    job = phone.locator(f'.job[data-number="{ticket["number"]}"]')
    job.wait_for(timeout=5000)
    phone.wait_for_selector("#live[data-state=open]", timeout=5000)
    screenshot(phone, "engineer-list")
    job.click()
    phone.wait_for_url(f"**/engineer/tickets/{ticket['id']}")
    phone.wait_for_selector("#status[data-status=dispatched]")
    assert phone.locator(".thumb").count() == 1
    screenshot(phone, "engineer-ticket")

    phone.click("[data-action=accept]")
    phone.click(".weui-dialog__btn[data-dlg=ok]")  # every engineer action is confirmed first
    phone.wait_for_selector("#status[data-status=accepted]")
    console.wait_for_selector(".d-head .ts-accepted", timeout=3000)  # the desk sees it live
    phone.click("[data-action=arrive]")
    phone.click(".weui-dialog__btn[data-dlg=ok]")  # every engineer action is confirmed first
    phone.wait_for_selector("#status[data-status=on_site]")

    phone.click("[data-action=complete]")
    phone.wait_for_selector("#s-findings")
    phone.fill("#s-findings", "反应盘温控传感器接触不良，重新插接并校准后温度恢复正常")
    phone.wait_for_selector("#s-ff-category")  # what the fault was, preselected from the report's words
    assert phone.locator("#s-ff-category").input_value() == "temperature_control"
    phone.click("[data-ff-add]")
    phone.fill(".ff-part-name >> nth=0", "温控传感器插头")
    photo_file = tmp_path / "after.jpg"
    photo_file.write_bytes(_photo((30, 90, 60)))
    phone.set_input_files("#s-file", str(photo_file))
    phone.wait_for_selector("#s-photos img[data-uploaded]", timeout=5000)
    screenshot(phone, "engineer-complete-form")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")
    phone.click(".weui-dialog__btn[data-dlg=ok]")  # every engineer action is confirmed first
    phone.wait_for_selector("#status[data-status=resolved]")
    assert phone.locator(".thumb").count() == 2  # the repair photo joined the reporter's
    screenshot(phone, "engineer-resolved")

    console.wait_for_selector(".d-head .ts-resolved", timeout=3000)
    assert console.evaluate("window.__sameDocument") is True
    console.click("[data-tab=resolved]")
    console.locator(f'.q-item[data-number="{ticket["number"]}"]').wait_for()
    assert "温控传感器" in console.locator(".detail-pane").inner_text()
    screenshot(console, "console-resolved")

    # The reporter's page followed along by itself; they confirm the fix and rate the service.
    reporter.wait_for_function("document.querySelector('#status-label').textContent === '已处理，待您确认'",
                               timeout=5000)
    reporter.click("text=确认已修复")
    reporter.wait_for_selector("#rate-form")
    for name, stars in (("rating_overall", 5), ("rating_speed", 5), ("rating_attitude", 5), ("rating_skill", 4)):
        reporter.click(f".stars[data-name={name}] button[data-value='{stars}']")
    reporter.click("#rate-form button[type=submit]")
    reporter.wait_for_selector(".rated")
    assert reporter.locator("#status-label").inner_text() == "已关闭"
    screenshot(reporter, "reporter-closed-after-repair")
    console.wait_for_selector(".d-head .ts-closed", timeout=3000)

    assert console_errors == []
    assert phone_errors == []
    assert reporter_errors == []
    lab.close()
    field.close()
    desk.close()


def test_a_stale_action_gets_a_clear_conflict_message_and_a_fresh_view(demo_server: LiveServer,
                                                                        browser: Any) -> None:
    device = _device(demo_server, "AU5800")
    ticket = _report(demo_server, device["id"], "样本针堵塞报警，已清洗仍报警")
    desk = browser.new_context(**DESKTOP)
    console = desk.new_page()
    errors = _watch_errors(console)
    sign_in(console, demo_server, "agent", f"/console?ticket={ticket['id']}")  # a notification's link
    console.locator(".d-head").filter(has_text=ticket["number"]).wait_for()
    console.wait_for_selector("#live[data-state=open]", timeout=5000)
    console.locator("#d-recent li a").first.wait_for(timeout=5000)  # the device's earlier ticket (loads after)

    console.click("[data-action=answer]")
    console.fill("#f-text", "请按操作手册清洗样本针后重试。")
    # Meanwhile the remote centre writes a note: the ticket's version moves on.
    response = httpx.post(f"{demo_server.url}/api/v1/tickets/{ticket['id']}/actions",
                          headers={"Authorization": f"Bearer {token(demo_server, 'center')}"},
                          json={"action": "note", "version": ticket["version"],
                                "text": "远程查看日志：压力传感器读数偏高"})
    assert response.status_code == 200, response.text
    console.locator("#d-notice").filter(has_text="此工单刚刚有更新").wait_for(timeout=3000)
    assert console.locator("#f-text").input_value() == "请按操作手册清洗样本针后重试。"  # nothing typed is lost
    console.click(".action-form button[type=submit]")
    console.click(".dlg-ok")  # resolving remotely asks first
    console.locator("#d-notice").filter(has_text="工单已被他人更新").wait_for(timeout=3000)
    assert "压力传感器读数偏高" in console.locator(".timeline").inner_text()
    assert console.locator(".tl-item.internal").count() == 1
    screenshot(console, "console-conflict")

    console.click("[data-action=answer]")
    console.click(".canned .chip >> nth=0")
    console.click(".action-form button[type=submit]")
    console.click(".dlg-ok")  # resolving remotely is confirmed, never a side effect of a canned text
    console.wait_for_selector(".d-head .ts-resolved")
    assert [e for e in errors if not e.startswith("409 ")] == []  # the 409 was the point
    desk.close()


def test_sla_badges_turn_red_when_overdue(demo_server: LiveServer, browser: Any) -> None:
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{demo_server.url}/login")
    states = page.evaluate("""async () => {
      const m = await import("/static/js/desk_common.js");
      const at = (minutes) => new Date(Date.now() + minutes * 60000).toISOString();
      const ticket = (status, extra) => ({ id: 1, status, created_at: at(-60), first_responded_at: null,
        first_response_due_at: at(30), resolution_due_at: at(240), ...extra });
      const pick = (s) => s && s.level;
      return [pick(m.slaState(ticket("submitted", {}))),
              pick(m.slaState(ticket("submitted", { first_response_due_at: at(-3) }))),
              pick(m.slaState(ticket("submitted", { first_response_due_at: at(2) }))),
              pick(m.slaState(ticket("on_site", { first_responded_at: at(-50), resolution_due_at: at(-1) }))),
              m.slaState(ticket("resolved", {}))];
    }""")
    assert states == ["ok", "overdue", "soon", "overdue", None]
    page.close()


def test_console_reconnects_after_the_socket_drops_and_catches_up(demo_server: LiveServer, browser: Any) -> None:
    desk = browser.new_context(**DESKTOP)
    desk.add_init_script("""
      const RealSocket = window.WebSocket;
      // Only the console feed's sockets: the page's service-group panel opens a socket of its own, and which
      // of the two came last varied from run to run (closing that one left the feed open: a flaky timeout).
      window.__sockets = [];
      window.WebSocket = class extends RealSocket {
        constructor(...args) {
          super(...args);
          if (String(args[0]).includes("/ws/console")) window.__sockets.push(this);
        }
      };
    """)
    console = desk.new_page()
    sign_in(console, demo_server, "agent", "/console")
    console.wait_for_selector("#live[data-state=open]", timeout=15000)  # a loaded CI box takes seconds
    # The indicator's states, recorded as they change: the reconnect may be quicker than any polling.
    console.evaluate("""() => {
      window.__liveStates = [];
      const live = document.getElementById("live");
      new MutationObserver(() => window.__liveStates.push(live.dataset.state))
        .observe(live, { attributes: true, attributeFilter: ["data-state"] });
    }""")
    console.evaluate("window.__sockets.at(-1).close()")
    console.wait_for_function("window.__liveStates.some((state) => state !== 'open')", timeout=15000)
    ticket = _report(demo_server, _device(demo_server, "Pentra XLR")["id"], "血细胞分析仪吸样针报警")  # while down
    console.wait_for_function("window.__sockets.length >= 2 && window.__sockets.at(-1).readyState === 1",
                              timeout=15000)  # the reconnect backs off with jitter; a loaded box is slower still
    console.wait_for_selector("#live[data-state=open]")
    # Missed while disconnected, fetched again on reconnect.
    console.locator(f'.q-item[data-number="{ticket["number"]}"]').wait_for(timeout=10000)
    desk.close()


def test_engineer_declines_with_a_reason_and_the_ticket_returns_to_the_queue(demo_server: LiveServer,
                                                                            browser: Any) -> None:
    ticket = _report(demo_server, _device(demo_server, "ABL90")["id"], "血气分析仪定标失败")
    agent = {"Authorization": f"Bearer {token(demo_server, 'agent')}"}
    engineers = httpx.get(f"{demo_server.url}/api/v1/tickets/{ticket['id']}/engineers", headers=agent).json()
    response = httpx.post(f"{demo_server.url}/api/v1/tickets/{ticket['id']}/actions", headers=agent,
                          json={"action": "dispatch", "version": ticket["version"], "engineer_id": engineers[0]["id"]})
    assert response.status_code == 200, response.text
    field = browser.new_context(**PHONE)
    phone = field.new_page()
    errors = _watch_errors(phone)
    sign_in(phone, demo_server, "engineer", f"/engineer/tickets/{ticket['id']}")
    phone.wait_for_selector("#status[data-status=dispatched]")
    phone.click("[data-action=decline]")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")  # empty reason: refused in the sheet
    assert phone.locator("#s-reason-error").inner_text() == "此项必填"  # at the field it is about
    phone.fill("#s-reason", "今天在中山医院另有急修，无法前往")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")
    phone.click(".weui-dialog__btn[data-dlg=ok]")  # every engineer action is confirmed first
    phone.wait_for_selector("#status[data-status=submitted]")
    assert phone.locator("#actions button").count() == 0
    assert "今天在中山医院另有急修" in phone.locator(".timeline").inner_text()
    assert errors == []
    field.close()

"""Without an Official Account the WeChat status page says so plainly."""

from __future__ import annotations


def test_wechat_off_is_a_clear_state(client, world) -> None:
    page = client.get("/admin/wechat", headers=world.headers("admin"))
    assert page.status_code == 200 and "微信未启用" in page.text and "MEDFIX_WECHAT_APPID" in page.text
    resend = client.post("/admin/wechat/deliveries/1/resend", headers={**world.headers("admin"),
                                                                        "Accept": "application/json"})
    assert resend.status_code == 409 and "微信未启用" in resend.json()["detail"]

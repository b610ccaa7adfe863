"""/admin/bot: unanswered questions grouped, with the entry picker, and the weekly rates; Chinese, local times."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.cloud.bot.conftest import ask
from tests.cloud.world import World


def test_the_admin_page_groups_unanswered_questions_and_shows_the_rates(
        client: TestClient, world: World, kb: dict[str, int]) -> None:
    for text in ("那个机器的小针又罢工了", "机器的小针又罢工了怎么办", "转盘热乎乎的不正常"):
        ask(client, text, world.headers("lab_a"))
    answered = ask(client, "样本针堵了怎么办", world.headers("lab_a"))
    client.post("/api/v1/bot/feedback", json={"ask_id": answered["ask_id"], "helpful": True},
                headers=world.headers("lab_a"))
    client.cookies.set("medfix_session", world.tokens["agent"])
    page = client.get("/admin/bot")
    assert page.status_code == 200
    html = page.text
    assert "机器人：未能回答的问题" in html and "自助解决率" in html and "标记正确的知识条目" in html
    assert html.count('class="card bot-group') == 2  # the two 小针 wordings are one group
    assert "2 次提问" in html and "样本针堵塞报警怎么处理" in html  # the entry picker lists the KB
    assert "/vendor/echarts/echarts.min.js" in html
    assert "每周从周一开始, 北京时间（UTC+8）" in html and "Asia/Shanghai" not in html  # the zone by its name
    # The full knowledge-base editor is the administrator's: the desk writes the entry on this page (the link led
    # the service centre to 无权访问).
    assert "/admin/kb/new?" not in html and "据此编写新条目" in html
    client.cookies.set("medfix_session", world.tokens["admin"])
    assert "/admin/kb/new?" in client.get("/admin/bot").text


def test_the_admin_page_is_for_staff(client: TestClient, world: World) -> None:
    client.cookies.set("medfix_session", world.tokens["lab_a"])
    response = client.get("/admin/bot", follow_redirects=False)
    assert response.status_code in (303, 403) and "未能回答的问题" not in response.text

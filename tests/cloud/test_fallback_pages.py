"""A browser never meets raw JSON: HTML error pages, a favicon, and API docs that work offline."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from cloud.main import REPO_ROOT

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_unknown_page_answers_a_chinese_html_page_to_a_browser(client: TestClient) -> None:
    response = client.get("/no/such/page", headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "页面不存在" in response.text
    assert "Not Found" not in response.text


def test_unknown_page_speaks_english_to_an_english_browser(client: TestClient) -> None:
    response = client.get("/no/such/page", headers={**BROWSER, "Accept-Language": "en-US,en;q=0.9"})
    assert response.status_code == 404
    assert "Page not found" in response.text


def test_api_clients_keep_json_errors(client: TestClient) -> None:
    for headers in ({}, BROWSER):
        response = client.get("/api/v1/no-such-endpoint", headers=headers)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
    assert client.get("/no/such/page", headers={"Accept": "application/json"}).json() == {"detail": "Not Found"}


def test_favicon_is_served(client: TestClient) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in response.content


def test_api_docs_load_their_assets_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    if not (REPO_ROOT / "node_modules" / "swagger-ui-dist").is_dir():
        pytest.skip("front-end packages not installed (make assets)")
    assert client.get("/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/vendor/swagger-ui/swagger-ui.css").status_code == 200


def _signed_in_admin(client: TestClient) -> TestClient:
    from tests.cloud.world import sign_in_form

    assert sign_in_form(client, "admin").status_code == 303
    return client


@pytest.mark.parametrize("path", ["/admin/devices/abc", "/admin/devices/99999999999999999999"],
                         ids=["not-a-number", "past-the-database-integer"])
def test_a_bad_address_is_a_chinese_page_not_the_validation_json(client: TestClient, path: str) -> None:
    page = _signed_in_admin(client).get(path, headers=BROWSER)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "地址无效" in page.text and "请返回检查" in page.text
    for raw in ("the request is invalid", "device_id", "out of range", "{"):
        assert raw not in page.text.split("<body", 1)[1].split("<script", 1)[0]
    api = client.get(path.replace("/admin/devices/", "/api/v1/devices/"))  # an API client keeps the details
    assert api.status_code == 422 and api.headers["content-type"].startswith("application/json")


def test_the_database_away_is_a_chinese_page_with_retry_after(client: TestClient) -> None:
    from fastapi import APIRouter
    from sqlalchemy.exc import OperationalError

    def page_during_a_restart() -> None:  # what any page meets while PostgreSQL restarts
        raise OperationalError("SELECT 1", {}, Exception("terminating connection due to administrator command"))

    router = APIRouter()
    router.get("/admin/during-a-restart")(page_during_a_restart)
    client.app.include_router(router)  # type: ignore[attr-defined]
    page = client.get("/admin/during-a-restart", headers=BROWSER)
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "服务暂时繁忙" in page.text and "数据库正在重启" in page.text
    assert "the database is unavailable" not in page.text
    api = client.get("/admin/during-a-restart")  # a script's fetch keeps the JSON it can read
    assert api.status_code == 503 and api.json()["detail"].startswith("数据库暂时不可用")

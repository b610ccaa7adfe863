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

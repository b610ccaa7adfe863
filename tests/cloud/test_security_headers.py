"""Issue #13 (10): security headers on every response, uploads that never run as pages, Secure cookies on https."""

from __future__ import annotations

from fastapi.testclient import TestClient

from cloud.config import Settings
from cloud.main import create_app
from tests.cloud.tickets.helpers import png_bytes, submit, upload
from tests.cloud.world import World, sign_in_form


def test_pages_and_api_answers_carry_nosniff_and_refuse_foreign_framing(client: TestClient, world: World) -> None:
    for path in ("/report", "/login", "/healthz", "/api/v1/tickets", "/static/js/report.js", "/no-such-page"):
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN", path
        assert "Strict-Transport-Security" not in response.headers, path  # plain http: no HSTS
    # The policy leaves the pages' inline module scripts alone (they would stop working otherwise).
    policy = client.get("/report").headers["Content-Security-Policy"]
    assert "script-src" not in policy and "default-src" not in policy


def test_uploaded_files_are_served_sandboxed(client: TestClient, world: World) -> None:
    photo = upload(client, "photo", png_bytes()).json()
    ticket = submit(client, world, attachments=[{"id": photo["id"], "key": photo["key"]}]).json()["ticket"]
    desk = client.get(f"/api/v1/tickets/{ticket['id']}", headers=world.headers("agent")).json()
    served = client.get(desk["attachments"][0]["url"], headers=world.headers("agent"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"] == "sandbox"


def test_https_public_url_turns_on_hsts_and_secure_cookies(settings: Settings, world: World) -> None:
    https = settings.model_copy(update={"public_url": "https://medfix.example.cn", "cookie_secure": False})
    with TestClient(create_app(https), base_url="https://testserver") as client:
        assert client.get("/healthz").headers["Strict-Transport-Security"].startswith("max-age=")
        response = sign_in_form(client, "agent")
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "secure" in cookie.lower() and "httponly" in cookie.lower()

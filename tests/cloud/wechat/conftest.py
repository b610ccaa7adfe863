"""WeChat tests: the app configured with the official sample's account, its APIs served by the local stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.config import Settings
from cloud.wechat.standin import StandIn, serve
from tests.cloud.world import World

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "wechat" / "official-vectors.json").read_text())
SAFE = VECTORS["safe_mode_message"]


@pytest.fixture(scope="session")
def standin_server() -> Iterator[tuple[StandIn, str]]:
    """One stand-in for the session, on a loopback port, with the official sample's account."""
    standin = StandIn(appid=SAFE["appid"], token=SAFE["token"], encoding_aes_key=SAFE["encoding_aes_key"])
    with serve(standin.app()) as url:
        yield standin, url


@pytest.fixture
def standin(standin_server: tuple[StandIn, str]) -> StandIn:
    """The stand-in with its state cleared for this test."""
    standin = standin_server[0]
    standin.tokens.clear()
    standin.sent.clear()
    standin.qr_tickets.clear()
    standin.fail_next.clear()
    standin.oauth_codes.clear()
    standin.token_grants = 0
    standin._client_ids.clear()  # noqa: SLF001 - test reset
    return standin


@pytest.fixture
def settings(database: tuple[str, World], tmp_path: Path, standin_server: tuple[StandIn, str]) -> Settings:
    """Test settings plus the WeChat account; APIs go to the stand-in, template messages retry without waiting."""
    return Settings(database_url=database[0], data_dir=tmp_path / "data", sweep_interval_s=0, notify_inline=True,
                    wechat_callback_inline=True, alert_learning_hours=0,
                    outbox_interval_s=0, wechat_appid=SAFE["appid"], wechat_secret="standin-secret",
                    wechat_token=SAFE["token"],
                    wechat_encoding_aes_key=SAFE["encoding_aes_key"], wechat_api_base=standin_server[1],
                    wechat_open_base=standin_server[1],
                    wechat_templates={"*": "TPL-GENERIC"}, wechat_retry_backoff_s=[0.0, 0.0],
                    _env_file=None)  # type: ignore[call-arg]

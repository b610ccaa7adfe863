"""Issue #13 (13): the generated secret key is never readable by others, not even for a moment."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cloud import config
from cloud.config import Settings, secret_key_bytes


def test_the_generated_key_is_created_0600_and_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    modes: list[int] = []
    real_link = os.link

    def checking_link(source: os.PathLike[str], target: os.PathLike[str]) -> None:
        modes.append(stat.S_IMODE(os.stat(source).st_mode))  # what the file is when it appears under its name
        real_link(source, target)

    monkeypatch.setattr(config.os, "link", checking_link)
    real_chmod = Path.chmod

    def checking_chmod(self: Path, mode: int, **kwargs: bool) -> None:  # a late chmod means it was open before
        modes.append(stat.S_IMODE(self.stat().st_mode))
        real_chmod(self, mode, **kwargs)

    monkeypatch.setattr(Path, "chmod", checking_chmod)
    old = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        key = secret_key_bytes(settings)
    finally:
        os.umask(old)
    path = tmp_path / "data" / "secret_key"
    assert modes == [0o600] and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64 and secret_key_bytes(settings) == key
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no partial file left behind


def test_a_configured_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="shared-by-all-hosts", _env_file=None)  # type: ignore[call-arg]
    assert secret_key_bytes(settings) == b"shared-by-all-hosts"
    assert not (tmp_path / "data").exists()

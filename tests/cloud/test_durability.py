"""Issue #13 (11): acknowledged means durable, for the embedded database and for uploaded files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from cloud import files
from cloud.db import make_engine
from tests.cloud.tickets.helpers import png_bytes, upload
from tests.cloud.world import World


def test_the_embedded_database_syncs_every_commit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'medfix.db'}")
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    finally:
        engine.dispose()


def test_a_kept_file_is_fsynced_with_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        synced.append("dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file")
        real(fd)

    monkeypatch.setattr(files.os, "fsync", recording)
    target = tmp_path / "uploads" / "ab" / "abc.png"
    files.keep(target, b"photo")
    assert target.read_bytes() == b"photo" and synced == ["file", "dir"]
    assert list(target.parent.iterdir()) == [target]  # no partial file left behind
    synced.clear()
    files.keep(target, b"photo")  # whole already: reused, nothing written
    assert synced == []


def test_an_empty_leftover_upload_is_written_again(client: TestClient, world: World, settings) -> None:  # noqa: ANN001
    content = png_bytes("blue")
    digest = hashlib.sha256(content).hexdigest()
    leftover = settings.data_dir / "uploads" / digest[:2] / f"{digest}.png"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"")  # a crash (or a full disk) left the file empty under its final name
    response = upload(client, "photo", content)
    assert response.status_code == 201
    assert leftover.read_bytes() == content

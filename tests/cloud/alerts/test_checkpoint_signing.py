"""Issue #13 (14): detector checkpoints are signed; a forged, foreign or unsigned one is never unpickled."""

from __future__ import annotations

import logging
import pickle
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import checkpoint
from cloud.alerts.models import DetectorState
from cloud.config import Settings
from cloud.main import create_app
from models.anomaly import production_detector
from tests.cloud.alerts.conftest import Lab, normal

RAN: list[str] = []


def _planted(text: str) -> None:
    RAN.append(text)


class Payload:
    """What an attacker with write access to the database would plant: unpickling it runs code."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _planted, ("code ran",)


KEY = b"k" * 32
NAME = "Detector"


def test_a_signed_checkpoint_round_trips_only_for_its_own_stream() -> None:
    detector = production_detector()
    blob = checkpoint.seal(KEY, device_id=1, metric="temp_c", detector_name=NAME, detector=detector)
    restored = checkpoint.unseal(KEY, blob, device_id=1, metric="temp_c", detector_name=NAME)
    assert pickle.dumps(restored) == pickle.dumps(detector)
    assert checkpoint.unseal(KEY, blob, device_id=2, metric="temp_c", detector_name=NAME) is None
    assert checkpoint.unseal(KEY, blob, device_id=1, metric="other", detector_name=NAME) is None
    assert checkpoint.unseal(b"x" * 32, blob, device_id=1, metric="temp_c", detector_name=NAME) is None


@pytest.mark.parametrize("forge", ["unsigned", "bad signature", "swapped payload"])
def test_forged_checkpoints_are_never_unpickled(forge: str, caplog: pytest.LogCaptureFixture) -> None:
    RAN.clear()
    evil = pickle.dumps(Payload())
    genuine = checkpoint.seal(KEY, device_id=1, metric="m", detector_name=NAME, detector=production_detector())
    blob = {"unsigned": evil, "bad signature": checkpoint.MAGIC + b"\0" * 32 + evil,
            "swapped payload": genuine[:checkpoint.HEADER] + evil}[forge]
    with caplog.at_level(logging.WARNING, logger="medfix.alerts.checkpoint"):
        assert checkpoint.unseal(KEY, blob, device_id=1, metric="m", detector_name=NAME) is None
    assert RAN == []
    assert "discarded" in caplog.text


def test_the_scorer_discards_a_planted_checkpoint_and_starts_afresh(settings: Settings, db: Session, lab: Lab,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    RAN.clear()
    with TestClient(create_app(settings)) as client:
        lab.send(client, normal(100, 1))
    db.rollback()
    row = db.execute(select(DetectorState)).scalar_one()  # written on shutdown, signed
    assert row.state.startswith(checkpoint.MAGIC)
    row.state = pickle.dumps(Payload())  # an unsigned pickle, as before signing or planted by an attacker
    db.commit()
    restarted = create_app(settings)
    with caplog.at_level(logging.WARNING), TestClient(restarted) as client:
        lab.send(client, normal(20, 2))
        stream = restarted.state.scorer.streams[(lab.devices["c702"], "temp_c")]
    assert RAN == []
    assert "unsigned" in caplog.text and "discarded" in caplog.text
    assert stream.points > 0  # a fresh detector relearned the stream

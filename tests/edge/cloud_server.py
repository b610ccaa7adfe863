"""The real cloud app in-process for the edge tests: migrated SQLite, one registered gateway, uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy import func, select

from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.db import make_engine, make_sessionmaker
from cloud.main import create_app
from cloud.migrate import upgrade
from cloud.registry import service as registry
from cloud.registry.schemas import HospitalIn
from cloud.telemetry import service as telemetry
from cloud.telemetry.models import DeviceEvent, Gateway, GatewayState, IngestedBatch, Reading


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stored:
    """What the cloud holds for the gateway."""

    batches: int
    batch_items: int  # readings + events the ledger says the batches carried
    readings: int
    events: int


class CloudServer:
    """A migrated database with a gateway, and the app served by uvicorn on a loopback port (restartable)."""

    def __init__(self, tmp: Path, *, mqtt_url: str = "", topic_root: str = "medfix/v1") -> None:
        self.url_db = f"sqlite:///{tmp}/c.db"
        engine = make_engine(self.url_db)
        upgrade(engine)
        actor = Actor.system("edge-test")
        with make_sessionmaker(engine)() as session:
            hospital = registry.create_hospital(session, data=HospitalIn(name="边缘测试医院"), actor=actor)
            session.flush()
            self.gateway_name = f"gw-{uuid.uuid4().hex[:8]}"
            gateway, self.token = telemetry.create_gateway(session, name=self.gateway_name,
                                                           hospital_id=hospital.id, actor=actor)
            session.commit()
            self.gateway_pk = gateway.id
        self.engine = engine
        self.settings = Settings(database_url=self.url_db, data_dir=tmp, mqtt_url=mqtt_url,
                                 mqtt_topic_root=topic_root, mqtt_share_group=f"g{uuid.uuid4().hex[:8]}")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = None

    def start(self) -> None:
        """Serve the app (a fresh app each time, like a restarted cloud)."""
        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="test-cloud-uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the cloud app did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=20)
            assert not self._thread.is_alive(), "uvicorn did not stop"
        self._server = self._thread = None

    def stored(self) -> Stored:
        """Counts straight from the database."""
        with make_sessionmaker(self.engine)() as session:
            ledger = session.execute(select(func.count(), func.coalesce(func.sum(IngestedBatch.reading_count), 0),
                                            func.coalesce(func.sum(IngestedBatch.event_count), 0))).one()
            readings = session.execute(select(func.count()).select_from(Reading)).scalar_one()
            events = session.execute(select(func.count()).select_from(DeviceEvent)).scalar_one()
        return Stored(batches=ledger[0], batch_items=int(ledger[1]) + int(ledger[2]), readings=readings,
                      events=events)

    def gateway_status(self) -> GatewayState:
        """The gateway's status as the cloud last recorded it."""
        with make_sessionmaker(self.engine)() as session:
            gateway = session.get(Gateway, self.gateway_pk)
            assert gateway is not None
            return gateway.status

    def close(self) -> None:
        """Stop and release the database."""
        self.stop()
        self.engine.dispose()

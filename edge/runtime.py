"""The agent's supervisor: a task per device and per uplink, restarts with backoff, status, graceful stop.

* Every device driver and the uplink run as their own asyncio task under :meth:`Agent._supervise`: when one
  crashes (or returns) it is rebuilt and restarted after an exponential backoff with jitter; the others go
  on. The first crash of a run is logged (with its traceback), the recovery once the task has kept running
  for ``agent.stable_after_s``; the crashes in between only at DEBUG.
* Status: every ``agent.status_interval_s`` a JSON snapshot is written next to the outbox
  (``<outbox>.status.json``). Why a file and not the outbox database: the outbox is locked by the running
  agent, and device states, last-data times and uplink counters only exist in the agent's memory anyway.
  `medfix edge status` reads the file from another process and shows how old it is.
* systemd: with NOTIFY_SOCKET set, READY=1 after start, WATCHDOG=1 from the event loop at half of
  WATCHDOG_USEC (a wedged loop stops the pings and systemd restarts the agent), STOPPING=1 on the way out.
* Stop (SIGTERM/SIGINT): drivers first (nothing new comes in), then wait for outbox writes in flight, then
  give the uplink ``agent.drain_timeout_s`` to finish the batch in hand, then close the outbox. Un-acked
  batches stay in the outbox for the next start; nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from edge.backoff import Backoff, OnceLog
from edge.config import DeviceSettings, EdgeConfig, atomic_write_text
from edge.devices import DeviceDriver, HubPool, OutboxGate, build_driver, plain
from edge.outbox import Outbox
from edge.tasks import cancel_and_wait
from edge.uplink import Uplink, build_uplink

log = logging.getLogger(__name__)

STATUS_SCHEMA: Final = 1

DriverFactory = Callable[[DeviceSettings, OutboxGate, HubPool], DeviceDriver]
UplinkFactory = Callable[[EdgeConfig, Outbox], Uplink]


class SdNotify:
    """sd_notify(3) without libsystemd: one datagram per message to $NOTIFY_SOCKET (no-op without it)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address  # '@' = abstract namespace
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 1e6 / 2 if usec.isdigit() and int(usec) > 0 and mine else None

    @property
    def enabled(self) -> bool:
        """True when running under systemd with Type=notify."""
        return bool(self.address)

    def notify(self, message: str) -> bool:
        """Send one message; False (never an exception) if it could not be sent."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self.address)
        except OSError as exc:
            log.debug("sd_notify %r failed: %s", message, exc)
            return False
        return True


@dataclass
class TaskState:
    """The supervisor's view of one task."""

    name: str
    kind: str
    state: str = "starting"  # starting | running | restarting | stopped | disabled
    restarts: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    health: OnceLog = field(default=None, repr=False)  # type: ignore[assignment]
    driver: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.health = OnceLog(log, self.name)


class Agent:
    """Runs one gateway: its devices, its outbox and its uplink."""

    def __init__(
        self,
        config: EdgeConfig,
        *,
        driver_factory: DriverFactory = build_driver,
        uplink_factory: UplinkFactory = build_uplink,
        notifier: SdNotify | None = None,
        install_signal_handlers: bool = True,
    ) -> None:
        self.config = config
        self.status_path = config.outbox.status_path
        self._driver_factory = driver_factory
        self._uplink_factory = uplink_factory
        self._notifier = notifier or SdNotify()
        self._signals = install_signal_handlers
        self._states: dict[str, TaskState] = {}
        self._started_at = time.time()
        self.stop_event: asyncio.Event | None = None
        self.outbox: Outbox | None = None
        self.uplink: Uplink | None = None
        self.gate: OutboxGate | None = None
        self.hubs = HubPool()
        self.last_snapshot: dict[str, Any] | None = None  # what a metrics scrape reads (edge/metrics.py)
        self._metrics_server: Any = None

    def stop(self) -> None:
        """Ask run() to stop gracefully (what SIGTERM does)."""
        if self.stop_event is not None:
            self.stop_event.set()

    async def run(self) -> None:
        """Run until stop() or a signal; then drain and return."""
        loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        cfg = self.config
        self.outbox = await asyncio.to_thread(
            Outbox, cfg.outbox.path, gateway_id=cfg.gateway_id, max_telemetry_rows=cfg.outbox.max_telemetry_rows,
            max_clinical_rows=cfg.outbox.max_clinical_rows, clinical_high_water=cfg.outbox.clinical_high_water,
            durable_telemetry=cfg.outbox.durable_telemetry,
        )
        signals = self._install_signals(loop)
        devices: list[asyncio.Task[None]] = []
        uplink_task: asyncio.Task[None] | None = None
        status_task: asyncio.Task[None] | None = None
        try:
            self._start_metrics()  # a port already taken stops the start here, with the outbox closed again
            self.uplink = self._uplink_factory(cfg, self.outbox)
            uplink = self.uplink
            self.gate = OutboxGate(self.outbox, lambda: loop.call_soon_threadsafe(uplink.wake))
            uplink_state = self._states.setdefault("uplink", TaskState("uplink", cfg.cloud.transport))
            uplink_state.driver = uplink
            uplink_task = asyncio.create_task(self._supervise(uplink_state, lambda: uplink), name="medfix uplink")
            for device in cfg.devices:
                state = TaskState(f"device {device.key}", device.kind)
                self._states[device.key] = state
                if not device.enabled:
                    state.state = "disabled"
                    continue
                devices.append(asyncio.create_task(self._supervise(state, self._device_builder(device, state)),
                                                   name=f"medfix device {device.key}"))
            status_task = asyncio.create_task(self._status_loop(), name="medfix status")
            log.info("agent %s running: %d devices, uplink %s", cfg.gateway_id, len(devices), uplink.stats.url)
            self._notifier.notify(f"READY=1\nSTATUS=running {len(devices)} devices")
            await self.stop_event.wait()
            log.info("agent %s stopping", cfg.gateway_id)
            self._notifier.notify("STOPPING=1")
        finally:
            await self._shutdown(devices, uplink_task, status_task)
            for sig in signals:
                loop.remove_signal_handler(sig)

    # --- supervision -----------------------------------------------------------------------------------

    def _device_builder(self, device: DeviceSettings, state: TaskState) -> Callable[[], DeviceDriver]:
        def build() -> DeviceDriver:
            assert self.gate is not None
            state.driver = self._driver_factory(device, self.gate, self.hubs)
            return state.driver

        return build

    async def _supervise(self, state: TaskState, build: Callable[[], DeviceDriver | Uplink]) -> None:
        agent = self.config.agent
        backoff = Backoff(agent.restart_initial_s, agent.restart_max_s)
        while True:
            exc: BaseException | None = None
            task: asyncio.Task[None] | None = None
            try:
                state.state = "running"
                task = asyncio.create_task(_run(build()), name=f"medfix {state.name} run")
                done, _ = await asyncio.wait({task}, timeout=agent.stable_after_s)
                if not done:
                    backoff.reset()
                    state.health.recovered(f"running for {agent.stable_after_s:g} s")
                    await task
                else:
                    task.result()
                reason = "returned"
            except asyncio.CancelledError:
                if task is not None:
                    await cancel_and_wait([task])
                raise
            except Exception as error:  # any crash: the supervisor's job is to restart it
                exc, reason = error, f"{type(error).__name__}: {error}"
            if self.stop_event is not None and self.stop_event.is_set():
                return  # it ended because we are stopping: not a crash
            delay = backoff.next_delay()
            state.errors += 1
            state.restarts += 1
            state.last_error, state.last_error_at = reason, time.time()
            state.state = "restarting"
            state.health.failed(f"stopped ({reason}); restarting with backoff, next in {delay:.1f} s", exc_info=exc)
            await asyncio.sleep(delay)

    # --- status ----------------------------------------------------------------------------------------

    async def _status_loop(self) -> None:
        interval = self.config.agent.status_interval_s
        if self._notifier.watchdog_interval is not None:
            interval = min(interval, self._notifier.watchdog_interval)
        while True:
            try:
                await self.write_status()
            except Exception:  # a full disk must not stop the agent; the watchdog still pings
                log.exception("could not write the status file %s", self.status_path)
            self._notifier.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    def snapshot(self, outbox_stats: dict[str, Any] | None, *, state: str = "running") -> dict[str, Any]:
        """The status document `medfix edge status` shows."""
        now = time.time()
        last = self.gate.last_item_at if self.gate is not None else {}
        devices = []
        for device in self.config.devices:
            task = self._states.get(device.key) or TaskState(device.key, device.kind)
            driver_status = _driver_status(task.driver)
            shown = task.state
            if shown == "running":
                shown = str(driver_status.get("state") or "running")
            seen = last.get(device.key)
            devices.append({
                "key": device.key, "kind": device.kind, "state": shown, "supervisor": task.state,
                "last_data_at": seen, "last_data_age_s": None if seen is None else round(now - seen, 3),
                "restarts": task.restarts, "errors": task.errors + _driver_errors(driver_status),
                "last_error": task.last_error or driver_status.get("last_error"),
                "dropped": int(driver_status.get("dropped") or 0), "driver": driver_status,
            })
        uplink = self._states.get("uplink")
        uplink_status = self.uplink.status() if self.uplink is not None else {}
        if uplink is not None:
            uplink_status.update({"restarts": uplink.restarts, "crash": uplink.last_error})
        return {
            "schema": STATUS_SCHEMA, "gateway_id": self.config.gateway_id, "pid": os.getpid(), "state": state,
            "started_at": self._started_at, "written_at": now, "interval_s": self.config.agent.status_interval_s,
            "outbox_path": str(self.config.outbox.path), "outbox": outbox_stats, "uplink": uplink_status,
            "devices": devices,
        }

    async def write_status(self, *, state: str = "running") -> None:
        """Write the snapshot file (atomically; no fsync: it is rewritten every few seconds)."""
        outbox = self.outbox
        stats = await asyncio.to_thread(lambda: plain(outbox.stats())) if outbox is not None else None
        document = self.snapshot(stats, state=state)
        self.last_snapshot = document
        text = json.dumps(document, indent=1, default=str)
        await asyncio.to_thread(atomic_write_text, self.status_path, text, mode=0o644, durable=False)

    # --- stopping --------------------------------------------------------------------------------------

    async def _shutdown(self, devices: list[asyncio.Task[None]], uplink_task: asyncio.Task[None] | None,
                        status_task: asyncio.Task[None] | None) -> None:
        drain = self.config.agent.drain_timeout_s
        await cancel_and_wait(devices)
        for state in self._states.values():
            if state.state != "disabled":
                state.state = "stopped"
        if self.gate is not None:
            # A driver's append may still be running in its thread; the outbox must not close under it.
            if not await asyncio.to_thread(self.gate.wait_idle, max(drain, 1.0)):
                log.warning("an outbox write did not finish within %.1f s", drain)
        if self.uplink is not None and uplink_task is not None:
            self.uplink.request_stop()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain):
                    await self.uplink.stopped.wait()
            await cancel_and_wait([uplink_task])
        await cancel_and_wait([t for t in (status_task,) if t is not None])
        await self.hubs.close()
        with contextlib.suppress(Exception):
            await self.write_status(state="stopped")
        if self.outbox is not None:
            await asyncio.to_thread(self.outbox.close)
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.shutdown)
            self._metrics_server.server_close()
            self._metrics_server = None
        log.info("agent %s stopped", self.config.gateway_id)

    def _start_metrics(self) -> None:
        """Serve the snapshot's numbers to Prometheus when agent.metrics_port is set (edge/metrics.py)."""
        settings = self.config.agent
        if settings.metrics_port is None:
            return
        from prometheus_client import start_http_server

        from edge.metrics import registry_for

        self._metrics_server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_host,
                                                          registry=registry_for(lambda: self.last_snapshot))
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[signal.Signals]:
        if not self._signals or threading.current_thread() is not threading.main_thread():
            return []
        installed: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
                installed.append(sig)
        return installed


async def _run(target: DeviceDriver | Uplink) -> None:
    await target.run()


def _driver_status(driver: Any) -> dict[str, Any]:
    if driver is None:
        return {}
    try:
        data = plain(driver.status())
    except Exception as exc:  # a broken status() must not break the snapshot
        return {"state": "unknown", "last_error": f"status() failed: {exc}"}
    return data if isinstance(data, dict) else {"value": data}


def _driver_errors(status: Mapping[str, Any]) -> int:
    # Each driver counts its own kind of trouble; sum what it has (Modbus failures, ASTM frame errors, ...).
    keys = ("failures", "frame_errors", "timeouts", "errors")
    return sum(int(status.get(key) or 0) for key in keys)


# --- reading the snapshot from another process ------------------------------------------------------


def read_status(path: Path) -> dict[str, Any] | None:
    """The last snapshot, or None if there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def agent_alive(snapshot: Mapping[str, Any]) -> bool:
    """Whether the snapshot's agent looks alive: says running, recent enough, its pid exists."""
    if snapshot.get("state") != "running":
        return False
    age = time.time() - float(snapshot.get("written_at") or 0)
    if age > 3 * float(snapshot.get("interval_s") or 5) + 5:
        return False
    try:
        os.kill(int(snapshot.get("pid") or 0), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True  # exists but belongs to another user (the medfix service account)
    return True


def format_age(seconds: float | None) -> str:
    """"1.2 s", "3 min", "2.5 h", or "-"."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def utc_text(epoch: float | None) -> str:
    """An epoch as ISO time (UTC), or "-"."""
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def run_agent(config: EdgeConfig) -> None:
    """Blocking entry point of `medfix edge run`."""
    asyncio.run(Agent(config).run())

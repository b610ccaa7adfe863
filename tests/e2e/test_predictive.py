"""Predictive maintenance end to end: a simulated analyzer drifts, the cloud opens one alert and one ticket.

A Modbus analyzer simulator (in this process, so the test can inject the drift) is read by a real edge agent
process every 0.2 s, which streams to a real cloud process. After a normal learning period the reaction disk
temperature drifts away; the cloud must raise exactly one alert and one predictive ticket, notify the engineer,
show the alert on the device's chart in a real browser, and resolve the alert once the stream is normal again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from edge.simulate.modbus import ModbusSimulator, analyzer_register_map, run_modbus_simulator
from tests.e2e.conftest import LiveServer, medfix, screenshot, token
from tests.edge.agent_process import AgentProcess

pytestmark = pytest.mark.slow

UNIT = 3  # the AU5800 of the demo, as in `make run`
DEVICE_NUMBER = "MF-000007"
METRIC = "reaction_disk_temp"
POINTS = ("reaction_disk_temp", "incubator_temp", "vacuum", "wash_pressure")
INTERVAL_S = 0.2
LEARN_READINGS = 220  # the production detector scores after 150 readings of grace; learn a little beyond
DRIFT_PER_MINUTE = 3.0  # °C per minute: 0.6 °C in the 12 s the drift lasts, 60 noise sigmas
DRIFT_S = 12.0
# What an admin sets for this metric so the test runs in seconds; resolve_after outlasts the drift, so only the
# return to normal can resolve the alert, and the cooldown covers the surprise of that return. The stream learns
# for 44 s, not a day, and its drift lasts 12 s: it peaks near 0.7, under the service's 0.75 (settings
# alert_threshold, set for streams that learnt for days), so the policy alerts at 0.5.
POLICY = {"metric": METRIC, "sensitivity": 0.5, "min_duration_s": 0, "resolve_after_s": 15, "cooldown_s": 600,
          "hysteresis": 0.1}


class SimulatorThread:
    """The Modbus simulator served from its own event loop thread; faults are changed on that loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="modbus-sim", daemon=True)
        self.thread.start()
        self.sim: ModbusSimulator = self.call(run_modbus_simulator("127.0.0.1", 0, (UNIT,)))

    def call(self, coroutine: Any) -> Any:
        """Run a coroutine on the simulator's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    def drift(self, rates: dict[str, float]) -> None:
        """Start (or with {} stop) drifting metrics, as the CLI's --drift does."""

        async def change() -> None:
            self.sim.analyzer(UNIT).faults.drift = dict(rates)

        self.call(change())

    def stop(self) -> None:
        """Stop serving and end the thread."""
        self.call(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)




def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll check() until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo cloud on a free port (checkpoints off: this test does not restart it)."""
    # The analyzer here learns for 44 s, not the day a new stream is given before it may alert.
    server = LiveServer(tmp_path_factory.mktemp("predictive"), {"MEDFIX_SWEEP_INTERVAL_S": "0",
                                                                "MEDFIX_ALERT_LEARNING_HOURS": "0"})
    medfix("demo", "seed", env=server.env)
    server.start()
    yield server
    server.stop()


def test_a_drifting_analyzer_opens_one_alert_and_one_predictive_ticket_that_recovery_resolves(
        cloud: LiveServer, browser: Any, tmp_path: Path) -> None:
    admin = httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {token(cloud, 'admin')}"},
                         timeout=10)
    engineer_token = token(cloud, "engineer")
    engineer = httpx.Client(base_url=cloud.url, headers={"Authorization": f"Bearer {engineer_token}"}, timeout=10)

    # The admin registers the gateway, maps the analyzer's key to the AU5800 and sets the metric's policy.
    [device] = [d for d in admin.get("/api/v1/devices", params={"q": DEVICE_NUMBER}).json()["items"]
                if d["system_number"] == DEVICE_NUMBER]
    created = admin.post("/api/v1/gateways", json={"name": "e2e-gw", "hospital_id": device["hospital_id"]})
    assert created.status_code == 201, created.text
    gateway = created.json()
    mapped = admin.put(f"/api/v1/gateways/{gateway['id']}/devices/au5800", json={"device_id": device["id"]})
    assert mapped.status_code == 200, mapped.text
    policy = admin.post("/api/v1/alert-policies", json={**POLICY, "device_id": device["id"]})
    assert policy.status_code == 201, policy.text

    simulator = SimulatorThread()
    token_file = tmp_path / "gateway.token"
    token_file.write_text(gateway["token"])
    points = [p.model_dump(mode="json") for p in analyzer_register_map(UNIT).points if p.name in POINTS]
    config = {"gateway_id": "e2e-gw", "cloud": {"url": cloud.url, "token_file": str(token_file)},
              "outbox": {"path": str(tmp_path / "outbox.db")},
              "devices": [{"key": "au5800", "kind": "modbus_tcp", "host": "127.0.0.1", "port": simulator.sim.port,
                           "unit": UNIT, "points": points, "interval": INTERVAL_S}]}
    (tmp_path / "edge.yaml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    agent = AgentProcess(tmp_path / "edge.yaml", tmp_path / "agent.log")
    agent.start()
    try:
        def readings() -> int:
            metrics = {m["metric"]: m for m in admin.get(f"/api/v1/devices/{device['id']}/metrics").json()}
            return int(metrics[METRIC]["count"]) if METRIC in metrics else 0

        def alerts() -> list[dict[str, Any]]:
            return list(admin.get("/api/v1/alerts", params={"device_id": device["id"]}).json()["items"])

        # Learning: normal behaviour, nothing raised.
        wait_for(f"{LEARN_READINGS} normal readings", lambda: readings() >= LEARN_READINGS, timeout=90)
        assert alerts() == []

        # The drift: one alert, still open while the drift lasts.
        drift_at = time.monotonic()
        simulator.drift({METRIC: DRIFT_PER_MINUTE})
        [alert] = wait_for("the alert", alerts, timeout=DRIFT_S)
        assert (alert["metric"], alert["status"]) == (METRIC, "open")
        time.sleep(max(0.0, DRIFT_S - (time.monotonic() - drift_at)))
        simulator.drift({})
        [alert] = alerts()
        assert alert["status"] == "open" and alert["ticket_id"]

        # One predictive ticket, dispatched by rule to the engineer, who is told with the link to the chart.
        tickets = admin.get("/api/v1/tickets", params={"device_id": device["id"]}).json()["items"]
        predictive = [t for t in tickets if t["source"] == "predictive"]
        assert [t["id"] for t in predictive] == [alert["ticket_id"]]
        notes = engineer.get("/api/v1/notifications").json()
        [opened] = [n for n in notes if n["kind"] == "alert.opened"]
        assert opened["link"].startswith(f"/devices/{device['id']}/chart?metric={METRIC}")

        # The engineer follows the link: the chart shows the drift with the alert marked.
        context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        context.add_cookies([{"name": "medfix_session", "value": engineer_token, "url": cloud.url}])
        page = context.new_page()
        page.goto(f"{cloud.url}{opened['link']}")
        page.wait_for_selector('#chart[data-alerts="1"]', timeout=15_000)
        page.wait_for_selector(f'#alert-table tr[data-alert-id="{alert["id"]}"]')
        assert int(page.get_attribute("#chart", "data-points") or 0) >= LEARN_READINGS
        # Its start in the hospital's time (Shanghai), whatever the browser's own zone (this one runs in UTC).
        shanghai = datetime.fromisoformat(alert["started_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
        row = page.locator(f'#alert-table tr[data-alert-id="{alert["id"]}"]').inner_text()
        assert shanghai.strftime("%Y-%m-%d %H:%M") in row, row
        page.wait_for_timeout(300)  # let the canvas finish painting
        screenshot(page, "predictive-chart")

        # Back to normal: the alert resolves by itself; still one alert and one predictive ticket.
        resolved = wait_for("the alert to resolve",
                            lambda: [a for a in alerts() if a["status"] == "resolved"], timeout=45)
        assert [a["id"] for a in resolved] == [alert["id"]] and resolved[0]["resolution"] == "recovered"
        assert len(alerts()) == 1
        tickets = admin.get("/api/v1/tickets", params={"device_id": device["id"]}).json()["items"]
        assert [t["id"] for t in tickets if t["source"] == "predictive"] == [alert["ticket_id"]]
        page.reload()
        page.wait_for_selector(f'#alert-table tr[data-alert-id="{alert["id"]}"] .alert-resolved')
        screenshot(page, "predictive-chart-resolved")
        context.close()
    finally:
        agent.terminate()
        simulator.stop()

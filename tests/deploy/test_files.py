"""The deployment files agree with the code: every setting in the environment example, nginx's body limits at least
the app's, the units valid for systemd, compose.yaml well formed, the scripts valid shell, the renderer strict.

Docker cannot run on this machine, so compose.yaml and the Dockerfile are checked as files; the stack they describe
is the one tests/deploy/test_stack.py runs from the same configuration.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cloud.bodylimit import _routes
from cloud.config import Settings
from tests.deploy.support import DEPLOY, VENV, render_module

ENV_EXAMPLE = DEPLOY / "medfix.env.example"
MB = 1024 * 1024


def example_lines() -> tuple[dict[str, str], dict[str, str]]:
    """(active, commented-out) KEY=value lines of medfix.env.example."""
    active, commented = {}, {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            (commented if match.group(1) else active)[match.group(2)] = match.group(3)
    return active, commented


def test_the_environment_example_names_every_setting_and_its_defaults_are_true(tmp_path: Path) -> None:
    active, commented = example_lines()
    settings = {f"MEDFIX_{name.upper()}" for name in Settings.model_fields}
    named = {k for k in {**active, **commented} if k.startswith("MEDFIX_")}
    assert settings - named == set(), "settings missing from medfix.env.example"
    assert named - settings == set(), "medfix.env.example names settings that do not exist"
    # Uncommented, the example must parse, and each commented-out line must say the real default.
    everything = tmp_path / "all.env"
    everything.write_text("".join(f"{k}={v}\n" for k, v in {**commented, **active}.items()))
    parsed = Settings(_env_file=everything)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    wrong = {f"MEDFIX_{name.upper()}": (getattr(parsed, name), getattr(defaults, name))
             for name in Settings.model_fields
             if f"MEDFIX_{name.upper()}" in commented and getattr(parsed, name) != getattr(defaults, name)}
    assert wrong == {}, "commented-out lines that are not the default (as written, default)"


def nginx_locations() -> list[tuple[str, int]]:
    """(location pattern, client_max_body_size in bytes) of the template's locations that set one."""
    template = (DEPLOY / "nginx" / "medfix.conf.template").read_text()
    found = []
    for match in re.finditer(r"location (?:[=~] )?(\S+) \{(.*?)\n    \}", template, re.S):
        size = re.search(r"client_max_body_size (\d+)m;", match.group(2))
        if size:
            found.append((match.group(1), int(size.group(1)) * MB))
    return found


def test_nginx_lets_every_route_send_what_the_app_allows_it() -> None:
    template = (DEPLOY / "nginx" / "medfix.conf.template").read_text()
    server_wide = int(re.search(r"\n    client_max_body_size (\d+)m;", template).group(1)) * MB  # type: ignore[union-attr]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert server_wide >= defaults.max_body_kb * 1024
    locations = nginx_locations()
    for pattern, limit in _routes():
        for alternative in pattern.split("|"):
            path = alternative.lstrip("/").replace(r"\d+", "[0-9]+")
            sizes = [size for where, size in locations if path in where.replace("\\", "")]
            assert sizes, f"no nginx location for {alternative} (cloud/bodylimit.py)"
            assert min(sizes) >= limit(defaults), f"nginx takes less than the app for {alternative}"


def test_render_repeats_the_upstream_line_per_port_and_refuses_a_missing_setting(tmp_path: Path) -> None:
    render = render_module()
    values = render.read_env_file(ENV_EXAMPLE)
    site = render.render((DEPLOY / "nginx" / "medfix.conf.template").read_text(), values)
    assert "server 127.0.0.1:8001 max_fails" in site and "server 127.0.0.1:8002 max_fails" in site
    directives = [line for line in site.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "${" in line]
    assert "$http_upgrade" in site  # nginx's own variables are left alone
    partial = tmp_path / "partial.env"
    partial.write_text("DEPLOY_SERVER_NAME=x\n")
    done = subprocess.run([sys.executable, str(DEPLOY / "render.py"), str(DEPLOY / "nginx" / "medfix.conf.template"),
                           str(partial)], capture_output=True, text=True)
    assert done.returncode == 1 and "does not set DEPLOY_" in done.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (DEPLOY / "postgresql").glob("*.sh"))
                         + ["../mosquitto/add-gateway.sh", "../medfix-cloud"])
def test_the_scripts_are_executable_valid_shell(script: str) -> None:
    path = (DEPLOY / "postgresql" / script).resolve()
    assert path.stat().st_mode & 0o111, f"{path} is not executable (the units run it directly)"
    assert subprocess.run(["sh", "-n", str(path)], capture_output=True).returncode == 0


def test_the_admin_wrapper_runs_medfix_cloud_with_the_environment_file() -> None:
    # The example is sourced by sh as it is: values with spaces must be quoted for that.
    done = subprocess.run([str(DEPLOY / "medfix-cloud"), "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MEDFIX_ENV_FILE": str(ENV_EXAMPLE), "MEDFIX_VENV": str(VENV),
                               "PYTHONPATH": str(DEPLOY.parents[1])})
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "gateway" in done.stdout


def test_systemd_accepts_the_units() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here (Debian package systemd)")
    units = sorted(str(p) for p in (DEPLOY / "systemd").iterdir())
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    # The programs live under /opt/medfix on a real host only; anything else is a mistake in a unit.
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if line.strip() and "is not executable: No such file or directory" not in line
                and "/opt/medfix" not in line]
    assert problems == []


def test_compose_file_is_well_formed_and_mounts_what_the_repository_has() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "mosquitto", "migrate", "api", "score", "nginx"} <= set(services)
    assert services["api"]["environment"]["MEDFIX_REDIS_URL"].startswith("redis://redis")
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            # The administrator's own files (certificates, broker passwords, backups) are made at install.
            if source.startswith(".") and not source.startswith(("./tls", "./secrets", "./backups")):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which deploy/cloud lacks"
        if "build" in service:
            assert (DEPLOY / "../.." / service["build"]["dockerfile"]).resolve().is_file()
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for target in ("AS app", "AS web", "AS assets"):
        assert target in dockerfile


def exposed_series() -> set[str]:
    """Every series name the cloud processes and the edge agent can expose (labelled ones included)."""
    from types import SimpleNamespace

    from prometheus_client import REGISTRY

    import cloud.metrics as cloud_metrics
    from edge.metrics import registry_for

    state = SimpleNamespace(hub=SimpleNamespace(connection_count=0),
                            scorer=SimpleNamespace(queued=0, oldest_wait_s=0.0),
                            scoring_publisher=SimpleNamespace(pending=lambda: 0))
    snapshot = {"gateway_id": "gw", "written_at": 0.0,
                "outbox": {"clinical_rows": 0, "oldest_unsent_age_s": 1.0},
                "uplink": {"state": "idle", "transport": "http", "last_ack_at": 1.0},
                "devices": [{"key": "c702", "kind": "astm_serial", "state": "online", "last_data_age_s": 1.0}]}
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    names: set[str] = set()
    for registry in (REGISTRY, cloud_metrics.app_gauges(state), registry_for(lambda: snapshot)):
        for family in registry.collect():
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def test_the_dashboard_and_alert_rules_ask_only_for_series_medfix_exposes() -> None:
    import json

    dashboard = json.loads((DEPLOY / "grafana" / "medfix-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "medfix-alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert all({"alert", "expr", "annotations"} <= rule.keys() for rule in alerts)
    expressions += [rule["expr"] for rule in alerts]
    assert len(expressions) > 20
    asked = {name for expr in expressions for name in re.findall(r"\bmedfix_[a-z_]+", expr)}
    assert asked - exposed_series() == set(), "series the dashboard or the alert rules use but nothing exposes"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == {"medfix-api", "medfix-score", "medfix-edge"}

"""The TimeSeriesStore contract, run on every backend: the SQL tables always, InfluxDB when a server is given.

The InfluxDB cases run when MEDFIX_TEST_INFLUX_URL (with _TOKEN, _ORG, _BUCKET) points at a reachable
InfluxDB 2.x (or 1.8+ with Flux enabled) and skip with the reason otherwise; docs/timeseries.md says how to
start one. Each test uses its own device keys, so a shared bucket needs no cleaning between runs.
The failure tests at the end need no server: they point the store at a closed port.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.telemetry import service
from cloud.telemetry.influx import (
    InfluxTimeSeriesStore,
    client_for,
    decode_text,
    encode_text,
    epoch_ns,
    flux_string,
    to_line,
)
from cloud.telemetry.models import Gateway, GatewayDevice, IngestedBatch
from cloud.telemetry.series import ReadingRow, TimeSeriesStore, TimeSeriesUnavailable
from cloud.telemetry.store import SqlTimeSeriesStore, timeseries_store
from protocols.telemetry import Quality
from tests.cloud.telemetry.conftest import T0, GatewayInfo, make_batch
from tests.cloud.world import World

Sample = tuple[str, str, float | int | str | bool, datetime]


@lru_cache(maxsize=1)
def influx_test_settings() -> Settings | str:
    """Settings for the test server, or why the InfluxDB cases skip."""
    url = os.environ.get("MEDFIX_TEST_INFLUX_URL", "")
    if not url:
        return ("InfluxDB backend not tested: set MEDFIX_TEST_INFLUX_URL (+ MEDFIX_TEST_INFLUX_TOKEN, _ORG, _BUCKET) "
                "to a reachable InfluxDB 2.x or 1.8+ with Flux (docs/timeseries.md)")
    settings = Settings(influx_url=url, influx_token=os.environ.get("MEDFIX_TEST_INFLUX_TOKEN", ""),
                        influx_org=os.environ.get("MEDFIX_TEST_INFLUX_ORG", ""),
                        influx_bucket=os.environ.get("MEDFIX_TEST_INFLUX_BUCKET", "medfix_test"),
                        influx_timeout_s=10, _env_file=None)  # type: ignore[call-arg]
    client = client_for(settings.influx_url, settings.influx_token, settings.influx_org or "-",
                        settings.influx_timeout_s)
    if not client.ping():
        return f"InfluxDB backend not tested: MEDFIX_TEST_INFLUX_URL={url} does not answer /ping"
    return settings


@pytest.fixture(params=["sql", "influx"])
def store(request: pytest.FixtureRequest, db: Session) -> TimeSeriesStore:
    """The store under test, on the test database's session."""
    if request.param == "sql":
        return SqlTimeSeriesStore(db)
    settings = influx_test_settings()
    if isinstance(settings, str):
        pytest.skip(settings)
    return InfluxTimeSeriesStore.from_settings(db, settings)


@pytest.fixture
def key() -> str:
    """A device key of this test alone (an InfluxDB bucket outlives the test database)."""
    return f"c702-{uuid.uuid4().hex[:12]}"


def ingest(db: Session, gw: GatewayInfo, store: TimeSeriesStore, seq: int, readings: list[Sample],
           quality: Quality = Quality.GOOD) -> bool:
    """Ingest one batch through the service into store and commit; False when it was a duplicate."""
    gateway = db.get(Gateway, gw.id)
    assert gateway is not None
    ack = service.ingest_batch(db, gateway=gateway, batch=make_batch(gw.name, seq, readings=readings, events=[],
                                                                     quality=quality), store=store)
    db.commit()
    return not ack.duplicate


def map_key(db: Session, gw: GatewayInfo, key: str, device_id: int) -> None:
    service.map_device(db, gateway_id=gw.id, device_key=key, device_id=device_id, actor=Actor.system("test"))
    db.commit()


def expected_buckets(samples: list[Sample], start: datetime, end: datetime,
                     size: int) -> list[tuple[datetime, int, float, float, float]]:
    """(bucket, count, sum, min, max) per epoch-aligned bucket of the samples in [start, end)."""
    cells: dict[int, list[float]] = {}
    for _, _, v, at in samples:
        if start <= at < end:
            assert isinstance(v, float)
            b = int(at.timestamp()) // size * size
            cell = cells.setdefault(b, [0, 0.0, v, v])
            cell[0] += 1
            cell[1] += v
            cell[2], cell[3] = min(cell[2], v), max(cell[3], v)
    return [(datetime.fromtimestamp(b, UTC), int(c[0]), c[1], c[2], c[3]) for b, c in sorted(cells.items())]


# --- the contract -----------------------------------------------------------------------------------


def test_downsampled_query_gives_known_bucket_statistics(db: Session, world: World, gateway: GatewayInfo,
                                                         store: TimeSeriesStore, key: str) -> None:
    device = world.devices_a[0]
    map_key(db, gateway, key, device)
    # Ten samples 0..9 ten seconds apart, plus one at 59.999 s (floored into the first minute).
    samples: list[Sample] = [(key, "pressure", float(i), T0 + timedelta(seconds=10 * i)) for i in range(10)]
    samples.append((key, "pressure", 100.0, T0 + timedelta(seconds=59, microseconds=999_000)))
    ingest(db, gateway, store, 1, samples)
    ingest(db, gateway, store, 2, [(key, "pressure", 1e6, T0 + timedelta(seconds=5))], Quality.BAD)
    end = T0 + timedelta(hours=1)
    buckets = store.query(device, "pressure", T0, end, 60)
    assert [(p.at, p.count, p.min, p.max) for p in buckets] == [
        (T0, 7, 0.0, 100.0), (T0 + timedelta(minutes=1), 4, 6.0, 9.0)]
    assert [p.value for p in buckets] == pytest.approx([(0 + 1 + 2 + 3 + 4 + 5 + 100) / 7, 7.5])
    raw = store.query(device, "pressure", T0, end)
    assert len(raw) == 12
    assert [p.value for p in raw[:3]] == [0.0, 1e6, 1.0]
    assert [p.quality for p in raw[:3]] == ["good", "bad", "good"]
    assert (raw[0].min, raw[0].max, raw[0].count) == (0.0, 0.0, 1)
    assert raw[6].at == T0 + timedelta(seconds=50)  # the 59.999 s sample sorts after 50 s, with its microseconds
    assert raw[7].at == T0 + timedelta(seconds=59, microseconds=999_000)


def test_window_is_half_open_and_texts_come_back_raw(db: Session, world: World, gateway: GatewayInfo,
                                                     store: TimeSeriesStore, key: str) -> None:
    device = world.devices_a[0]
    map_key(db, gateway, key, device)
    ingest(db, gateway, store, 0, [(key, "temp_c", 37.0 + i / 10, T0 + timedelta(seconds=i)) for i in range(3)]
           + [(key, "state", "running\nok", T0 + timedelta(seconds=1))])
    points = store.query(device, "temp_c", T0, T0 + timedelta(seconds=2))
    assert [p.value for p in points] == [37.0, 37.1]
    texts = store.query(device, "state", T0, T0 + timedelta(seconds=2))
    assert [(p.value, p.text, p.count) for p in texts] == [(None, "running\nok", 1)]
    assert store.query(device, "state", T0, T0 + timedelta(seconds=2), 60) == []  # texts are never averaged
    assert store.query(device, "temp_c", T0 + timedelta(seconds=3), T0 + timedelta(seconds=9)) == []
    assert store.query(device, "nothing", T0, T0 + timedelta(seconds=9)) == []
    with pytest.raises(ValueError):
        store.query(device, "temp_c", T0, T0 + timedelta(seconds=9), 0)


def test_metrics_list_newest_value_per_metric(db: Session, world: World, gateway: GatewayInfo,
                                              store: TimeSeriesStore, key: str) -> None:
    device = world.devices_a[0]
    assert store.list_metrics(device) == []
    map_key(db, gateway, key, device)
    ingest(db, gateway, store, 0, [(key, "temp_c", 37.0, T0), (key, "temp_c", 38.5, T0 + timedelta(seconds=1)),
                                   (key, "status", "running", T0), (key, "door_open", True, T0)])
    by_name = {m.metric: m for m in store.list_metrics(device)}
    assert list(by_name) == ["door_open", "status", "temp_c"]
    temp = by_name["temp_c"]
    assert (temp.last_value, temp.count, temp.unit, temp.last_at) == (38.5, 2, "°C", T0 + timedelta(seconds=1))
    assert (by_name["status"].last_text, by_name["status"].last_value) == ("running", None)
    assert by_name["door_open"].last_value == 1.0


def test_recent_gives_the_newest_good_numbers_after_a_moment_oldest_first(
        db: Session, world: World, gateway: GatewayInfo, store: TimeSeriesStore, key: str) -> None:
    # What the scorer replays after a crash: readings after its checkpoint, before its first new one, bounded.
    device = world.devices_a[0]
    map_key(db, gateway, key, device)
    ingest(db, gateway, store, 0, [(key, "temp_c", 30.0 + i, T0 + timedelta(seconds=i)) for i in range(10)]
           + [(key, "state", "running", T0 + timedelta(seconds=5))])
    ingest(db, gateway, store, 1, [(key, "temp_c", 1e6, T0 + timedelta(seconds=4, microseconds=500))], Quality.BAD)
    after, before = T0 + timedelta(seconds=2), T0 + timedelta(seconds=8)
    assert store.recent(device, "temp_c", after, before, limit=100) == [
        (T0 + timedelta(seconds=i), 30.0 + i) for i in range(3, 8)]  # (after, before): both ends excluded
    assert store.recent(device, "temp_c", after, before, limit=2) == [
        (T0 + timedelta(seconds=6), 36.0), (T0 + timedelta(seconds=7), 37.0)]  # the newest ones
    assert [v for _, v in store.recent(device, "temp_c", None, before, limit=100)] == [30.0 + i for i in range(8)]
    assert store.recent(device, "state", None, before, limit=100) == []  # texts are not replayed
    assert store.recent(world.devices_a[1], "temp_c", None, before, limit=100) == []
    assert store.recent(device, "temp_c", None, before, limit=0) == []


def test_unmapped_keys_are_kept_and_follow_a_later_mapping(db: Session, world: World, gateway: GatewayInfo,
                                                           store: TimeSeriesStore, key: str) -> None:
    device = world.devices_a[1]
    ingest(db, gateway, store, 0, [(key, "rpm", 1200, T0)])
    assert store.list_metrics(device) == []
    map_key(db, gateway, key, device)
    assert [(m.metric, m.last_value, m.count) for m in store.list_metrics(device)] == [("rpm", 1200.0, 1)]
    ingest(db, gateway, store, 1, [(key, "rpm", 1300, T0 + timedelta(seconds=1))])
    assert [p.value for p in store.query(device, "rpm", T0, T0 + timedelta(minutes=1))] == [1200.0, 1300.0]
    assert store.list_metrics(world.devices_a[0]) == []  # another device sees none of it


def test_resent_readings_and_batches_count_once(db: Session, world: World, gateway: GatewayInfo,
                                                store: TimeSeriesStore, key: str) -> None:
    device = world.devices_a[0]
    rng = random.Random(7)
    # Distinct instants per metric: two different values for one reading key is an edge bug, and the backends
    # keep different ones of them (SQL the first, InfluxDB the last).
    samples: list[Sample] = [(key, m, round(rng.uniform(-5, 50), 3), T0 + timedelta(seconds=s, microseconds=250))
                             for m in ("temp_c", "pressure") for s in rng.sample(range(3 * 3600), 300)]
    assert ingest(db, gateway, store, 0, samples[:200])  # half arrives before the key is mapped
    map_key(db, gateway, key, device)
    assert ingest(db, gateway, store, 1, samples[100:450])  # overlaps the first batch: re-sent readings
    assert not ingest(db, gateway, store, 1, samples[450:])  # same batch key again: a duplicate, stores nothing
    assert ingest(db, gateway, store, 2, samples[450:])
    ingest(db, gateway, store, 3, [(key, "temp_c", 1e6, T0 + timedelta(seconds=7))], Quality.BAD)
    temps = [s for s in samples if s[1] == "temp_c"]
    summary = {m.metric: m for m in store.list_metrics(device)}
    assert (summary["temp_c"].count, summary["pressure"].count) == (301, 300)
    everything = store.query(device, "temp_c", T0, T0 + timedelta(hours=4))
    assert len(everything) == 301
    assert [p.at for p in everything] == sorted(p.at for p in everything)
    start, end = T0 + timedelta(seconds=95, microseconds=5), T0 + timedelta(hours=2, seconds=17)
    for size in (60, 61, 300, 3600):
        got = store.query(device, "temp_c", start, end, size)
        expected = expected_buckets(temps, start, end, size)
        assert [(p.at, p.count, p.min, p.max) for p in got] == [(a, n, lo, hi) for a, n, _, lo, hi in expected]
        assert [p.value for p in got] == pytest.approx([s / n for _, n, s, _, _ in expected])


def test_limits_cut_raw_points_and_buckets(db: Session, world: World, gateway: GatewayInfo,
                                           store: TimeSeriesStore, key: str) -> None:
    device = world.devices_a[0]
    map_key(db, gateway, key, device)
    ingest(db, gateway, store, 0, [(key, "temp_c", float(i), T0 + timedelta(seconds=20 * i)) for i in range(12)]
           + [(key, "temp_c", "off", T0 + timedelta(seconds=30))])
    raw = store.query(device, "temp_c", T0, T0 + timedelta(hours=1), limit=4)
    assert [(p.value, p.text) for p in raw] == [(0.0, None), (1.0, None), (None, "off"), (2.0, None)]
    buckets = store.query(device, "temp_c", T0, T0 + timedelta(hours=1), 60, limit=2)
    assert [(p.at, p.count, p.value) for p in buckets] == [(T0, 3, 1.0), (T0 + timedelta(minutes=1), 3, 4.0)]


# --- InfluxDB without a server ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_influx_fails_the_ingest_with_503_and_stores_nothing(db: Session, world: World,
                                                                         gateway: GatewayInfo, key: str) -> None:
    settings = Settings(influx_url=f"http://127.0.0.1:{closed_port()}", influx_timeout_s=2,
                        _env_file=None)  # type: ignore[call-arg]
    down = timeseries_store(db, settings)
    assert isinstance(down, InfluxTimeSeriesStore)
    readings: list[Sample] = [(key, "temp_c", 37.0, T0)]
    with pytest.raises(TimeSeriesUnavailable) as failure:
        ingest(db, gateway, down, 0, readings)
    assert failure.value.status_code == 503
    assert "InfluxDB" in failure.value.message
    db.rollback()  # what the request's session does with the error
    assert db.execute(select(func.count()).select_from(IngestedBatch)).scalar_one() == 0
    assert db.execute(select(func.count()).select_from(GatewayDevice).where(GatewayDevice.device_key == key)
                      ).scalar_one() == 0
    # The edge re-sends the same batch: it is new (not a duplicate), and stored once.
    assert ingest(db, gateway, SqlTimeSeriesStore(db), 0, readings)
    map_key(db, gateway, key, world.devices_a[0])
    with pytest.raises(TimeSeriesUnavailable):
        down.list_metrics(world.devices_a[0])
    with pytest.raises(TimeSeriesUnavailable):
        down.query(world.devices_a[0], "temp_c", T0, T0 + timedelta(hours=1), 60)


def test_the_settings_choose_the_store() -> None:
    db = Session()  # unbound: choosing a store touches no database or server
    sql = Settings(_env_file=None)  # type: ignore[call-arg]
    assert isinstance(timeseries_store(db, sql), SqlTimeSeriesStore)
    influx = Settings(influx_url="http://127.0.0.1:8086", influx_token="t", influx_org="o", influx_bucket="b",
                      _env_file=None)  # type: ignore[call-arg]
    store = timeseries_store(db, influx)
    assert isinstance(store, InfluxTimeSeriesStore)
    assert (store.bucket, store.org) == ("b", "o")


def test_line_protocol_keeps_the_reading_identity_and_awkward_text() -> None:
    at = datetime(2026, 1, 1, 0, 0, 59, 999_000, tzinfo=UTC)
    values = {"gateway_id": 3, "device_id": 7, "device_key": 'q"uo\\te x', "metric": "压力", "observed_at": at,
              "value_num": 37.0, "value_text": None, "unit": "°C", "quality": "good"}
    row = ReadingRow(**values)
    assert to_line(row) == ('reading,device_key=q"uo\\te\\ x,gateway_id=3,metric=压力,quality=good,unit=°C '
                            'value=37 1767225659999000000')
    assert "device_id" not in to_line(row)  # the mapping is applied when reading, not baked into the point
    text = to_line(row._replace(value_num=None, value_text="a\nb", unit=None, device_key="x\\"))
    # base64 padding '=' is escaped in a tag (InfluxDB unescapes it); the newline never reaches the wire.
    assert text == ("reading,device_key=b64:eFw\\=,gateway_id=3,metric=压力,quality=good "
                    'value_text="b64:YQpi" 1767225659999000000')
    for value in ("", "plain", "b64:looks-encoded", "ends\\", "two\nlines", "tab\tbed", "分析仪-1"):
        assert decode_text(encode_text(value)) == value
    assert encode_text("plain") == "plain"
    assert epoch_ns(datetime(1970, 1, 1, 0, 0, 1, 1)) == 1_000_001_000
    assert flux_string('a"b\\c${x}') == '"a\\"b\\\\c\\${x}"'

"""OPC UA over asyncua: one driver per endpoint, values by subscription (or polling) into the sink.

The driver owns one asyncua Client at a time. A session is: connect (security None or Basic256Sha256
SignAndEncrypt), subscribe every node (sampling interval, absolute deadband as a DataChangeFilter) or, when
the server refuses subscriptions, read them every `poll_interval_s`; then wait until the session breaks
(the socket closes, or asyncua's keepalive probe of the server state fails). A broken session is torn down
completely and a fresh client reconnects with exponential backoff and jitter, re-creating the subscription.
asyncua's own auto-reconnect stays off: one policy (backoff, logging, availability) for every driver.
A failure and its recovery are each logged once, not every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent, Subscription
from asyncua.crypto import cert_gen, uacrypto
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from edge.drivers import error_code_change
from edge.tasks import cancel_and_wait
from protocols.opcua import (
    AcquisitionMode,
    NodeSpec,
    OpcUaConfig,
    SecurityMode,
    TelemetryValue,
    convert_value,
    exceeds_deadband,
)
from protocols.telemetry import Event, EventKind, Quality, Reading, Severity

logger = logging.getLogger(__name__)

Sink = Callable[[list[Reading | Event]], Awaitable[None]]
"""Where the driver delivers readings and events (the runtime plugs the outbox in here)."""

# Answers that mean "this server does not do subscriptions": poll instead of reconnecting forever.
_REFUSED: Final = frozenset(
    {
        ua.StatusCodes.BadTooManySubscriptions,
        ua.StatusCodes.BadServiceUnsupported,
        ua.StatusCodes.BadNotSupported,
        ua.StatusCodes.BadNotImplemented,
        ua.StatusCodes.BadResourceUnavailable,
    }
)
# Monitored-item answers that mean "not with that filter": subscribe without it, filter on our side.
_FILTER_REFUSED: Final = frozenset(
    {
        ua.StatusCodes.BadMonitoredItemFilterUnsupported,
        ua.StatusCodes.BadFilterNotAllowed,
        ua.StatusCodes.BadDeadbandFilterInvalid,
    }
)
_SESSION_ERRORS: Final = (OSError, asyncio.TimeoutError, ConnectionError, ua.UaError, ValueError)
_BATCH_WINDOW_S: Final = 0.02  # gather the notifications of one publish response into one sink call
_LOSS_CHECK_S: Final = 0.25


def quiet_asyncua_logging() -> None:
    """Silence asyncua's per-request and per-reconnect logs unless its level was chosen explicitly."""
    # asyncua logs every broken request, failed close and dropped socket (some with tracebacks); the
    # driver logs a failure once and its recovery once. An explicit level (DEBUG while diagnosing) wins.
    asyncua_logger = logging.getLogger("asyncua")
    if asyncua_logger.level == logging.NOTSET:
        asyncua_logger.setLevel(logging.CRITICAL)


def write_self_signed_certificate(
    cert_file: Path,
    key_file: Path,
    *,
    application_uri: str = "urn:medfix:edge:opcua",
    hostname: str | None = None,
    server: bool = False,
    days: int = 365,
) -> None:
    """Write a self-signed OPC UA application certificate (PEM) and its RSA key (PEM, unencrypted)."""
    names = ["localhost", hostname or socket.gethostname()]
    alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    alt_names += [x509.DNSName(name) for name in dict.fromkeys(names)]
    key = cert_gen.generate_private_key()
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = cert_gen.generate_self_signed_app_certificate(
        key,
        "medfix" + (" server" if server else " edge"),
        {"organizationName": "medfix"},
        alt_names,
        extended=use,
        days=days,
    )
    key_file.write_bytes(cert_gen.dump_private_key_as_pem(key))
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(Encoding.PEM))


def read_key_material(path: str | Path) -> tuple[bytes, str]:
    """Read a certificate or key file and tell PEM from DER by its content ("pem" / "der")."""
    # asyncua guesses the format from the file name (".pem" or DER); real files are often .crt/.key PEM.
    data = Path(path).read_bytes()
    return data, "pem" if data.lstrip().startswith(b"-----BEGIN") else "der"


def _key_material(path: str) -> uacrypto.CertProperties:
    data, kind = read_key_material(path)
    return uacrypto.CertProperties(data, extension=kind)


class DriverState(StrEnum):
    """Where the driver is in its connect / acquire / reconnect cycle."""

    IDLE = "idle"
    CONNECTING = "connecting"
    SUBSCRIBED = "subscribed"
    POLLING = "polling"
    DISCONNECTED = "disconnected"  # waiting out the backoff before the next attempt
    STOPPED = "stopped"


@dataclass(slots=True)
class OpcUaStatus:
    """State and counters of one OPC UA driver, for `medfix edge status`."""

    state: DriverState = DriverState.IDLE
    available: bool | None = None  # None until the first attempt has ended
    mode: AcquisitionMode | None = None  # what the current session uses (poll after a refused subscription)
    connects: int = 0
    reconnects: int = 0  # sessions re-established after a loss or a failed attempt
    failures: int = 0  # failed attempts and lost sessions
    consecutive_failures: int = 0
    fallbacks: int = 0  # sessions that polled because the server refused subscriptions
    last_value_at: datetime | None = None
    last_error: str | None = None
    readings: int = 0
    bad_readings: int = 0
    events: int = 0
    sink_errors: int = 0
    failed_nodes: dict[str, str] = field(default_factory=dict)  # node id -> why it could not be monitored


class SessionLost(ConnectionError):
    """The session broke (socket closed, keepalive probe failed, server shut down)."""


class OpcUaDriver:
    """Reads one OPC UA endpoint's nodes into a sink; recovers by itself from server restarts."""

    def __init__(
        self,
        config: OpcUaConfig,
        device_key: str,
        sink: Sink,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if backoff_initial <= 0 or backoff_max < backoff_initial or not 0 <= jitter < 1:
            raise ValueError("need 0 < backoff_initial <= backoff_max and 0 <= jitter < 1")
        quiet_asyncua_logging()
        self.config = config
        self.device_key = device_key
        self.sink = sink
        self.status = OpcUaStatus()
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._jitter = jitter
        self._clock = clock
        self._nodes = list(config.nodes)
        self._client: Client | None = None
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._last: dict[str, tuple[TelemetryValue, Quality]] = {}  # metric -> last delivered (value, quality)
        self._error_codes: dict[str, int] = {}
        self._bad_metrics: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, acquire and reconnect until cancelled."""
        backoff = self._backoff_initial
        try:
            while True:
                try:
                    await self._session()
                except _SESSION_ERRORS as exc:  # SessionLost is a ConnectionError
                    await self._failed(exc)
                finally:
                    await self._teardown()
                if self.status.mode is not None:
                    backoff = self._backoff_initial  # the last attempt got through: start the backoff over
                    self.status.mode = None
                self.status.state = DriverState.DISCONNECTED
                delay = backoff * (1.0 + random.uniform(-self._jitter, self._jitter))
                backoff = min(backoff * 2, self._backoff_max)
                logger.debug("%s: next attempt in %.2f s", self.device_key, delay)
                await asyncio.sleep(delay)
        finally:
            self.status.state = DriverState.STOPPED

    def start(self) -> asyncio.Task[None]:
        """Run in a background task (stop() ends it)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"opcua:{self.device_key}")
        return self._task

    async def stop(self) -> None:
        """Cancel the background task and close the session."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait([task])  # insists: asyncua's wait_for may swallow a cancellation (edge/tasks.py)
            with contextlib.suppress(asyncio.CancelledError):
                task.result()
        await self._teardown()
        self.status.state = DriverState.STOPPED

    async def __aenter__(self) -> OpcUaDriver:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- one session -------------------------------------------------------------------------------

    async def _session(self) -> None:
        cfg = self.config
        self.status.state = DriverState.CONNECTING
        self._lost.clear()
        self._last.clear()  # a new session starts with fresh initial values
        client = Client(cfg.endpoint, timeout=cfg.timeout_s, watchdog_intervall=cfg.keepalive_s)
        client.name = client.description = f"medfix edge {self.device_key}"
        client.application_uri = cfg.application_uri
        client.session_timeout = 60_000  # ms: a vanished gateway's session should not linger for an hour
        client.connection_lost_callback = self._connection_lost
        if cfg.username is not None:
            client.set_user(cfg.username)
            client.set_password(cfg.password or "")
        self._client = client
        if cfg.security is SecurityMode.BASIC256SHA256:
            assert cfg.certificate is not None and cfg.private_key is not None
            # Without a pinned server certificate, set_security fetches it from the endpoint list.
            await asyncio.wait_for(
                client.set_security(
                    SecurityPolicyBasic256Sha256,
                    certificate=_key_material(cfg.certificate),
                    private_key=_key_material(cfg.private_key),
                    server_certificate=_key_material(cfg.server_certificate) if cfg.server_certificate else None,
                    mode=ua.MessageSecurityMode.SignAndEncrypt,
                ),
                2 * cfg.timeout_s,
            )
        await asyncio.wait_for(client.connect(), 2 * cfg.timeout_s)
        subscription = None
        if cfg.mode is AcquisitionMode.SUBSCRIBE:
            subscription = await self._subscribe(client)
        self.status.mode = AcquisitionMode.POLL if subscription is None else AcquisitionMode.SUBSCRIBE
        self.status.connects += 1
        if self.status.connects > 1:
            self.status.reconnects += 1
        await self._deliver(self._recovered())
        if subscription is not None:
            self.status.state = DriverState.SUBSCRIBED
            await self._consume(subscription)
        else:
            self.status.state = DriverState.POLLING
            await self._poll(client)

    async def _connection_lost(self, exc: Exception) -> None:
        self._lost_reason = f"session lost: {exc!r}" if str(exc) else f"session lost: {type(exc).__name__}"
        self._lost.set()

    def _check_lost(self) -> None:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError  # a cancellation some wait_for swallowed (see stop())
        if self._lost.is_set():
            raise SessionLost(self._lost_reason)

    async def _subscribe(self, client: Client) -> Subscription | None:
        cfg = self.config
        try:
            subscription = await client.create_subscription(cfg.publishing_interval_ms, None, queue_maxsize=10_000)
        except ua.UaStatusCodeError as exc:
            if exc.code not in _REFUSED:
                raise
            self.status.fallbacks += 1
            if self.status.fallbacks == 1:
                logger.warning(
                    "%s: server refused subscriptions (%s); polling every %.3g s",
                    self.device_key,
                    ua.StatusCode(exc.code).name,
                    cfg.poll_interval_s,
                )
            return None
        results = await subscription.create_monitored_items(
            [self._item_request(index, node, with_filter=True) for index, node in enumerate(self._nodes)]
        )
        retry = [i for i, r in enumerate(results) if isinstance(r, ua.StatusCode) and r.value in _FILTER_REFUSED]
        if retry:
            # Servers without deadband support still sample; the deadband is then applied on our side.
            again = await subscription.create_monitored_items(
                [self._item_request(i, self._nodes[i], with_filter=False) for i in retry]
            )
            for i, result in zip(retry, again, strict=True):
                results[i] = result
        failed = {
            self._nodes[i].node_id: result.name for i, result in enumerate(results) if isinstance(result, ua.StatusCode)
        }
        if failed != self.status.failed_nodes and failed:
            logger.warning("%s: cannot monitor %s", self.device_key, ", ".join(f"{n} ({w})" for n, w in failed.items()))
        self.status.failed_nodes = failed
        return subscription

    def _item_request(self, index: int, node: NodeSpec, *, with_filter: bool) -> ua.MonitoredItemCreateRequest:
        params = ua.MonitoringParameters()
        params.ClientHandle = index + 1  # our own handles: the notification names the node spec by index
        interval = node.sampling_interval_ms
        params.SamplingInterval = self.config.sampling_interval_ms if interval is None else interval
        params.QueueSize = 1
        params.DiscardOldest = True
        if with_filter and node.raw_deadband is not None:
            params.Filter = ua.DataChangeFilter(
                Trigger=ua.DataChangeTrigger.StatusValue,
                DeadbandType=ua.DeadbandType.Absolute,
                DeadbandValue=node.raw_deadband,
            )
        request = ua.MonitoredItemCreateRequest()
        request.ItemToMonitor = ua.ReadValueId(
            NodeId=ua.NodeId.from_string(node.node_id), AttributeId=ua.AttributeIds.Value
        )
        request.MonitoringMode = ua.MonitoringMode.Reporting
        request.RequestedParameters = params
        return request

    async def _consume(self, subscription: Subscription) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._check_lost()
            event = await subscription.next_event(timeout=_LOSS_CHECK_S)
            if event is None:
                continue
            pending: list[Reading | Event] = []
            flush_at = loop.time() + _BATCH_WINDOW_S
            while event is not None:
                if isinstance(event, StatusChangeEvent) and not event.notification.Status.is_good():
                    await self._deliver(pending)
                    raise SessionLost(f"subscription status {event.notification.Status.name}")
                if isinstance(event, DataChangeEvent):
                    handle = event.data.monitored_item.ClientHandle
                    if 1 <= handle <= len(self._nodes):
                        pending += self._sample(self._nodes[handle - 1], event.data.monitored_item.Value)
                remaining = flush_at - loop.time()
                event = await subscription.next_event(timeout=remaining) if remaining > 0 else None
            await self._deliver(pending)

    async def _poll(self, client: Client) -> None:
        loop = asyncio.get_running_loop()
        nodes = [client.get_node(node.node_id) for node in self._nodes]
        interval = self.config.poll_interval_s
        next_at = loop.time()
        while True:
            self._check_lost()
            values = await client.read_attributes(nodes)
            self._check_lost()
            items: list[Reading | Event] = []
            for spec, datavalue in zip(self._nodes, values, strict=True):
                items += self._sample(spec, datavalue)
            await self._deliver(items)
            next_at += interval
            now = loop.time()
            if next_at < now:  # a slow read skips ticks instead of bunching up
                next_at = now + interval
            await asyncio.sleep(next_at - now)

    async def _teardown(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.connection_lost_callback = None
        try:
            # disconnect() cancels asyncua's supervisor, watchdog, renew and publish tasks; on a dead socket it
            # fails fast, on a live one it deletes the subscription and closes the session.
            await asyncio.wait_for(client.disconnect(), self.config.timeout_s)
        except Exception:  # a broken session may fail to close; the socket is dropped below anyway
            logger.debug("%s: disconnect raised", self.device_key, exc_info=True)
        with contextlib.suppress(Exception):
            client.disconnect_socket()

    # --- values ------------------------------------------------------------------------------------

    def _sample(self, spec: NodeSpec, datavalue: ua.DataValue | None) -> list[Reading | Event]:
        status = datavalue.StatusCode if datavalue is not None and datavalue.StatusCode is not None else None
        code = status.value if status is not None else 0
        raw = datavalue.Value.Value if datavalue is not None and datavalue.Value is not None else None
        name = status.name if status is not None and code else None
        converted = convert_value(raw, spec, status_code=code, status_name=name)
        previous = self._last.get(spec.metric)
        if previous is not None and previous[1] is converted.quality:
            if not exceeds_deadband(previous[0], converted.value, spec.deadband):
                return []
        self._last[spec.metric] = (converted.value, converted.quality)
        observed = _timestamp(datavalue) or self._clock()
        if converted.quality is Quality.GOOD:
            if spec.metric in self._bad_metrics:
                self._bad_metrics.discard(spec.metric)
                logger.info("%s: %s is good again", self.device_key, spec.metric)
        else:
            self.status.bad_readings += 1
            if spec.metric not in self._bad_metrics:
                self._bad_metrics.add(spec.metric)
                logger.warning("%s: %s is %s: %s", self.device_key, spec.metric, converted.quality, converted.problem)
        items: list[Reading | Event] = [
            Reading(
                device_key=self.device_key,
                metric=spec.metric,
                observed_at=observed,
                value=converted.value,
                unit=spec.unit,
                quality=converted.quality,
            )
        ]
        self.status.readings += 1
        self.status.last_value_at = self._clock()
        value = converted.value
        if (
            spec.metric in self.config.error_code_metrics
            and converted.quality is Quality.GOOD
            and isinstance(value, int)
            and not isinstance(value, bool)
        ):
            event = self._error_code_event(spec.metric, value, observed)
            if event is not None:
                items.append(event)
        return items

    def _error_code_event(self, metric: str, code: int, when: datetime) -> Event | None:
        previous = self._error_codes.get(metric, 0)
        self._error_codes[metric] = code
        return error_code_change(self.device_key, metric, code, previous, when)

    async def _deliver(self, items: list[Reading | Event]) -> None:
        if not items:
            return
        self.status.events += sum(1 for item in items if isinstance(item, Event))
        try:
            await self.sink(items)
        except Exception:  # a broken sink must not kill the driver; the runtime sees the counter
            self.status.sink_errors += 1
            logger.exception("%s: sink refused %d items", self.device_key, len(items))

    # --- availability ------------------------------------------------------------------------------

    async def _failed(self, exc: BaseException) -> None:
        status = self.status
        status.failures += 1
        status.consecutive_failures += 1
        status.last_error = _describe(exc)
        if status.available is False:
            logger.debug("%s: still unavailable: %s", self.device_key, status.last_error)
            return
        status.available = False
        logger.error("%s: unavailable: %s", self.device_key, status.last_error)
        await self._deliver([self._availability_event(False, status.last_error)])

    def _recovered(self) -> list[Reading | Event]:
        status = self.status
        items: list[Reading | Event] = []
        if status.available is False:
            logger.info(
                "%s: available again after %d failed attempts (%s)",
                self.device_key,
                status.consecutive_failures,
                "subscription" if status.mode is AcquisitionMode.SUBSCRIBE else "polling",
            )
            items.append(self._availability_event(True, "recovered"))
        status.available = True
        status.consecutive_failures = 0
        return items

    def _availability_event(self, available: bool, reason: str) -> Event:
        return Event(
            device_key=self.device_key,
            occurred_at=self._clock(),
            kind=EventKind.AVAILABILITY,
            severity=Severity.INFO if available else Severity.WARNING,
            code="available" if available else "unavailable",
            text=reason[:4096],
            payload={"endpoint": self.config.endpoint, "consecutive_failures": self.status.consecutive_failures},
        )


def _timestamp(datavalue: ua.DataValue | None) -> datetime | None:
    if datavalue is None:
        return None
    moment: Any = datavalue.SourceTimestamp or datavalue.ServerTimestamp
    if not isinstance(moment, datetime) or moment.year < 1971:  # OPC UA's "no time" is 1601-01-01
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ua.UaStatusCodeError):
        return f"{ua.StatusCode(exc.code).name}"
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

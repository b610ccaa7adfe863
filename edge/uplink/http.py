"""HTTP uplink: gzip each batch and POST it to the cloud's /api/v1/ingest with the gateway's bearer token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import httpx

from edge.uplink import Acked, Outcome, Rejected, Retry, Uplink, ssl_context
from protocols.telemetry import TelemetryError, decode_ack

if TYPE_CHECKING:
    from edge.config import CloudSettings
    from edge.outbox import FrozenBatch, Outbox

INGEST_PATH: Final = "/api/v1/ingest"
_TRANSIENT_4XX: Final = frozenset({408, 425, 429})  # timeout, too early, rate limited: these do heal


class HttpUplink(Uplink):
    """Delivers batches over HTTP(S); the 200 answer's BatchAck is the cloud's application-level ack."""

    transport = "http"
    # Up to 4 POSTs at once: overlaps encoding and round trips with the cloud's work (replay 1.7x, benchmarks-edge.md).
    default_max_in_flight = 4

    def __init__(
        self,
        settings: CloudSettings,
        outbox: Outbox,
        *,
        gateway_id: str,
        http_transport: httpx.AsyncBaseTransport | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        super().__init__(settings, outbox, gateway_id=gateway_id, max_in_flight=max_in_flight)
        self._http_transport = http_transport
        self._client: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """One pooled client (keep-alive) for the life of run()."""
        verify: Any = ssl_context(self.settings.tls) if self.settings.url.startswith("https") else True
        from medfix import __version__

        async with httpx.AsyncClient(
            base_url=self.settings.url,
            timeout=self.settings.timeout_s,
            verify=verify,
            headers={"Authorization": f"Bearer {self.token}", "User-Agent": f"medfix-edge/{__version__}"},
            transport=self._http_transport,
        ) as client:
            self._client = client
            self.stats.connected = None  # HTTP has no standing connection; "connected" is not meaningful
            try:
                yield
            finally:
                self._client = None

    async def send(self, batch: FrozenBatch) -> Outcome:
        """POST one gzip-compressed batch and classify the answer (several may run at once on the pooled client)."""
        assert self._client is not None, "send() outside session()"
        try:
            # The bytes the outbox froze with the batch: encoded once, identical on every re-send.
            response = await self._client.post(
                INGEST_PATH,
                content=batch.wire,
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:  # refused, reset, DNS, TLS, timeouts
            return Retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        status = response.status_code
        if status == 200:
            try:
                return Acked(decode_ack(response.content))
            except TelemetryError as exc:  # a proxy's page, a truncated body: the batch may or may not be stored
                return Retry(f"unreadable ack: {exc}")
        if status >= 500 or status in _TRANSIENT_4XX:
            return Retry(f"HTTP {status}: {_detail(response)}", retry_after=_retry_after(response))
        if 300 <= status < 400:
            where = response.headers.get("location", "?")
            return Rejected(status, f"redirected to {where}; set cloud.url to the final address")
        return Rejected(status, _detail(response))


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError, json.JSONDecodeError):
        detail = None
    return str(detail) if detail else (response.text[:200] or response.reason_phrase)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None

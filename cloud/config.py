"""Settings: one pydantic-settings class, read from MEDFIX_* environment variables and a .env file."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the cloud service. Nothing reads the environment at import time; call get_settings()."""

    model_config = SettingsConfigDict(env_prefix="MEDFIX_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the embedded database and uploaded files live.")
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty = SQLite at <data_dir>/medfix.db, postgresql://... in production."
    )
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL printed on QR labels and in messages.")
    host: str = Field("127.0.0.1", description="Address the API server binds to.")
    port: int = Field(8000, description="Port the API server binds to.")
    token_ttl_hours: int = Field(12, description="Lifetime of a login token or page session.")
    cookie_secure: bool = Field(False, description="Mark the session cookie Secure (set behind HTTPS).")
    redis_url: str = Field("", description="Redis for cross-worker fan-out, caches and dedupe; empty = in-process.")
    mqtt_url: str = Field("", description="MQTT broker the cloud consumes edge batches from; empty = HTTP ingest only.")
    mqtt_topic_root: str = Field("medfix/v1", description="Topic prefix of gateway batches, acks and status.")
    mqtt_share_group: str = Field(
        "medfix-cloud", description="MQTT v5 shared-subscription group, so N API workers split batches; empty = none."
    )
    ingest_max_body_bytes: int = Field(8 * 1024 * 1024, description="Largest upload accepted, as sent (gzip or not).")
    ingest_max_decoded_bytes: int = Field(32 * 1024 * 1024, description="Largest upload accepted once inflated.")
    influx_url: str = Field("", description="InfluxDB for time series; empty = the SQL store.")
    log_level: str = Field("INFO", description="Python logging level.")
    secret_key: str = Field("", description="Signs reporters' private ticket links; empty = a random key kept in "
                            "<data_dir>/secret_key.")
    upload_max_photo_mb: int = Field(10, description="Largest photo a reporter may upload.")
    upload_max_voice_mb: int = Field(5, description="Largest voice note a reporter may upload.")
    voice_max_seconds: int = Field(60, description="Longest voice note accepted.")
    sla_first_response_minutes: dict[int, int] = Field(
        {1: 15, 2: 30, 3: 60, 4: 240}, description="First-response target per priority (1 = most urgent).")
    sla_resolution_hours: dict[int, int] = Field(
        {1: 4, 2: 8, 3: 24, 4: 72}, description="Resolution target per priority.")
    offer_timeout_minutes: int = Field(5, description="An agent who does not pick up a ticket loses it after this.")
    auto_close_hours: int = Field(72, description="A resolved ticket nobody confirms closes after this.")
    agent_capacity: int = Field(10, description="Default most open tickets an agent is given automatically.")
    sweep_interval_s: int = Field(30, description="How often the SLA timers (re-offer, escalate, auto-close) run.")

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'medfix.db').resolve()}"


def secret_key_bytes(settings: Settings) -> bytes:
    """The signing key: MEDFIX_SECRET_KEY, or one generated once and kept in the data folder."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{secrets.token_hex(4)}")
        partial.write_text(secrets.token_hex(32))
        partial.chmod(0o600)
        try:
            os.link(partial, path)  # atomic and first-writer-wins when several workers start at once
        except FileExistsError:
            pass
        partial.unlink()
    return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built once on first use."""
    return Settings()

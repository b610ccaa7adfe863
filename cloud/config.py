"""Settings: one pydantic-settings class, read from MEDFIX_* environment variables and a .env file."""

from __future__ import annotations

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
    influx_url: str = Field("", description="InfluxDB for time series; empty = the SQL store.")
    log_level: str = Field("INFO", description="Python logging level.")

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'medfix.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built once on first use."""
    return Settings()

"""Settings: one pydantic-settings class, read from MEDFIX_* environment variables and a .env file."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    cookie_secure: bool = Field(False, description="Mark the session cookie Secure (always on when public_url is "
                                "https).")
    report_by_id_per_minute: int = Field(10, description="Tries of the label-lost form (/report) per client address "
                                         "and minute (shared through Redis when configured).")
    redis_url: str = Field("", description="Redis for cross-worker fan-out, caches and dedupe; empty = in-process.")
    invite_attempts_per_minute: int = Field(10, ge=1, description="Tries of the forms that take a hospital's "
                                            "invite code (/register, /report/bind) per client address and minute.")
    max_body_kb: int = Field(1024, ge=16, description="Largest request body of any route, in KiB; routes that take "
                             "files allow what their files need (cloud/bodylimit.py), the ingest "
                             "ingest_max_body_bytes. Larger bodies are refused with 413 before they are read.")
    allowed_origins: list[str] = Field([], description="Origins (scheme://host[:port]) besides public_url's and the "
                                       "server's own whose pages may open the live WebSockets.")
    ws_recheck_s: float = Field(30.0, gt=0, description="How often a live WebSocket re-checks its sign-in; a "
                                "signed-out, expired or disabled account's socket is closed (4401).")

    mqtt_url: str = Field("", description="MQTT broker the cloud consumes edge batches from; empty = HTTP ingest only.")
    mqtt_topic_root: str = Field("medfix/v1", description="Topic prefix of gateway batches, acks and status.")
    mqtt_share_group: str = Field(
        "medfix-cloud", description="MQTT v5 shared-subscription group, so N API workers split batches; empty = none."
    )
    ingest_max_body_bytes: int = Field(8 * 1024 * 1024, description="Largest upload accepted, as sent (gzip or not).")
    ingest_max_decoded_bytes: int = Field(32 * 1024 * 1024, description="Largest upload accepted once inflated.")
    influx_url: str = Field("", description="InfluxDB (2.x, or 1.8+ with Flux enabled) that keeps the readings; "
                            "empty = the SQL reading table. See docs/timeseries.md.")
    influx_token: str = Field("", description="InfluxDB API token (1.8: 'user:password').")
    influx_org: str = Field("", description="InfluxDB organization (1.8: ignored, '-').")
    influx_bucket: str = Field("medfix", description="InfluxDB bucket of the readings (1.8: 'database/retention'); "
                               "its retention period is the readings' retention.")
    influx_timeout_s: float = Field(10.0, gt=0, description="Longest wait for InfluxDB; an ingest that cannot "
                                    "write in time fails with 503 and the edge re-sends.")
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field("text", description="text: one readable line per record; json: one "
                                                "JSON object per line (time, level, logger, message, exception) "
                                                "for a log collector.")
    metrics_token: str = Field("", description="When set, /metrics answers only `Authorization: Bearer <token>`; "
                               "empty = only loopback callers (Prometheus on the same host).")
    secret_key: str = Field("", description="Signs reporters' private ticket links, sign-in state, by-ID passes and "
                            "detector checkpoints; empty = a random key kept in <data_dir>/secret_key (one host only: "
                            "several hosts must share one MEDFIX_SECRET_KEY).")
    upload_max_photo_mb: int = Field(10, description="Largest photo a reporter may upload.")
    upload_max_voice_mb: int = Field(5, description="Largest voice note a reporter may upload.")
    voice_max_seconds: int = Field(60, description="Longest voice note accepted.")
    uploads_per_minute: int = Field(30, ge=1, description="Photo and voice uploads per uploader (account, else "
                                    "client address) and minute.")
    upload_daily_files: int = Field(100, ge=0, description="Uploads per reporter (account, else client address) and "
                                    "day; 0 = no quota.")
    upload_daily_mb: int = Field(300, ge=0, description="Megabytes uploaded per reporter and day; 0 = no quota.")
    upload_daily_hospital_mb: int = Field(3000, ge=0, description="Megabytes uploaded by one hospital's accounts "
                                          "per day; 0 = no quota.")
    upload_unattached_hours: int = Field(24, ge=1, description="Uploads no ticket or chat message took within "
                                         "this many hours are deleted, rows and files.")
    upload_sweep_interval_s: int = Field(3600, ge=0, description="How often unattached uploads are swept "
                                         "(0 = never).")

    sla_first_response_minutes: dict[int, int] = Field(
        {1: 15, 2: 30, 3: 60, 4: 240}, description="First-response target per priority (1 = most urgent).")
    sla_resolution_hours: dict[int, int] = Field(
        {1: 4, 2: 8, 3: 24, 4: 72}, description="Resolution target per priority.")
    offer_timeout_minutes: int = Field(5, description="An agent who does not pick up a ticket loses it after this.")
    auto_close_hours: int = Field(72, description="A resolved ticket nobody confirms closes after this.")
    agent_capacity: int = Field(10, description="Default most open tickets an agent is given automatically.")
    sweep_interval_s: int = Field(30, description="How often the SLA timers (re-offer, escalate, auto-close) run.")
    token_purge_interval_s: int = Field(3600, description="How often expired and revoked sign-in tokens are "
                                        "deleted (0 = never).")
    notify_inline: bool = Field(False, description="Run the notification flows on the committing thread right "
                                "after commit (tests that check them at once) instead of the process's outbox "
                                "worker (cloud/notify/outbox.py); either way nothing is lost.")
    outbox_interval_s: int = Field(10, ge=0, description="How often notification work left over (a process that "
                                   "died after commit, a failed attempt whose retry is due) is picked up (0 = never).")
    raw_retention_days: int = Field(30, ge=0, description="Raw readings older than this are deleted (0 = keep).")
    rollup_1m_retention_days: int = Field(180, ge=0, description="1-minute rollups kept this long (0 = keep).")
    rollup_1h_retention_days: int = Field(0, ge=0, description="1-hour rollups kept this long (0 = keep).")
    retention_interval_s: int = Field(3600, ge=0, description="How often retention runs (0 = never).")
    monthly_report_interval_s: int = Field(3600, ge=0, description="How often the service checks whether a "
                                           "hospital's month has turned and its monthly report is due (0 = never).")
    alert_digest_hour: int = Field(8, ge=0, le=23, description="The hour of the day (each hospital's own time) "
                                   "the daily alert digest goes to its lab managers and engineers.")
    alert_digest_interval_s: int = Field(600, ge=0, description="How often the service checks whether a "
                                         "hospital's daily alert digest is due (0 = never).")
    profile_refresh_interval_s: int = Field(3600, ge=0, description="How often every device's maintenance score "
                                            "and 30-day risk are recomputed (events recompute one device at once; "
                                            "this catches ageing and fading faults); 0 = never.")
    dashboard_refresh_interval_s: int = Field(60, ge=0, description="How often the dashboards' monthly rollups "
                                              "take in ticket and device changes and the running month's device "
                                              "time, so a dashboard request seldom has to; 0 = only requests do.")
    predictor_learn_interval_s: int = Field(60, ge=0, description="How often the on-site predictor learns the "
                                            "tickets resolved since its last run; 0 = never.")
    onsite_autodispatch: float = Field(0.0, ge=0, le=1, description="Dispatch a new report to the best-matching "
                                       "engineer at once when the predicted on-site probability is at least this "
                                       "(and the predictor has learned from 200 cases); 0 = off, the desk decides.")
    alert_scoring: bool = Field(True, description="Score ingested readings and raise predictive alerts here.")
    alert_threshold: float = Field(0.75, gt=0, le=1, description="The score (0-1) at which a stream alerts unless "
                                   "its alert policy sets a sensitivity of its own. 0.75 keeps the false alarms "
                                   "of bench/analyzer_faults.py under one a device-week (docs/benchmarks-alerts.md).")
    alert_learning_hours: float = Field(24.0, ge=0, description="A new stream opens no alert for this long (its "
                                        "readings' time) while its detector learns what is normal for it; the "
                                        "analyzer's own signals (failed QC, error bursts) alert from the start. "
                                        "0 = at once.")
    alert_checkpoint_interval_s: int = Field(60, description="How often changed anomaly detectors are saved "
                                             "(also on shutdown); 0 = only on shutdown.")
    wechat_appid: str = Field("", description="WeChat Official Account appid; empty = the WeChat channel is off.")
    wechat_secret: str = Field("", description="The Official Account's AppSecret (for the access token).")
    wechat_token: str = Field("", description="The callback Token configured in the Official Account console.")
    wechat_encoding_aes_key: str = Field("", description="43-character EncodingAESKey (safe and compatible modes).")
    wechat_api_base: str = Field("https://api.weixin.qq.com", description="WeChat API host; tests and the demo "
                                 "point it at the local stand-in.")
    wechat_mp_base: str = Field("https://mp.weixin.qq.com", description="Host of showqrcode (the QR image).")
    wechat_open_base: str = Field("https://open.weixin.qq.com", description="Host of the OAuth2 authorize page.")
    wechat_replay_window_s: int = Field(300, description="Callbacks whose timestamp is further off are refused; "
                                        "0 = no check.")
    wechat_dedupe_ttl_s: int = Field(600, description="How long a callback's MsgId is remembered (retries come "
                                     "within seconds).")
    wechat_callback_inline: bool = Field(False, description="Claim and log each callback message in its own "
                                         "request, after the answer (tests that check the effect at once), instead "
                                         "of in batches on the process's writer thread (cloud/wechat/inbound.py).")
    wechat_templates: dict[str, str] = Field({}, description="Template id per notification kind (e.g. "
                                             "'ticket.submitted'); '*' = for every other kind.")
    wechat_template_fields: dict[str, str] = Field(
        {"first": "{title}", "keyword1": "{number}", "keyword2": "{body}", "remark": "{time}"},
        description="Template data field -> text with {title} {body} {kind} {number} {time} {link} placeholders.")
    wechat_retry_backoff_s: list[float] = Field([0.5, 1.0, 2.0], description="Waits between retries of a "
                                                "template message after a transient error.")
    media_workers: int = Field(1, ge=0, le=8, description="Threads per API process that fetch WeChat media and "
                               "convert voice notes (each runs at most one ffmpeg at a time); 0 = none here.")
    media_interval_s: float = Field(5.0, ge=0, description="How often pending WeChat media are looked for (left by "
                                    "a crash, or due for another try); 0 = only when a request hands one over.")
    media_lease_s: int = Field(300, ge=10, description="How long a worker holds a pending WeChat media item before "
                               "another process may take it over (longer than a fetch and a conversion).")
    media_max_attempts: int = Field(3, ge=1, description="Tries to fetch and convert one WeChat media item (a crash "
                                    "counts as one) before it is marked failed.")
    media_conversions_per_minute: int = Field(10, ge=1, description="WeChat photos and voice notes handed to the "
                                              "background worker per uploader (account, else address) and minute.")
    ffmpeg_path: str = Field("", description="The ffmpeg program converting voice notes; empty = ffmpeg on PATH.")
    ffmpeg_timeout_s: float = Field(30.0, gt=0, description="A voice note's conversion is stopped after this.")
    wechat_permanent_qr_cap: int = Field(100_000, description="Permanent parametric QR codes an account may hold.")
    scoring_partitions: int = Field(0, ge=0, description="0 = each API process scores its own ingest in a "
                                    "scoring thread (default); N with redis_url = devices split into N partitions, "
                                    "each scored by the one worker holding its Redis lease.")
    scoring_workers: int = Field(1, ge=0, description="Scoring worker threads this process runs when partitioned "
                                 "(0 = this API process only hands readings over; `medfix cloud score` "
                                 "processes score).")
    scoring_lease_ms: int = Field(10_000, ge=100, description="Lease of a scoring partition; a dead worker's "
                                  "partitions move after this long.")
    scoring_key_prefix: str = Field("medfix:scoring", description="Prefix of the scoring leases and streams in Redis.")
    scoring_queue_max_readings: int = Field(200_000, ge=0, description="Readings an API process queues for its "
                                            "scoring thread (unpartitioned); when full the ingest waits for room "
                                            "rather than drop readings (0 = unbounded).")
    scoring_queue_block_s: float = Field(10.0, ge=0, description="Longest an ingest waits for room in a full scoring "
                                         "queue; then its batch is queued over the bound, with a warning.")
    scoring_retry_max_readings: int = Field(200_000, ge=0, description="Readings kept in memory for a retry when "
                                            "handing them to the scoring partitions fails (Redis down); older "
                                            "ones beyond this are left to the replay from the reading table.")
    scoring_replay_max_points: int = Field(5_000, ge=0, description="At most this many stored readings a stream "
                                           "replays after its checkpoint when it is restored (0 = no replay).")
    scoring_replay_horizon_s: int = Field(86_400, ge=0, description="Restored streams replay no stored reading older "
                                          "than this before their next one (0 = no limit but the count).")
    scoring_lateness_s: float = Field(0.0, ge=0, description="Lateness tolerance of the alert scoring, in reading "
                                      "time: a reading is scored only once its stream has a reading this much "
                                      "newer, so a reading arriving up to this much behind its stream's newest "
                                      "one is still scored in time order and the alerts do not depend on arrival "
                                      "order (docs/timeseries.md). Alerts wait this long in reading time; 0 = "
                                      "score at once, and a reading older than its stream's last scored one is "
                                      "never scored.")

    @property
    def https(self) -> bool:
        """Whether the service is reached over HTTPS (its public URL says so)."""
        return self.public_url.lower().startswith("https://")

    @property
    def secure_cookies(self) -> bool:
        """Mark cookies Secure: asked for, or implied by an https public URL."""
        return self.cookie_secure or self.https

    @property
    def wechat_enabled(self) -> bool:
        """Whether an Official Account is configured (otherwise everything runs on the web channel)."""
        return bool(self.wechat_appid)

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'medfix.db').resolve()}"


def secret_key_bytes(settings: Settings) -> bytes:
    """The signing key: MEDFIX_SECRET_KEY, or one generated once and kept in the data folder (mode 0600)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"secret_key.{secrets.token_hex(4)}.part")
        # Created 0600 from the first byte (never world-readable, whatever the umask), written and synced whole.
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # Into place atomically, first writer wins: unlike a rename, a link never replaces the key another
            # worker starting at the same moment already put there (and may already sign with).
            os.link(partial, path)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, built once on first use."""
    return Settings()

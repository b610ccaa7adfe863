"""The background worker of WeChat media: fetch a pending media_id (with retries), convert AMR voice to MP3.

Security finding 9 of issue #13: /wechat/media (cloud/wechat/media.py) only records a media_id as pending and
answers; this worker does the slow part. It is durable across restarts: the wechat_media row is the queue.

* A request that records one kicks this process's worker threads (`media_workers`, default 1), so it is
  usually done within seconds. Each thread also looks for due rows every `media_interval_s`: rows whose process
  died mid-work, and rows waiting for another try.
* A worker claims a row for `media_lease_s` (claimed_until, one conditional UPDATE): one process at a time works
  on it, and a crashed process's claim runs out and is taken over. Each claim counts an attempt; after
  `media_max_attempts` the row is marked failed, so an item that kills its worker cannot loop forever.
* ffmpeg runs with a timeout (`ffmpeg_timeout_s`) and at most `media_workers` at a time per process.
* Nothing holds a transaction while WeChat answers or ffmpeg runs: the claim and the result are short commits.

Outcomes, on the wechat_media row and its upload (ticket_attachment.state): ready (the MP3, the original AMR
kept); failed with the original AMR as the upload when the conversion failed (pages say 语音转换失败 and still
offer the recording); failed without a file when WeChat no longer has the media, never handed it over, or the
uploader's daily quota was full.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from cloud.config import Settings
from cloud.db import utcnow
from cloud.errors import Invalid
from cloud.tickets import quota
from cloud.tickets.models import AttachmentKind, TicketAttachment
from cloud.tickets.uploads import KeptFile, fill_upload, keep_file, keep_upload, sniff_audio
from cloud.wechat.client import MedfixWeChatClient
from cloud.wechat.models import WechatMedia

log = logging.getLogger("medfix.wechat.media")

GONE_ERRCODES = frozenset({40007})  # invalid media_id: expired (3 days) or never uploaded; retrying cannot help


class MediaGone(Exception):
    """WeChat no longer has the media (kept 3 days) or never had it: trying again cannot help."""


class MediaUnavailable(Exception):
    """WeChat could not hand the media over this time."""


def download(client: MedfixWeChatClient, media_id: str) -> bytes:
    """The media's bytes (one try; the worker schedules the retries)."""
    try:
        return client.download_media(media_id)
    except WeChatClientException as exc:
        if exc.errcode in GONE_ERRCODES:
            raise MediaGone(f"WeChat: {exc.errcode} {exc.errmsg}") from exc
        raise MediaUnavailable(f"WeChat: {exc.errcode} {exc.errmsg}") from exc
    except OSError as exc:  # requests' errors are OSErrors: network trouble is worth another try
        raise MediaUnavailable(str(exc)) from exc


def amr_to_mp3(content: bytes, *, ffmpeg: str, timeout_s: float) -> bytes | None:
    """The AMR recording as MP3 (which every browser plays), or None when ffmpeg is missing, fails or is too slow."""
    program = shutil.which(ffmpeg or "ffmpeg")
    if program is None:
        log.warning("ffmpeg is not installed (make browser installs it); voice notes stay AMR, which browsers "
                    "cannot play")
        return None
    command = [program, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "amr", "-i", "pipe:0", "-ac", "1",
               "-b:a", "32k", "-f", "mp3", "pipe:1"]
    try:
        # Its own process group, so a timeout stops whatever it started too (and nothing keeps the pipes open).
        with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # noqa: S603 - fixed arguments
                              stderr=subprocess.PIPE, start_new_session=True) as process:
            try:
                out, err = process.communicate(content, timeout=timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                log.warning("converting a voice note took longer than %s s; stopped", timeout_s)
                return None
    except OSError as exc:
        log.warning("converting a voice note failed: %s", exc)
        return None
    if process.returncode != 0 or not out:
        log.warning("ffmpeg could not convert a voice note: %s", err.decode(errors="replace")[-300:])
        return None
    return out


@dataclass(frozen=True)
class Claimed:
    """A claimed row, as the work needs it (read in the claim's short transaction)."""

    id: int
    media_id: str
    kind: str
    attempts: int
    reporter: str | None
    hospital_id: int | None


@dataclass
class Outcome:
    """What became of one claimed item: its state, and the files and reason to record."""

    state: str  # ready, failed, or pending (another try later)
    playable: KeptFile | None = None
    original: KeptFile | None = None
    error: str | None = None


class MediaWorker:
    """The WeChat media worker of one app process: start with the app, kick after a commit, stop with it."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, client: MedfixWeChatClient,
                 app_state: Any) -> None:
        self.sessions = sessions
        self.settings = settings
        self.client = client
        self.app_state = app_state  # the quotas' limiters (cloud/ratelimit.py)
        self.lease = timedelta(seconds=settings.media_lease_s)
        self._ffmpeg = threading.BoundedSemaphore(max(1, settings.media_workers))
        self._cond = threading.Condition()
        self._kicks = 0
        self._busy = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # --- the queue ----------------------------------------------------------------------------------------

    def claim(self) -> Claimed | None:
        """Take the oldest due pending row for a lease (None when there is none)."""
        now = utcnow()
        with self.sessions() as session:
            due = or_(WechatMedia.claimed_until.is_(None), WechatMedia.claimed_until < now)
            candidates = [Claimed(row.id, row.media_id, row.kind, row.attempts + 1, row.reporter, row.hospital_id)
                          for row in session.execute(
                              select(WechatMedia).where(WechatMedia.state == "pending", due,
                                                        or_(WechatMedia.due_at.is_(None), WechatMedia.due_at <= now))
                              .order_by(WechatMedia.id).limit(5)).scalars()]
            for candidate in candidates:
                taken = session.execute(
                    update(WechatMedia).where(WechatMedia.id == candidate.id, WechatMedia.state == "pending", due)
                    .values(claimed_until=now + self.lease, attempts=WechatMedia.attempts + 1)
                    .execution_options(synchronize_session=False))
                session.commit()
                if getattr(taken, "rowcount", 0) == 1:  # else another process was quicker
                    return candidate
        return None

    def run_due(self) -> int:
        """Work off every due pending row, one at a time; how many were worked on."""
        count = 0
        while (item := self.claim()) is not None:
            try:
                self._record(item, self.work(item))
            except Exception:  # the claim runs out and the row is tried again (attempts are counted)
                log.exception("WeChat media %s: unexpected failure; tried again later", item.id)
            count += 1
        return count

    def work(self, item: Claimed) -> Outcome:
        """Fetch and, for AMR voice, convert one item (no transaction held)."""
        if item.attempts > self.settings.media_max_attempts:
            return Outcome("failed", error="gave up after repeated interruptions")
        try:
            content = download(self.client, item.media_id)
        except MediaGone as exc:
            return Outcome("failed", error=f"gone: {exc}"[:300])
        except MediaUnavailable as exc:
            log.warning("fetching WeChat media %s failed (try %s): %s", item.id, item.attempts, exc)
            if item.attempts >= self.settings.media_max_attempts:
                return Outcome("failed", error=f"unavailable: {exc}"[:300])
            return Outcome("pending", error=f"unavailable: {exc}"[:300])
        kind = AttachmentKind(item.kind)
        refused = quota.charge_reporter(self.app_state, self.settings, item.reporter or "-", item.hospital_id,
                                        len(content), files=0)  # the file was counted by the request
        if refused is not None:
            return Outcome("failed", error=f"quota: {refused}"[:300])
        try:
            original = keep_upload(self.settings, kind=kind, content=content)
        except Invalid as exc:
            return Outcome("failed", error=f"invalid: {exc}"[:300])
        sniffed = sniff_audio(content) if kind == AttachmentKind.voice else None
        if sniffed is None or sniffed[1] != "amr":
            return Outcome("ready", playable=original, original=original)
        with self._ffmpeg:  # at most media_workers conversions at a time in this process
            mp3 = amr_to_mp3(content, ffmpeg=self.settings.ffmpeg_path, timeout_s=self.settings.ffmpeg_timeout_s)
        if mp3 is None:
            return Outcome("failed", playable=original, original=original, error="conversion failed")
        playable = keep_file(self.settings, mp3, content_type="audio/mpeg", extension="mp3")
        return Outcome("ready", playable=playable, original=original)

    def _record(self, item: Claimed, outcome: Outcome) -> None:
        with self.sessions() as session:
            row = session.get(WechatMedia, item.id)
            if row is None or row.state != "pending":  # swept, or finished by another process meanwhile
                return
            row.error = outcome.error
            row.claimed_until = None
            if outcome.state == "pending":
                backoff = self.settings.wechat_retry_backoff_s or [1.0]
                wait = backoff[min(item.attempts - 1, len(backoff) - 1)]
                row.due_at = utcnow() + timedelta(seconds=wait)
                session.commit()
                return
            row.state = outcome.state
            if outcome.original is not None:
                row.original_path, row.original_type = outcome.original.path, outcome.original.content_type
            attachment = session.get(TicketAttachment, row.attachment_id) if row.attachment_id else None
            if attachment is not None:
                attachment.state = outcome.state
                if outcome.playable is not None:
                    fill_upload(attachment, outcome.playable)
            session.commit()
        if outcome.state == "failed":
            log.warning("WeChat media %s failed: %s", item.id, outcome.error)

    # --- the threads --------------------------------------------------------------------------------------

    def kick(self) -> None:
        """A row was recorded: have a worker thread look now (nothing when none runs: another process or the
        next start picks it up)."""
        with self._cond:
            self._kicks += 1
            self._cond.notify()

    def start(self) -> None:
        """Start media_workers threads (none when 0)."""
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            self._threads = [threading.Thread(target=self._run, name=f"wechat media {n}", daemon=True)
                             for n in range(self.settings.media_workers)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the threads after their current item (what is left stays pending for the next start)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no kick is waiting and no thread is working (tests); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._kicks and not self._busy, timeout)

    def _run(self) -> None:
        interval = self.settings.media_interval_s or None
        while True:
            with self._cond:
                if not self._kicks and not self._stopping:
                    self._cond.wait(interval)
                if self._stopping:
                    return
                self._kicks = 0
                self._busy += 1
            try:
                self.run_due()
            except Exception:  # the database away: the next kick or interval tries again
                log.exception("the WeChat media worker failed; trying again later")
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

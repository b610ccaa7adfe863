"""Permanent parametric QR codes (QR_LIMIT_STR_SCENE) for device groups and key devices.

An Official Account holds at most wechat_permanent_qr_cap permanent codes and WeChat never gives one back,
so they go where a scan matters most (groups and key devices); every other label keeps its /r/ URL QR,
which inside WeChat signs in through OAuth. Each code issued is kept in a per-account ledger
(wechat_permanent_qr) and on the label's QrCode row, so a label is never regenerated needlessly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException, WeChatException

from cloud.audit.models import AuditLog
from cloud.audit.service import Actor, record
from cloud.config import Settings
from cloud.db import utcnow
from cloud.qr.models import QrCode, TargetKind
from cloud.registry.models import Device, DeviceGroup
from cloud.wechat.callback import scene_for
from cloud.wechat.client import MedfixWeChatClient
from cloud.wechat.models import WechatPermanentQr
from cloud.wechat.store import SharedStore

log = logging.getLogger("medfix.wechat.qrcodes")

WARN_FRACTION = 0.9
QR_LIMIT_ERRCODE = 45029  # WeChat: qrcode count out of limit
WARNING_TTL_S = 24 * 3600  # the audit warning is recorded at most once a day per account; the log says it each time
ACTOR = Actor.system("wechat-qr")
WARNING_ACTION = "wechat_qr_cap_warning"


class CapReached(RuntimeError):
    """The account holds as many permanent codes as it may."""


def wants_permanent(kind: TargetKind, target: Device | DeviceGroup) -> bool:
    """Groups and key devices get a permanent parametric code; other devices keep the URL QR."""
    if kind == TargetKind.device_group:
        return True
    return isinstance(target, Device) and bool(target.is_key)


@dataclass
class PermanentQrCodes:
    """Issues, counts and records the permanent codes of one Official Account."""

    settings: Settings
    client: MedfixWeChatClient
    store: SharedStore

    @property
    def appid(self) -> str:
        """The account the codes are counted on."""
        return self.settings.wechat_appid

    @property
    def cap(self) -> int:
        """How many permanent codes the account may hold."""
        return self.settings.wechat_permanent_qr_cap

    def count(self, session: Session) -> int:
        """Permanent codes issued on this account so far."""
        stmt = select(func.count()).select_from(WechatPermanentQr).where(WechatPermanentQr.appid == self.appid)
        return int(session.execute(stmt).scalar_one())

    def _ledger(self, session: Session, scene: str) -> WechatPermanentQr | None:
        stmt = select(WechatPermanentQr).where(WechatPermanentQr.appid == self.appid,
                                               WechatPermanentQr.scene == scene)
        return session.execute(stmt).scalar_one_or_none()

    def _warn_if_near(self, session: Session, used: int) -> None:
        threshold = math.ceil(self.cap * WARN_FRACTION)
        if used < threshold:
            return
        log.warning("WeChat permanent QR codes: %d of %d used on %s (over %d%%); further labels fall back to URL "
                    "QR codes at the cap", used, self.cap, self.appid, int(WARN_FRACTION * 100))
        # Checked in the caller's transaction (not the shared store): on SQLite a second connection would wait
        # for this transaction's write lock.
        since = utcnow() - timedelta(seconds=WARNING_TTL_S)
        recent = session.execute(select(AuditLog.id).where(
            AuditLog.action == WARNING_ACTION, AuditLog.entity == "wechat_account", AuditLog.at >= since)).first()
        if recent is None:
            record(session, actor=ACTOR, action=WARNING_ACTION, entity="wechat_account", entity_id=None,
                   after={"appid": self.appid, "used": used, "cap": self.cap})

    def issue(self, session: Session, *, row: QrCode) -> QrCode:
        """Give row a permanent code (stored on it), or raise CapReached; an existing one is kept.

        Call it with no write pending: the client may refresh the token through the shared store, which on
        SQLite needs the database's write lock.
        """
        if row.wechat_url:
            return row
        scene = scene_for(row.target_kind, row.code)
        ledger = self._ledger(session, scene)
        if ledger is None:
            # No cross-worker lock here: the caller's transaction may already hold SQLite's write lock. Two
            # workers racing at the cap overshoot our count by one at most, and WeChat's own refusal (45029)
            # is treated as the cap too; WeChat answers the same ticket for the same scene, so a race on one
            # label is settled by the (appid, scene) unique constraint.
            used = self.count(session)
            if used >= self.cap:
                log.warning("WeChat permanent QR cap reached (%d of %d on %s); %s keeps its URL QR",
                            used, self.cap, self.appid, scene)
                raise CapReached(f"{used} of {self.cap} permanent QR codes are used")
            try:
                answer = self.client.create_permanent_qr(scene)
            except WeChatClientException as exc:
                if exc.errcode == QR_LIMIT_ERRCODE:
                    raise CapReached("WeChat says the account has no permanent QR codes left") from exc
                raise
            ledger = WechatPermanentQr(appid=self.appid, scene=scene, ticket=str(answer["ticket"]),
                                       url=str(answer["url"]))
            try:
                with session.begin_nested():
                    session.add(ledger)
            except IntegrityError:
                ledger = self._ledger(session, scene)
                assert ledger is not None
            else:
                self._warn_if_near(session, used + 1)
        row.wechat_scene, row.wechat_ticket, row.wechat_url = scene, ledger.ticket, ledger.url
        session.flush()
        return row

    def ensure(self, session: Session, items: Iterable[tuple[QrCode, Device | DeviceGroup]]) -> None:
        """Issue permanent codes for the labels that deserve one and commit each; failures leave the URL QR."""
        session.commit()  # the labels' rows first: issuing needs the shared store, which may be this database
        for row, target in items:
            if row.wechat_url or not wants_permanent(row.target_kind, target):
                continue
            try:
                self.issue(session, row=row)
                # Kept at once: WeChat has counted this code, so a failure later in the batch must not lose it.
                session.commit()
            except CapReached:
                session.rollback()
                return  # every further one would be refused too
            except (WeChatException, OSError) as exc:
                session.rollback()
                log.warning("could not issue a WeChat QR code for %s: %s; the label keeps its URL QR",
                            row.code, exc)

"""Uploads nobody used are swept (security finding 3 of issue #13): a photo or voice note that no ticket and no
service-group message took within `upload_unattached_hours` goes, its row and, when nothing else names it, its file.

Files are kept by content hash and shared: the same bytes may back another upload, a device photo or WeChat's
original recording, so a file is deleted only when no row names it any more, checked again after the commit.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.config import Settings
from cloud.db import utcnow
from cloud.identify.models import DevicePhoto
from cloud.registry.models import Device
from cloud.servicegroups.models import ServiceGroupMessage
from cloud.tickets.models import TicketAttachment
from cloud.wechat.models import WechatMedia

log = logging.getLogger("medfix.uploads")

BATCH = 500


def sweep_batch(session: Session, *, older_than: timedelta, now: datetime | None = None,
                after_id: int = 0) -> tuple[int, set[str], int | None]:
    """Delete the unattached uploads older than older_than among the next BATCH ones after after_id:
    (how many went, the file paths they named, the last id looked at; None when there are no more).

    The caller commits, then removes the files `unused_files` still finds unnamed."""
    cutoff = (now or utcnow()) - older_than
    rows = list(session.execute(
        select(TicketAttachment).where(TicketAttachment.ticket_id.is_(None), TicketAttachment.created_at < cutoff,
                                       TicketAttachment.id > after_id)
        .order_by(TicketAttachment.id).limit(BATCH)).scalars())
    if not rows:
        return 0, set(), None
    # A chat message names its uploads in a JSON list (they stay without a ticket), and is posted after them.
    in_messages: set[int] = set()
    oldest = min(row.created_at for row in rows)
    for ids in session.execute(select(ServiceGroupMessage.attachment_ids)
                               .where(ServiceGroupMessage.created_at >= oldest)).scalars():
        in_messages.update(ids or [])
    stale = [row for row in rows if row.id not in in_messages]
    if not stale:
        return 0, set(), rows[-1].id
    ids = [row.id for row in stale]
    paths = {row.path for row in stale if row.path}
    media = session.execute(select(WechatMedia).where(WechatMedia.attachment_id.in_(ids))).scalars().all()
    paths |= {m.original_path for m in media if m.original_path}  # "" while a WeChat fetch is pending
    session.execute(delete(WechatMedia).where(WechatMedia.attachment_id.in_(ids)))
    session.execute(delete(TicketAttachment).where(TicketAttachment.id.in_(ids)))
    return len(ids), paths, rows[-1].id


def unused_files(session: Session, paths: set[str]) -> set[str]:
    """Those of paths no upload, WeChat original, device photo or thumbnail names."""
    if not paths:
        return set()
    named: set[str] = set()
    listed = sorted(paths)
    named.update(session.execute(select(TicketAttachment.path).where(TicketAttachment.path.in_(listed))).scalars())
    named.update(session.execute(select(WechatMedia.original_path)
                                 .where(WechatMedia.original_path.in_(listed))).scalars())
    for photo, thumb in session.execute(select(DevicePhoto.path, DevicePhoto.thumb_path).where(
            or_(DevicePhoto.path.in_(listed), DevicePhoto.thumb_path.in_(listed)))):
        named.update((photo, thumb))
    for photos in session.execute(select(Device.photos)).scalars():  # the registry's own list of photo paths
        named.update(photos or [])
    return paths - named


def sweep_unattached(sessions: sessionmaker[Session], settings: Settings, *, now: datetime | None = None) -> int:
    """The periodic job's run (cloud/main.py): sweep in batches, each its own transaction; how many uploads went."""
    older_than = timedelta(hours=settings.upload_unattached_hours)
    total, after_id = 0, 0
    while True:
        with sessions() as session:
            count, paths, last_id = sweep_batch(session, older_than=older_than, now=now, after_id=after_id)
            session.commit()
            unused = unused_files(session, paths)
        data_dir = settings.data_dir.resolve()
        for relative in unused:
            target = (data_dir / relative).resolve()
            if target.is_relative_to(data_dir / "uploads"):
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
        total += count
        if last_id is None:
            break
        after_id = last_id
    if total:
        log.info("swept %s unattached upload(s)", total)
    return total

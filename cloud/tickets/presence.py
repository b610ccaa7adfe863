"""Who may name a device by its id when reporting, and how everyone else proves they stand at it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.auth.models import User, Verification
from cloud.config import Settings
from cloud.errors import Forbidden, NotFound
from cloud.qr.models import TargetKind
from cloud.qr.service import resolve
from cloud.registry.backup import PASS_PREFIX, pass_device
from cloud.registry.models import Device, DeviceGroup
from cloud.tickets.schemas import TicketSubmit


def may_skip_label(user: User | None) -> bool:
    """Staff and verified lab users may name a device by its id; anyone else proves presence with its label."""
    return user is not None and (user.is_staff or user.verification == Verification.verified)


def check_label(session: Session, data: TicketSubmit, device: Device | None, group: DeviceGroup | None,
                settings: Settings) -> None:
    """Without a trusted account the reporter must hold the device's (or its group's) label code, or a by-ID pass
    (issued to whoever typed the nameplate serial together with the system number, cloud/web/report.py)."""
    if not data.qr_code:
        raise Forbidden("scan the device's QR label (or sign in) to report it")
    if data.qr_code.startswith(PASS_PREFIX):
        passed = pass_device(settings, data.qr_code)
        if passed is None:
            raise Forbidden("this QR code is not valid; scan the label again")
        if device is None or group is not None or passed != device.id:
            raise Forbidden("the QR code belongs to another device")
        return
    try:
        found = resolve(session, code=data.qr_code)
    except NotFound:
        raise Forbidden("this QR code is not valid; scan the label again") from None
    if found.kind == TargetKind.device:
        matches = device is not None and found.target_id == device.id and group is None
    else:
        matches = group is not None and found.target_id == group.id
    if not matches:
        raise Forbidden("the QR code belongs to another device")

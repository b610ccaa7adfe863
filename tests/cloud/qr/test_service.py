"""QR service: one active code per target, random codes, reissue and resolve, the schema on both backends."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit.models import AuditLog
from cloud.errors import NotFound
from cloud.qr import service
from cloud.qr.models import CodeStatus, QrCode, TargetKind
from cloud.registry import service as registry_service
from cloud.tenancy import Scope
from tests.cloud.world import ACTOR, World

DEVICE = TargetKind.device
GROUP = TargetKind.device_group


def test_code_for_returns_the_same_active_code_on_every_call(db: Session, world: World) -> None:
    first = service.code_for(db, kind=DEVICE, target_id=world.devices_a[0], actor=ACTOR)
    db.commit()
    again = service.code_for(db, kind=DEVICE, target_id=world.devices_a[0], actor=ACTOR)
    assert again.code == first.code
    count = db.execute(select(func.count()).select_from(QrCode)).scalar_one()
    assert count == 1


def test_each_target_gets_its_own_code_and_groups_are_separate_from_devices(
        db: Session, world: World, group_a: int) -> None:
    codes = {service.code_for(db, kind=DEVICE, target_id=d, actor=ACTOR).code for d in world.devices_a}
    codes.add(service.code_for(db, kind=GROUP, target_id=group_a, actor=ACTOR).code)
    assert len(codes) == len(world.devices_a) + 1


def test_codes_are_short_unambiguous_and_not_sequential(db: Session, world: World) -> None:
    codes = [service.code_for(db, kind=DEVICE, target_id=d, actor=ACTOR).code for d in world.devices_a]
    for code in codes:
        assert len(code) == service.CODE_LENGTH == 10
        assert set(code) <= set(service.ALPHABET)
        assert not set(code) & set("01ILO")
    # Consecutive devices share no visible structure: no common prefix, no sortable order by id.
    assert len({c[:3] for c in codes}) == len(codes)


def test_new_codes_are_uniformly_random() -> None:
    sample = [service.new_code() for _ in range(3000)]
    assert len(set(sample)) == len(sample)
    counts = Counter("".join(sample))
    expected = len(sample) * service.CODE_LENGTH / len(service.ALPHABET)  # about 968 per character
    assert set(counts) == set(service.ALPHABET)
    assert all(0.75 * expected < n < 1.25 * expected for n in counts.values()), counts
    # Every position varies too (a counter or timestamp would pin the leading characters).
    for position in range(service.CODE_LENGTH):
        assert len({code[position] for code in sample}) == len(service.ALPHABET)


def test_database_admits_only_one_active_code_per_target(db: Session, world: World) -> None:
    device_id = world.devices_a[0]
    db.add(QrCode(code=service.new_code(), target_kind=DEVICE, target_id=device_id, status=CodeStatus.active))
    db.commit()
    db.add(QrCode(code=service.new_code(), target_kind=DEVICE, target_id=device_id, status=CodeStatus.active))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()
    # Retired codes of the same target are fine, as is an active code of a group with the same id.
    db.add(QrCode(code=service.new_code(), target_kind=DEVICE, target_id=device_id, status=CodeStatus.replaced))
    db.add(QrCode(code=service.new_code(), target_kind=GROUP, target_id=device_id, status=CodeStatus.active))
    db.commit()


def test_reissue_replaces_the_old_code_which_then_points_to_the_current_one(db: Session, world: World) -> None:
    device_id = world.devices_a[1]
    old = service.code_for(db, kind=DEVICE, target_id=device_id, actor=ACTOR).code
    new = service.reissue(db, kind=DEVICE, target_id=device_id, actor=ACTOR)
    db.commit()
    assert new.code != old
    stored_old = service.lookup(db, code=old)
    assert stored_old is not None
    assert stored_old.status == CodeStatus.replaced
    assert stored_old.replaced_by_code == new.code
    assert stored_old.retired_at is not None
    replaced = service.resolve(db, code=old)
    assert isinstance(replaced, service.Replaced)
    assert replaced.current_code == new.code
    assert replaced.target_id == device_id
    found = service.resolve(db, code=new.code)
    assert isinstance(found, service.Found)
    assert found.target.id == device_id
    assert service.code_for(db, kind=DEVICE, target_id=device_id, actor=ACTOR).code == new.code


def test_a_twice_reprinted_label_sends_the_first_code_to_the_latest(db: Session, world: World) -> None:
    device_id = world.devices_a[2]
    first = service.code_for(db, kind=DEVICE, target_id=device_id, actor=ACTOR).code
    service.reissue(db, kind=DEVICE, target_id=device_id, actor=ACTOR)
    latest = service.reissue(db, kind=DEVICE, target_id=device_id, actor=ACTOR).code
    db.commit()
    resolution = service.resolve(db, code=first)
    assert isinstance(resolution, service.Replaced)
    assert resolution.current_code == latest


def test_issue_and_reissue_are_audited(db: Session, world: World) -> None:
    device_id = world.devices_a[0]
    old = service.code_for(db, kind=DEVICE, target_id=device_id, actor=ACTOR).code
    new = service.reissue(db, kind=DEVICE, target_id=device_id, actor=ACTOR).code
    db.commit()
    rows = db.execute(select(AuditLog).where(AuditLog.entity == "qr_code").order_by(AuditLog.id)).scalars().all()
    assert [r.action for r in rows] == ["issue", "reissue"]
    assert rows[1].before == {"code": old}
    assert rows[1].after is not None and rows[1].after["code"] == new
    assert rows[1].hospital_id == world.hospital_a


def test_resolve_accepts_typed_codes_and_rejects_unknown_ones(db: Session, world: World) -> None:
    code = service.code_for(db, kind=DEVICE, target_id=world.devices_a[0], actor=ACTOR).code
    db.commit()
    typed = f" {code[:5].lower()}-{code[5:].lower()} "
    assert service.resolve(db, code=typed).current_code == code
    with pytest.raises(NotFound):
        service.resolve(db, code="ZZZZZZZZZZ")


def test_revoked_codes_and_codes_of_deleted_devices_resolve_to_not_found(db: Session, world: World) -> None:
    revoked = service.code_for(db, kind=DEVICE, target_id=world.devices_a[0], actor=ACTOR).code
    service.revoke(db, kind=DEVICE, target_id=world.devices_a[0], actor=ACTOR)
    orphan = service.code_for(db, kind=DEVICE, target_id=world.devices_a[3], actor=ACTOR).code
    registry_service.delete_device(db, device_id=world.devices_a[3], actor=ACTOR)
    db.commit()
    for code in (revoked, orphan):
        with pytest.raises(NotFound):
            service.resolve(db, code=code)


def test_code_for_an_unknown_target_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound):
        service.code_for(db, kind=DEVICE, target_id=999_999, actor=ACTOR)
    with pytest.raises(NotFound):
        service.code_for(db, kind=GROUP, target_id=999_999, actor=ACTOR)


def test_codes_for_issues_only_the_missing_codes(db: Session, world: World) -> None:
    existing = service.code_for(db, kind=DEVICE, target_id=world.devices_a[0], actor=ACTOR).code
    targets = [registry_service.get_device(db, device_id=d, scope=Scope.everything()) for d in world.devices_a]
    codes = service.codes_for(db, kind=DEVICE, targets=targets, actor=ACTOR)
    db.commit()
    assert set(codes) == set(world.devices_a)
    assert codes[world.devices_a[0]].code == existing
    count = db.execute(select(func.count()).select_from(QrCode)).scalar_one()
    assert count == len(world.devices_a)


def test_labels_prefer_a_wechat_parametric_url_when_one_was_issued(db: Session, world: World) -> None:
    row = service.code_for(db, kind=DEVICE, target_id=world.devices_a[0], actor=ACTOR)
    assert service.content_for(row, "https://fix.example.cn/") == f"https://fix.example.cn/r/{row.code}"
    row.wechat_url = "http://weixin.qq.com/q/02abcDEF"
    assert service.content_for(row, "https://fix.example.cn") == "http://weixin.qq.com/q/02abcDEF"


def test_url_for_joins_the_public_url_and_code() -> None:
    assert service.url_for("ABCDEFGHJK", "https://fix.example.cn") == "https://fix.example.cn/r/ABCDEFGHJK"
    assert service.url_for("ABCDEFGHJK", "https://fix.example.cn/") == "https://fix.example.cn/r/ABCDEFGHJK"



def test_a_lost_race_to_issue_returns_the_winners_code(db: Session, world: World, app) -> None:  # noqa: ANN001
    device_id = world.devices_a[1]
    target = registry_service.get_device(db, device_id=device_id, scope=Scope.everything())
    with app.state.sessionmaker() as other:  # another request issued the code first and committed
        winner = service.code_for(other, kind=DEVICE, target_id=device_id, actor=ACTOR).code
        other.commit()
    # This request had not seen it and inserts: the partial unique index refuses, the winner's code is used.
    issued = service._issue(db, kind=DEVICE, target=target, actor=ACTOR, action="issue")
    assert issued.code == winner
    db.commit()
    count = db.execute(select(func.count()).select_from(QrCode)).scalar_one()
    assert count == 1

"""Request and response bodies of the registry API."""

from __future__ import annotations

import enum
from datetime import date, datetime
from functools import cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cloud.registry.models import DeviceStatus

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
# A service hotline as printed on labels: mainland landline, mobile or 400/800 numbers, with optional separators.
Hotline = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32,
                                           pattern=r"^(\+?[0-9][0-9 ()-]{2,30})?$")]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _known_zone(name: str) -> str:
    if name not in _zones():
        raise ValueError(f"unknown time zone {name!r}")
    return name


TimeZone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                     AfterValidator(_known_zone)]


class DeviceCategory(enum.StrEnum):
    """Kinds of laboratory instrument; priority and engineer matching use them."""

    chemistry = "chemistry"
    immunoassay = "immunoassay"
    hematology = "hematology"
    coagulation = "coagulation"
    urinalysis = "urinalysis"
    molecular = "molecular"
    blood_gas = "blood_gas"
    microbiology = "microbiology"
    poct = "poct"
    automation = "automation"
    other = "other"


class HospitalIn(BaseModel):
    """A new hospital."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    aliases: list[Name] = []
    address: str = Field("", max_length=400)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    geofence_radius_m: int = Field(1000, ge=10, le=50_000)
    time_zone: TimeZone = "Asia/Shanghai"
    hotline: Hotline = ""

    @model_validator(mode="after")
    def _both_coordinates(self) -> HospitalIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class HospitalUpdate(BaseModel):
    """Changes to a hospital; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    aliases: list[Name] | None = None
    address: str | None = Field(None, max_length=400)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    geofence_radius_m: int | None = Field(None, ge=10, le=50_000)
    time_zone: TimeZone | None = None
    hotline: Hotline | None = None


class DepartmentIn(BaseModel):
    """A new department of a hospital."""

    model_config = ConfigDict(extra="forbid")

    name: Name


class DepartmentOut(BaseModel):
    """A department as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    hospital_id: int
    name: str


class HospitalOut(BaseModel):
    """A hospital as the API shows it; the invite code only to admins."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    aliases: list[str]
    address: str
    latitude: float | None
    longitude: float | None
    geofence_radius_m: int
    invite_code: str | None = None
    invite_code_expires_at: datetime | None = None
    time_zone: str = "Asia/Shanghai"
    hotline: str = ""
    departments: list[DepartmentOut]
    created_at: datetime


class DeviceIn(BaseModel):
    """A new device; the system number is generated."""

    model_config = ConfigDict(extra="forbid")

    serial: ShortText
    manufacturer: ShortText
    model: ShortText
    category: DeviceCategory
    hospital_id: int
    department_id: int | None = None
    install_date: date | None = None
    warranty_end: date | None = None
    keywords: list[Keyword] = []
    photos: list[str] = []
    status: DeviceStatus = DeviceStatus.in_service
    maintenance_score: int = Field(100, ge=0, le=100)
    is_key: bool = False


class DeviceUpdate(BaseModel):
    """Changes to a device; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    serial: ShortText | None = None
    manufacturer: ShortText | None = None
    model: ShortText | None = None
    category: DeviceCategory | None = None
    hospital_id: int | None = None
    department_id: int | None = None
    install_date: date | None = None
    warranty_end: date | None = None
    keywords: list[Keyword] | None = None
    photos: list[str] | None = None
    status: DeviceStatus | None = None
    maintenance_score: int | None = Field(None, ge=0, le=100)
    is_key: bool | None = None


class DeviceOut(BaseModel):
    """A device as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    system_number: str
    serial: str
    manufacturer: str
    model: str
    category: str
    hospital_id: int
    hospital_name: str
    department_id: int | None
    department_name: str | None
    install_date: date | None
    warranty_end: date | None
    keywords: list[str]
    photos: list[str]
    status: DeviceStatus
    maintenance_score: int
    is_key: bool
    group_id: int | None
    group_position: int | None
    created_at: datetime
    updated_at: datetime


class GroupWarning(BaseModel):
    """A member whose model does not belong on the group's line."""

    device_id: int
    system_number: str
    model: str
    message: str


class GroupCreate(BaseModel):
    """Combine: a new group from devices, in line order."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    device_ids: list[int] = Field(min_length=1, max_length=200)
    department_id: int | None = None
    line: str = Field("", max_length=200)
    compatible_models: list[ShortText] = []


class GroupUpdate(BaseModel):
    """Changes to a group's own fields (membership has its own operations)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    department_id: int | None = None
    line: str | None = Field(None, max_length=200)
    compatible_models: list[ShortText] | None = None
    notes: str | None = Field(None, max_length=4000)
    tags: list[Keyword] | None = Field(None, max_length=20)


class GroupSplit(BaseModel):
    """Split: move members to a new group, either all from position `at` on, or the listed devices."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    at: int | None = Field(None, ge=1)
    device_ids: list[int] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> GroupSplit:
        if (self.at is None) == (self.device_ids is None):
            raise ValueError("give exactly one of 'at' (position) or 'device_ids'")
        return self


class GroupMerge(BaseModel):
    """Merge: the other group's members join this one (appended in their order); the other group ends."""

    model_config = ConfigDict(extra="forbid")

    group_id: int


class GroupOrder(BaseModel):
    """Reorder: the full list of member ids in their new order, as drag-and-drop sends it."""

    model_config = ConfigDict(extra="forbid")

    device_ids: list[int] = Field(min_length=1)


class GroupMemberAdd(BaseModel):
    """Add a device to a group at a position (1-based; default: at the end)."""

    model_config = ConfigDict(extra="forbid")

    device_id: int
    position: int | None = Field(None, ge=1)


class GroupMember(BaseModel):
    """A member device in line order."""

    id: int
    system_number: str
    serial: str
    manufacturer: str
    model: str
    status: DeviceStatus
    maintenance_score: int
    position: int


class GroupOut(BaseModel):
    """A group with its ordered members and model warnings."""

    id: int
    system_number: str
    name: str
    hospital_id: int
    hospital_name: str
    department_id: int | None
    line: str
    compatible_models: list[str]
    notes: str = ""
    tags: list[str] = []
    members: list[GroupMember]
    warnings: list[GroupWarning]
    created_at: datetime


class GroupSplitOut(BaseModel):
    """Both halves after a split."""

    original: GroupOut
    new: GroupOut


class ImportReport(BaseModel):
    """The result of a device import: created count or per-row errors (then nothing was written)."""

    created: int
    created_departments: list[str] = []
    errors: list[dict[str, object]] = []
    dry_run: bool = False

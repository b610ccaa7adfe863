"""Request and response bodies of the QR API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.qr.models import TargetKind

MAX_LABELS = 5000  # one request, one PDF: about 210 A4 sheets


class LabelRequest(BaseModel):
    """A batch of labels: any devices and groups, printed in the order given (devices first)."""

    model_config = ConfigDict(extra="forbid")

    template: Literal["a4-3x8", "thermal-50x30"]
    devices: list[int] = Field(default_factory=list, max_length=MAX_LABELS)
    groups: list[int] = Field(default_factory=list, max_length=MAX_LABELS)
    outline: bool = Field(False, description="Draw cut lines (for plain paper instead of die-cut labels).")


class QrInfo(BaseModel):
    """What a scanned code means; a replaced code names the current one."""

    code: str
    kind: TargetKind
    target_id: int
    status: Literal["active", "replaced"]
    current_code: str
    url: str


class IssuedCode(BaseModel):
    """A target's active code after a reissue, with the code it replaced."""

    code: str
    kind: TargetKind
    target_id: int
    url: str
    replaced_code: str | None

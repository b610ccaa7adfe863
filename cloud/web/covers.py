"""Cover images of the WeChat scan reply: the device's own photo, else a product image drawn per category.

Public by the label's code (the label hangs on the device anyway), so WeChat's servers can fetch them. Both kinds
are rendered once with Pillow and cached in the data folder; a new device photo gives a new cache name.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from PIL import Image, ImageDraw, ImageFont, ImageOps

from cloud.config import Settings
from cloud.db import SessionDep
from cloud.deps import SettingsDep
from cloud.errors import NotFound
from cloud.qr import service as qr_service
from cloud.registry.models import Device, DeviceGroup

router = APIRouter(include_in_schema=False)

SIZE = (720, 400)  # WeChat shows a single article's cover at 1.8 : 1
VERSION = "v1"  # bump when the drawing changes, so cached covers are drawn again
FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/noto"))
FONT_NAMES = ("NotoSansCJK-Bold.ttc", "NotoSansCJK-Regular.ttc")
# Category colours: the product image tells a chemistry analyser from a haematology one at a glance.
COLORS = {"chemistry": "#07c160", "immunoassay": "#1485ee", "hematology": "#e64340", "coagulation": "#fa9d3b",
          "urinalysis": "#c9a100", "molecular": "#6467f0", "blood_gas": "#d8336b", "microbiology": "#10aeb5",
          "poct": "#8a5cf6", "automation": "#0d7a5f", "other": "#576b95"}
NAMES = {"chemistry": "生化分析仪", "immunoassay": "免疫分析仪", "hematology": "血液分析仪",
         "coagulation": "凝血分析仪", "urinalysis": "尿液分析仪", "molecular": "分子诊断设备",
         "blood_gas": "血气分析仪", "microbiology": "微生物分析仪", "poct": "即时检验设备",
         "automation": "检验流水线", "other": "检验设备"}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for folder in FONT_DIRS:
        for name in FONT_NAMES:
            if (folder / name).is_file():
                return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default()  # no CJK font on this host: the drawing still says what it is


def _shade(color: str, factor: float) -> tuple[int, int, int]:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(c + (255 - c) * factor) if factor > 0 else int(c * (1 + factor)) for c in (r, g, b))  # type: ignore[return-value]


def draw_product(category: str) -> Image.Image:
    """A clean product picture of a lab analyser of this category: colour band, analyser outline and the name."""
    color = COLORS.get(category, COLORS["other"])
    image = Image.new("RGB", SIZE, _shade(color, 0.88))
    pen = ImageDraw.Draw(image)
    w, h = SIZE
    for y in range(h):  # a soft vertical gradient
        pen.line([(0, y), (w, y)], fill=_shade(color, 0.92 - 0.18 * y / h))
    # the analyser: body, screen, sample rack with tubes, reagent door
    body = (372, 80, 680, 320)
    pen.rounded_rectangle((body[0] + 8, body[1] + 12, body[2] + 8, body[3] + 12), 24, fill=_shade(color, 0.55))
    pen.rounded_rectangle(body, 24, fill="#ffffff", outline=_shade(color, -0.1), width=4)
    pen.rounded_rectangle((396, 104, 516, 184), 10, fill=_shade(color, -0.25))
    for i, bar in enumerate((50, 34, 58, 26)):
        pen.rectangle((412 + i * 26, 172 - bar, 426 + i * 26, 172), fill=_shade(color, 0.6))
    pen.rounded_rectangle((540, 104, 656, 296), 12, outline=_shade(color, 0.3), width=4)
    pen.line([(598, 114), (598, 286)], fill=_shade(color, 0.5), width=3)
    pen.rounded_rectangle((396, 236, 516, 296), 8, fill=_shade(color, 0.75))
    for i in range(5):
        x = 408 + i * 21
        pen.rounded_rectangle((x, 212, x + 12, 266), 5, fill=["#e64340", "#7a7a7a", "#f5c400"][i % 3])
    pen.ellipse((636, 90, 652, 106), fill=color)
    # the name, left, in the category colour
    title, small = _font(48), _font(24)
    pen.text((44, 132), NAMES.get(category, NAMES["other"]), font=title, fill=_shade(color, -0.35))
    pen.text((46, 204), "扫码报修 · medfix", font=small, fill=_shade(color, -0.2))
    pen.rectangle((46, 250, 118, 256), fill=color)
    return image


def _cache(settings: Settings) -> Path:
    folder = settings.data_dir / "covers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def product_cover(settings: Settings, category: str) -> Path:
    """The cached PNG product image of a category (drawn on first use)."""
    category = category if category in COLORS else "other"
    path = _cache(settings) / f"product-{category}-{VERSION}.png"
    if not path.is_file():
        tmp = path.with_suffix(".tmp")
        draw_product(category).save(tmp, format="PNG", optimize=True)
        tmp.replace(path)  # atomic: two first requests at once both end with a whole file
    return path


def photo_cover(settings: Settings, relative: str) -> Path | None:
    """The device photo cropped to the cover's shape (cached), or None when the file is gone or unreadable."""
    source = (settings.data_dir / relative).resolve()
    if not source.is_file() or settings.data_dir.resolve() not in source.parents:
        return None
    path = _cache(settings) / f"photo-{hashlib.sha256(relative.encode()).hexdigest()[:24]}-{VERSION}.jpg"
    if not path.is_file():
        try:
            with Image.open(source) as image:
                cover = ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), SIZE, Image.Resampling.LANCZOS)
        except OSError:
            return None
        tmp = path.with_suffix(".tmp")
        cover.save(tmp, format="JPEG", quality=85, optimize=True)
        tmp.replace(path)
    return path


def cover_for(settings: Settings, target: Device | DeviceGroup) -> Path:
    """A device's (or a group's first member's) photo as a cover, else its category's product image."""
    devices = [target] if isinstance(target, Device) else list(target.members)
    for device in devices:
        for relative in device.photos or []:
            found = photo_cover(settings, relative)
            if found is not None:
                return found
    if isinstance(target, DeviceGroup):
        return product_cover(settings, "automation")
    return product_cover(settings, target.category or "other")


def cover_url(public_url: str, code: str) -> str:
    """Where WeChat fetches the cover of the label `code`."""
    return f"{public_url.rstrip('/')}/r/{code}/cover.jpg"


@router.get("/r/{code}/cover.jpg")
def cover(code: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """The scan reply's cover image of a label's device or group (JPEG photo or PNG product image)."""
    try:
        found = qr_service.resolve(session, code=code)
    except NotFound:
        found = None
    # An unknown label still gets a picture, and tells nothing more.
    path = cover_for(settings, found.target) if found is not None else product_cover(settings, "other")
    media = "image/png" if path.suffix == ".png" else "image/jpeg"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=3600"})

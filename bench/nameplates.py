"""Synthetic analyzer nameplates, photographed badly: the OCR benchmark's and tests' images.

A nameplate carries the manufacturer, the product name in Chinese, the model, the serial (序列号 / S/N) and,
for about half, the medfix system-number sticker (系统编号 MF-000123). The "photo" puts it on a device panel and
adds what phones do: rotation (±8°), perspective, blur, sensor noise, a lighting gradient and JPEG compression.
Everything is seeded: the same seed gives the same image.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/truetype/dejavu"),
             Path("/usr/share/fonts/truetype/liberation"))
# Latin faces for the codes; the CJK face draws the Chinese words (it also has Latin glyphs).
LATIN_FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSerif.ttf",
               "DejaVuSansCondensed.ttf", "LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf",
               "LiberationMono-Regular.ttf", "LiberationSerif-Regular.ttf", "LiberationSansNarrow-Regular.ttf")
CJK_FONTS = ("NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc", "NotoSerifCJK-Regular.ttc")

MAKERS = [
    ("Roche Diagnostics", "cobas c 702", "全自动生化分析仪", "{d4}-{d2}"),
    ("Roche Diagnostics", "cobas e 801", "电化学发光免疫分析仪", "{d4}-{d2}"),
    ("Sysmex", "XN-1000", "全自动血液体液分析仪", "{d5}"),
    ("Sysmex", "CS-5100", "全自动血凝分析仪", "{L}{d5}"),
    ("Mindray", "BC-6800", "全自动血液细胞分析仪", "{L}{L}-{d2}{L}{d6}"),
    ("Mindray", "BS-2000M", "全自动生化分析仪", "{L}{L}-{d2}{L}{d6}"),
    ("Beckman Coulter", "AU5800", "全自动生化分析仪", "{d4}{d5}"),
    ("Abbott", "ARCHITECT i2000SR", "全自动免疫分析仪", "ISR{d5}"),
    ("Siemens Healthineers", "ADVIA 2400", "全自动生化分析系统", "{d4}-{d4}"),
    ("Snibe", "MAGLUMI X8", "全自动化学发光免疫分析仪", "{L}{d2}{d6}"),
]
# Letters that OCR confuses with digits are kept on purpose: the matcher must cope with them.
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZOIB"


@dataclass(frozen=True)
class Plate:
    """What a generated nameplate says."""

    manufacturer: str
    model: str
    product: str
    serial: str
    system_number: str | None


def _fill(pattern: str, rng: random.Random) -> str:
    out = pattern
    makers = {"{d6}": lambda: f"{rng.randrange(10**6):06d}", "{d5}": lambda: f"{rng.randrange(10**5):05d}",
              "{d4}": lambda: f"{rng.randrange(10**4):04d}", "{d2}": lambda: f"{rng.randrange(100):02d}",
              "{L}": lambda: rng.choice(LETTERS)}
    for token, make in makers.items():
        while token in out:
            out = out.replace(token, make(), 1)
    return out


def make_plates(count: int, *, seed: int = 0) -> list[Plate]:
    """count nameplates with unique realistic serials and system numbers (MF-000001 ...)."""
    rng = random.Random(seed)
    plates, seen = [], set()
    number = rng.randrange(1, 5000)
    while len(plates) < count:
        maker, model, product, pattern = rng.choice(MAKERS)
        serial = _fill(pattern, rng)
        if serial in seen:
            continue
        seen.add(serial)
        number += 1
        plates.append(Plate(maker, model, product, serial, f"MF-{number:06d}" if rng.random() < 0.5 else None))
    return plates


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for folder in FONT_DIRS:
        if (folder / name).exists():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size)


def draw_plate(plate: Plate, rng: random.Random) -> Image.Image:
    """The flat nameplate: a metal-grey or white label with the text lines."""
    size = rng.randint(30, 44)
    latin = _font(rng.choice(LATIN_FONTS), size)
    cjk = _font(rng.choice(CJK_FONTS), size)
    big = _font(rng.choice(LATIN_FONTS), int(size * 1.3))
    lines: list[tuple[str, ImageFont.FreeTypeFont, str | None]] = [
        (plate.manufacturer, big, None), (plate.product, cjk, None),
        ("型号 Model:", cjk, plate.model), ("序列号 S/N:", cjk, plate.serial),
        ("生产日期 Date:", cjk, f"20{rng.randint(12, 24)}-{rng.randint(1, 12):02d}"),
        ("电源 Power:", cjk, f"AC {rng.choice(['220V', '230V', '100-240V'])} 50Hz {rng.choice([800, 1500, 2500])}VA"),
    ]
    if plate.system_number:
        lines.append(("系统编号:", cjk, plate.system_number))
    rng.shuffle(lines[2:])  # the field order differs between manufacturers
    width = int(size * rng.uniform(17, 21))
    height = int(size * 1.75 * len(lines) + size * 1.5)
    background = rng.choice([(236, 236, 232), (250, 250, 250), (200, 204, 208), (222, 214, 190)])
    ink = rng.choice([(20, 20, 20), (35, 35, 60), (60, 20, 20)])
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, width - 5, height - 5), outline=ink, width=3)
    y = size // 2 + 4
    for label, font, value in lines:
        draw.text((size // 2 + 6, y), label, font=font, fill=ink)
        if value is not None:
            x = size // 2 + 6 + draw.textlength(label, font=font) + size // 2
            draw.text((x, y), value, font=latin, fill=ink)
        y += int(size * 1.75)
    return image


def _perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    matrix = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        matrix.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        matrix.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.array(matrix, dtype=float)
    b = np.array([c for point in src for c in point], dtype=float)
    return list(np.linalg.solve(a, b))


def photograph(plate_image: Image.Image, rng: random.Random, *, hard: bool = True) -> Image.Image:
    """The nameplate as a phone would see it on the device: tilted, skewed, blurred, noisy, unevenly lit."""
    w, h = plate_image.size
    canvas = Image.new("RGB", (int(w * rng.uniform(1.25, 1.6)), int(h * rng.uniform(1.3, 1.7))),
                       tuple(rng.randint(90, 190) for _ in range(3)))  # type: ignore[arg-type]
    ox, oy = (canvas.width - w) // 2 + rng.randint(-20, 20), (canvas.height - h) // 2 + rng.randint(-20, 20)
    canvas.paste(plate_image, (ox, oy))
    image = canvas.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC, expand=False,
                          fillcolor=canvas.getpixel((0, 0)))
    if hard:
        cw, ch = image.size
        jitter = 0.06
        dst = [(rng.uniform(0, jitter) * cw, rng.uniform(0, jitter) * ch),
               (cw - rng.uniform(0, jitter) * cw, rng.uniform(0, jitter) * ch),
               (cw - rng.uniform(0, jitter) * cw, ch - rng.uniform(0, jitter) * ch),
               (rng.uniform(0, jitter) * cw, ch - rng.uniform(0, jitter) * ch)]
        src = [(0, 0), (cw, 0), (cw, ch), (0, ch)]
        image = image.transform((cw, ch), Image.Transform.PERSPECTIVE, _perspective_coeffs(src, dst),
                                Image.Resampling.BICUBIC, fillcolor=(30, 30, 30))
    scale = rng.uniform(0.55, 1.1)  # the phone's distance: smaller text is harder
    image = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS)
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 1.3 if hard else 0.5)))
    pixels = np.asarray(image).astype(np.float32)
    # Light from one side: up to 45 % darker across the plate.
    gradient = np.linspace(1.0, 1.0 - rng.uniform(0.0, 0.45), image.width, dtype=np.float32)
    if rng.random() < 0.5:
        gradient = gradient[::-1]
    pixels *= gradient[None, :, None]
    pixels += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(2, 10), pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=rng.randint(35, 90))
    return Image.open(io.BytesIO(out.getvalue()))


def nameplate_photo(plate: Plate, *, seed: int, hard: bool = True) -> bytes:
    """JPEG bytes of a photographed nameplate."""
    rng = random.Random(seed)
    image = photograph(draw_plate(plate, rng), rng, hard=hard)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()

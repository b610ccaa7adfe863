"""Synthetic device photos for the identify tests: seeded shapes a re-photograph must still resemble."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageEnhance


def device_picture(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """An 'analyzer' of its own: a body colour, panels, a screen and buttons placed by the seed."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randint(40, 230) for _ in range(3)))  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    w, h = size
    for _ in range(rng.randint(4, 7)):
        x0, y0 = rng.randint(0, w - 60), rng.randint(0, h - 60)
        x1, y1 = x0 + rng.randint(40, w // 2), y0 + rng.randint(30, h // 2)
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        if rng.random() < 0.3:
            draw.ellipse((x0, y0, x1, y1), fill=colour)  # type: ignore[arg-type]
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)  # type: ignore[arg-type]
    return image


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """JPEG bytes of an image."""
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def rephotograph(image: Image.Image) -> bytes:
    """The same device shot again: a bit closer (cropped), tilted 4°, brighter, recompressed."""
    w, h = image.size
    closer = image.crop((int(w * 0.06), int(h * 0.06), int(w * 0.94), int(h * 0.94)))
    tilted = closer.rotate(4, resample=Image.Resampling.BICUBIC, fillcolor=closer.getpixel((2, 2)))
    brighter = ImageEnhance.Brightness(tilted).enhance(1.25)
    return jpeg(brighter.resize((int(w * 1.3), int(h * 1.3))), quality=70)

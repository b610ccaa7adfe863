"""Device photos: checked by content, kept under the data folder like ticket uploads, and hashed for matching.

Perceptual hashes (imagehash phash + dhash, 64 bits each) survive re-encoding, lighting and small rotations;
hashes of centre crops let a closer shot of the device meet its stored photo; a coarse HSV histogram separates
devices whose shapes look alike but whose colours do not.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cloud.errors import Invalid
from cloud.files import keep
from cloud.tickets.uploads import IMAGE_TYPES, MAX_IMAGE_PIXELS

THUMB_SIZE = 240
CROPS = (0.9, 0.75)
TURNS = (-4.0, 4.0)
HUE_BINS, SAT_BINS, VAL_BINS = 8, 3, 3


class BadPhoto(Invalid):
    """A photo that cannot be used; the message is the English key of a zh-CN text (cloud/locale)."""


@dataclass(frozen=True)
class Features:
    """What matching needs of a photo."""

    phash: str
    dhash: str
    variants: list[list[str]]
    colors: list[float]


def open_photo(content: bytes, *, max_mb: int) -> tuple[Image.Image, str, str]:
    """The decoded, upright RGB image with its (content type, extension); BadPhoto when it is not one."""
    if not content:
        raise BadPhoto("The photo is empty.", [{"field": "photo", "message": "empty"}])
    if len(content) > max_mb * 1024 * 1024:
        raise BadPhoto("The photo is too large.", [{"field": "photo", "message": f"over {max_mb} MB"}])
    try:
        with Image.open(io.BytesIO(content)) as probe:
            kind = probe.format or ""
            width, height = probe.size
            probe.verify()
        if kind not in IMAGE_TYPES:
            raise BadPhoto("This is not a photo we can read (JPEG, PNG, WebP or GIF).",
                           [{"field": "photo", "message": "unsupported image type"}])
        if width * height > MAX_IMAGE_PIXELS:
            raise BadPhoto("The photo is too large.", [{"field": "photo", "message": "too many pixels"}])
        image = Image.open(io.BytesIO(content))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadPhoto("This is not a photo we can read (JPEG, PNG, WebP or GIF).",
                       [{"field": "photo", "message": "not an image"}]) from exc
    content_type, extension = IMAGE_TYPES[kind]
    return ImageOps.exif_transpose(image).convert("RGB"), content_type, extension


def _crop(image: Image.Image, share: float) -> Image.Image:
    w, h = image.size
    dw, dh = int(w * (1 - share) / 2), int(h * (1 - share) / 2)
    return image.crop((dw, dh, w - dw, h - dh))


def _colors(image: Image.Image) -> list[float]:
    small = image.copy()
    small.thumbnail((96, 96))
    hsv = np.asarray(small.convert("HSV"), dtype=np.int32).reshape(-1, 3)
    index = (hsv[:, 0] * HUE_BINS // 256) * SAT_BINS * VAL_BINS + (hsv[:, 1] * SAT_BINS // 256) * VAL_BINS \
        + hsv[:, 2] * VAL_BINS // 256
    counts = np.bincount(index, minlength=HUE_BINS * SAT_BINS * VAL_BINS).astype(np.float64)
    return [round(float(v), 4) for v in counts / max(counts.sum(), 1.0)]


def features(image: Image.Image, *, query: bool = False) -> Features:
    """The perceptual hashes of the photo and of its centre crops, and its colour histogram; a user's photo
    (query) also gets slightly turned versions, since phones are rarely held level."""
    gray = ImageOps.autocontrast(image.convert("L"), cutoff=1)  # lighting changes move hashes less
    parts = [gray, *(_crop(gray, share) for share in CROPS)]
    if query:
        parts += [_crop(gray.rotate(angle, resample=Image.Resampling.BICUBIC), CROPS[0]) for angle in TURNS]
    variants = [[str(imagehash.phash(part)), str(imagehash.dhash(part))] for part in parts]
    return Features(phash=variants[0][0], dhash=variants[0][1], variants=variants, colors=_colors(image))


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def similarity(query: Features, variants: list[list[str]], colors: list[float]) -> float:
    """0..1: how alike a user's photo is to a stored one (1 = the same picture)."""
    shape = min(
        (_hamming(q[0], v[0]) + _hamming(q[1], v[1])) / 128.0
        for q in query.variants for v in variants
    )
    colour = 0.5 * sum(abs(a - b) for a, b in zip(query.colors, colors, strict=False)) if colors else 0.5
    return round(max(0.0, 1.0 - (0.75 * shape + 0.25 * colour)), 3)


def write_file(data_dir: Path, content: bytes, extension: str) -> tuple[str, str]:
    """Keep bytes under data_dir/uploads by their SHA-256, as ticket uploads are kept; (relative path, sha)."""
    digest = hashlib.sha256(content).hexdigest()
    relative = Path("uploads") / digest[:2] / f"{digest}.{extension}"
    target = data_dir / relative
    keep(target, content)  # fsynced and renamed into place; a short or empty leftover is written again
    return str(relative), digest


def thumbnail_bytes(image: Image.Image, size: int = THUMB_SIZE) -> bytes:
    """A small JPEG of the photo for lists and candidates."""
    thumb = image.copy()
    thumb.thumbnail((size, size))
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=80)
    return out.getvalue()


def data_url(jpeg: bytes) -> str:
    """A JPEG as a data: URL (candidates travel with their thumbnails, so no extra access rule is needed)."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")

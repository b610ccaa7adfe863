"""Reading a nameplate photo with Tesseract (Debian's tesseract-ocr, chi_sim + eng) after cleaning it up.

Phone photos of nameplates are tilted a few degrees, unevenly lit and often small. Each pass prepares the image
(grayscale, autocontrast, upscale, deskew by the projection profile, optionally a threshold) and asks
Tesseract once; the caller stops at the first pass whose text names a device, so a clear photo costs one call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pytesseract
from PIL import Image, ImageFilter, ImageOps

from cloud.identify.matching import Identifier, TextMatch, match_text

LANGUAGES = "chi_sim+eng"
TARGET_WIDTH = 1500  # text about 30-60 px high on a typical plate photo: Tesseract's sweet spot
MAX_WIDTH = 2000
TIMEOUT_S = 8


class OcrUnavailable(RuntimeError):
    """Tesseract is not installed or failed; the caller falls back to photo matching."""


@dataclass(frozen=True)
class Pass:
    """One way of preparing the image and asking Tesseract."""

    name: str
    languages: str
    psm: int
    threshold: bool


# The first pass reads Chinese and Latin, as the user sees the plate; the next ones read only Latin codes
# (faster, and "eng" alone guesses Latin for blurred glyphs that chi_sim would take for Chinese).
PASSES = (Pass("gray", LANGUAGES, 6, False), Pass("binary", "eng", 11, True), Pass("sparse", "eng", 6, True))


def _skew_angle(gray: Image.Image) -> float:
    """The rotation (degrees, ±8) that makes the text lines horizontal: the sharpest row profile wins."""
    small = gray.copy()
    small.thumbnail((500, 500))
    ink = np.asarray(small, dtype=np.float32)
    mask = Image.fromarray(((ink < ink.mean() - ink.std() * 0.5) * 255).astype(np.uint8))
    best, best_angle = -1.0, 0.0
    for angle in np.arange(-8.0, 8.01, 1.0):
        rows = np.asarray(mask.rotate(float(angle), resample=Image.Resampling.NEAREST), dtype=np.float32).sum(axis=1)
        sharpness = float(np.square(np.diff(rows)).sum())
        if sharpness > best:
            best, best_angle = sharpness, float(angle)
    # Refine around the coarse answer by half degrees.
    for angle in (best_angle - 0.5, best_angle + 0.5):
        rows = np.asarray(mask.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.float32).sum(axis=1)
        sharpness = float(np.square(np.diff(rows)).sum())
        if sharpness > best:
            best, best_angle = sharpness, angle
    return best_angle


def _otsu(gray: Image.Image) -> Image.Image:
    histogram = np.asarray(gray.histogram(), dtype=np.float64)
    total = histogram.sum()
    levels = np.arange(256)
    weight = np.cumsum(histogram)
    mean = np.cumsum(histogram * levels)
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1e-9)
    cut = int(np.argmax(between))
    return gray.point(lambda v: 255 if v > cut else 0)


def prepare(image: Image.Image) -> Image.Image:
    """Grayscale, autocontrast, flattened lighting, scaled to Tesseract's liking and deskewed."""
    gray = ImageOps.exif_transpose(image).convert("L")
    scale = TARGET_WIDTH / gray.width if gray.width < TARGET_WIDTH * 0.8 else min(1.0, MAX_WIDTH / gray.width)
    if scale != 1.0:
        gray = gray.resize((max(1, int(gray.width * scale)), max(1, int(gray.height * scale))),
                           Image.Resampling.LANCZOS)
    # Divide by a heavy blur of itself: a light gradient across the plate becomes flat paper.
    background = gray.filter(ImageFilter.GaussianBlur(max(gray.width, gray.height) / 30))
    flat = np.asarray(gray, dtype=np.float32) / np.maximum(np.asarray(background, dtype=np.float32), 1.0)
    gray = ImageOps.autocontrast(Image.fromarray(np.clip(flat * 200, 0, 255).astype(np.uint8)), cutoff=1)
    angle = _skew_angle(gray)
    if angle:
        gray = gray.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return gray


def read_passes(image: Image.Image) -> Iterator[tuple[str, str]]:
    """(pass name, text) for each pass in turn; stop iterating when the text is good enough."""
    # One thread per Tesseract process (it inherits our environment): on a small shared box OpenMP's threads
    # fight each other and the API workers, and one photo is too small to gain from them.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    prepared = prepare(image)
    binary: Image.Image | None = None
    for spec in PASSES:
        source = prepared
        if spec.threshold:
            binary = binary or _otsu(prepared)
            source = binary
        try:
            text = pytesseract.image_to_string(source, lang=spec.languages, config=f"--psm {spec.psm}",
                                               timeout=TIMEOUT_S)
        except (pytesseract.TesseractNotFoundError, pytesseract.TesseractError, RuntimeError) as exc:
            raise OcrUnavailable(str(exc)) from exc
        yield spec.name, text


@dataclass(frozen=True)
class NameplateReading:
    """What the nameplate says and which device it names (matches is empty or one device)."""

    text: str
    matches: list[TextMatch]
    passes: int


def read_nameplate(image: Image.Image, identifiers: Sequence[Identifier]) -> NameplateReading:
    """OCR the photo pass by pass until its text names exactly one of identifiers' devices."""
    texts: list[str] = []
    for _name, text in read_passes(image):
        texts.append(text)
        matches = match_text(text, identifiers)
        if matches:
            return NameplateReading(text=texts[0] if len(texts[0].strip()) >= len(text.strip()) else text,
                                    matches=matches, passes=len(texts))
    return NameplateReading(text=max(texts, key=lambda t: len(t.strip()), default=""), matches=[],
                            passes=len(texts))

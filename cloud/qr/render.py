"""QR images (PNG, SVG) and the module matrix the label sheets draw, all made with `qrcode`.

`qrcode` picks the mask by rebuilding the symbol eight times and scoring each in pure Python (~5 ms a code,
most of a 1,000-label batch). We build the symbol once, derive the eight masked variants with numpy, score
them with the ISO/IEC 18004 penalty rules and hand the winner back to `qrcode` as its mask_pattern, so every
image is still `qrcode`'s own encoding; the tests check the variants bit for bit against `qrcode`.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import qrcode
import qrcode.image.svg
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray
from qrcode.constants import ERROR_CORRECT_Q

# Q restores up to ~25% of the symbol: a scratched or partly peeled label still scans. Our ~40-character URLs
# make version 4 (33 modules), coarse enough for a phone at 20 mm.
ERROR_CORRECTION = ERROR_CORRECT_Q
QUIET_ZONE = 4  # modules of white around the symbol, as the standard asks

Matrix = NDArray[np.bool_]
_FINDER_LIKE = (np.array([1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0], bool), np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1], bool))


def _build(content: str, *, mask: int, border: int = 0, box_size: int = 10) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=border, box_size=box_size, mask_pattern=mask)
    qr.add_data(content)
    qr.make(fit=True)
    return qr


def _blank(version: int) -> qrcode.QRCode:
    qr = qrcode.QRCode(version=version, error_correction=ERROR_CORRECTION)
    qr.modules_count = version * 4 + 17
    qr.modules = [[None] * qr.modules_count for _ in range(qr.modules_count)]
    return qr


@lru_cache(maxsize=64)
def _layout(version: int) -> tuple[Matrix, NDArray[np.bool_], NDArray[np.bool_]]:
    """For a version: data cells, format-info cells, and each mask's format-info values (8 x n x n)."""
    qr = _blank(version)
    n = qr.modules_count
    for row, col in ((0, 0), (n - 7, 0), (0, n - 7)):
        qr.setup_position_probe_pattern(row, col)
    qr.setup_position_adjust_pattern()
    qr.setup_timing_pattern()
    qr.setup_type_info(True, 0)
    if version >= 7:
        qr.setup_type_number(True)
    data = np.array([[cell is None for cell in row] for row in qr.modules])
    formats = np.zeros((8, n, n), bool)
    cells = np.zeros((n, n), bool)
    for mask in range(8):
        info = _blank(version)
        info.setup_type_info(False, mask)
        cells = np.array([[cell is not None for cell in row] for row in info.modules])
        formats[mask] = np.array([[bool(cell) for cell in row] for row in info.modules])
    return data, cells, formats


@lru_cache(maxsize=64)
def _mask_patterns(n: int) -> NDArray[np.bool_]:
    """The eight mask functions of ISO/IEC 18004 evaluated over an n x n grid (True = flip)."""
    i, j = np.indices((n, n))
    return np.stack([
        (i + j) % 2 == 0,
        i % 2 == 0,
        j % 3 == 0,
        (i + j) % 3 == 0,
        (i // 2 + j // 3) % 2 == 0,
        (i * j) % 2 + (i * j) % 3 == 0,
        ((i * j) % 2 + (i * j) % 3) % 2 == 0,
        ((i * j) % 3 + (i + j) % 2) % 2 == 0,
    ])


def variants(content: str) -> tuple[NDArray[np.bool_], int]:
    """The symbol under each of the eight masks (8 x n x n) and its version."""
    qr = _build(content, mask=0)
    base = np.array(qr.modules, bool)
    data, cells, formats = _layout(qr.version)
    masks = _mask_patterns(base.shape[0])
    unmasked = base ^ (masks[0] & data)
    out = unmasked[None] ^ (masks & data[None])
    out[:, cells] = formats[:, cells]
    return out, qr.version


def penalties(symbols: NDArray[np.bool_]) -> NDArray[np.int64]:
    """ISO/IEC 18004 mask penalty (runs, 2x2 blocks, finder-like patterns, balance) of each k x n x n symbol."""
    k, n, _ = symbols.shape
    score = np.zeros(k, np.int64)
    for grid in (symbols, symbols.transpose(0, 2, 1)):
        # N1: runs of five or more same-coloured modules in a line score 3 + (length - 5).
        edges = np.ones((k, n, n + 1), bool)
        edges[:, :, 1:-1] = grid[:, :, 1:] != grid[:, :, :-1]
        starts = np.flatnonzero(edges)
        runs = np.diff(starts)  # a line's last edge to the next line's first is 1 long: never counted
        points = np.where(runs >= 5, runs - 2, 0)
        score += np.bincount(starts[:-1] // (n * (n + 1)), weights=points, minlength=k).astype(np.int64)
        # N3: 1:1:3:1:1 finder-like patterns with four light modules on one side score 40 each.
        windows = sliding_window_view(grid, 11, axis=2)
        for pattern in _FINDER_LIKE:
            score += 40 * (windows == pattern).all(axis=3).sum(axis=(1, 2))
    # N2: every 2x2 block of one colour scores 3.
    top_left = symbols[:, :-1, :-1]
    same = (top_left == symbols[:, 1:, :-1]) & (top_left == symbols[:, :-1, 1:]) & (top_left == symbols[:, 1:, 1:])
    score += 3 * same.sum(axis=(1, 2))
    # N4: 10 points for every 5% the dark share strays from 50%.
    dark = symbols.sum(axis=(1, 2)) * 100 // (n * n)
    score += 10 * (np.abs(dark - 50) // 5)
    return score


@lru_cache(maxsize=4096)
def best_mask(content: str) -> int:
    """The mask with the lowest penalty for content (the lowest number on a tie)."""
    symbols, _ = variants(content)
    return int(np.argmin(penalties(symbols)))


def matrix(content: str) -> list[list[bool]]:
    """The symbol's dark (True) and light modules, without the quiet zone."""
    symbols, _ = variants(content)
    best = int(np.argmin(penalties(symbols)))
    return symbols[best].tolist()  # type: ignore[no-any-return]


def png(content: str, *, box_size: int = 10, border: int = QUIET_ZONE) -> bytes:
    """A black-on-white PNG of the QR code for content, box_size pixels per module."""
    image = _build(content, mask=best_mask(content), border=border, box_size=box_size).make_image()
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def svg(content: str, *, border: int = QUIET_ZONE) -> bytes:
    """An SVG of the QR code as one path on a white background (scales to any print size)."""
    qr = _build(content, mask=best_mask(content), border=border)
    image = qr.make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()

"""QR images: the PNG carries exactly qrcode's encoding of the /r/ URL at level Q; the SVG is one path."""

from __future__ import annotations

import io
import secrets

import numpy as np
import pytest
import qrcode
from PIL import Image

from cloud.qr import render

URL = "https://fix.example.cn/r/ABCDEFGHJK"


def _reference(content: str, mask: int) -> np.ndarray:
    qr = qrcode.QRCode(error_correction=render.ERROR_CORRECTION, border=0, mask_pattern=mask)
    qr.add_data(content)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), bool)


def _sample_png(data: bytes, box: int, border: int) -> np.ndarray:
    """Read the module grid back from the image by sampling each module's centre."""
    image = Image.open(io.BytesIO(data)).convert("L")
    size = image.size[0] // box - 2 * border
    pixels = np.array(image)
    centres = (np.arange(size) + border) * box + box // 2
    return pixels[np.ix_(centres, centres)] < 128


def _format_info(modules: np.ndarray) -> tuple[int, int]:
    """(error-correction bits, mask) from the format information beside the top-left finder."""
    rows = [0, 1, 2, 3, 4, 5, 7, 8]
    bits = sum(int(modules[r, 8]) << i for i, r in enumerate(rows))
    n = modules.shape[0]
    bits |= sum(int(modules[n - 7 + i, 8]) << (8 + i) for i in range(7))
    data = (bits ^ 0b101010000010010) >> 10
    return data >> 3, data & 0b111


def test_png_decodes_to_the_modules_of_the_url_at_level_q() -> None:
    data = render.png(URL, box_size=8)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    assert image.size[0] == image.size[1]
    assert 200 <= image.size[0] <= 600
    modules = _sample_png(data, box=8, border=render.QUIET_ZONE)
    level, mask = _format_info(modules)
    assert level == 0b11  # Q
    assert (modules == _reference(URL, mask)).all()
    assert modules.tolist() == render.matrix(URL)


def test_png_has_a_white_quiet_zone_of_four_modules() -> None:
    pixels = np.array(Image.open(io.BytesIO(render.png(URL, box_size=4))).convert("L"))
    assert (pixels[:16] == 255).all() and (pixels[-16:] == 255).all()
    assert (pixels[:, :16] == 255).all() and (pixels[:, -16:] == 255).all()


def test_svg_is_one_module_path_on_white_with_a_viewbox() -> None:
    svg = render.svg(URL).decode()
    assert svg.lstrip().startswith("<?xml") or svg.lstrip().startswith("<svg")
    assert 'viewBox="0 0 41 41"' in svg  # version 4 (33 modules) + 2 x 4 quiet zone
    assert svg.count("<path") == 1
    assert 'fill="white"' in svg
    modules = render.matrix(URL)
    dark = sum(map(sum, modules))
    assert svg.count("z") >= dark // 2  # one closed sub-path per dark module (or merged runs)


@pytest.mark.parametrize("content", [URL, "https://fix.example.cn/r/" + "Z" * 150, "x" * 300])
def test_all_eight_mask_variants_equal_qrcode_bit_for_bit(content: str) -> None:
    symbols, version = render.variants(content)
    for mask in range(8):
        assert (symbols[mask] == _reference(content, mask)).all(), (version, mask)


def test_the_chosen_mask_has_the_lowest_penalty_and_images_use_it() -> None:
    for _ in range(20):
        content = f"https://fix.example.cn/r/{secrets.token_hex(5).upper()}"
        symbols, _ = render.variants(content)
        scores = render.penalties(symbols)
        mask = render.best_mask(content)
        assert scores[mask] == scores.min()
        assert (np.array(render.matrix(content)) == _reference(content, mask)).all()


def test_penalty_rules_score_known_patterns() -> None:
    blank = np.zeros((1, 21, 21), bool)
    # All light: 21-long runs in 42 lines (19 each), 400 2x2 blocks (3 each), 50 points off balance (100).
    assert render.penalties(blank)[0] == 42 * 19 + 400 * 3 + 100
    stripes = np.zeros((1, 21, 21), bool)
    stripes[0, :, ::2] = True  # vertical stripes: only column runs; no blocks; 11/21 dark ~ 52%
    assert render.penalties(stripes)[0] == 21 * 19

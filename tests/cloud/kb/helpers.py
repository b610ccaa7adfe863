"""Tiny real media for the knowledge-base tests: a Chinese PDF with an outline (reportlab) and an MP4 (ffmpeg)."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

CHAPTERS = [
    ("第一章 开机与关机", ["按下电源开关，等待自检完成。", "自检约需 10 分钟。"]),
    ("第二章 试剂更换", ["打开试剂仓，取出空瓶，放入新试剂。", "出现 E-32 报警时先检查试剂条码。"]),
    ("第三章 日常保养", ["每天清洗探针。", "每周更换反应杯清洗液。"]),
]


def make_pdf(*, outline: bool = True, chapters: list[tuple[str, list[str]]] | None = None) -> bytes:
    """A PDF with one chapter a page, Chinese text in the CID font STSong-Light, and (optionally) an outline."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for index, (title, lines) in enumerate(chapters or CHAPTERS):
        pdf.setFont("STSong-Light", 16)
        pdf.drawString(72, 760, title)
        if outline:
            pdf.bookmarkPage(f"c{index}")
            pdf.addOutlineEntry(title, f"c{index}", level=0)
        pdf.setFont("STSong-Light", 12)
        for row, line in enumerate(lines):
            pdf.drawString(72, 730 - 20 * row, line)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def make_mp4(folder: Path) -> bytes | None:
    """A two-second test-pattern MP4 made by ffmpeg, or None when ffmpeg is missing."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    target = folder / "clip.mp4"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=2:size=160x120:rate=10", "-pix_fmt", "yuv420p", str(target)],
                   check=True, timeout=60)
    return target.read_bytes()

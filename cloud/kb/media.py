"""Training videos: MP4 uploads checked by content, stored by hash, with a cover frame taken by ffmpeg."""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import subprocess
from pathlib import Path

from cloud.errors import Invalid
from cloud.files import keep

log = logging.getLogger("medfix.kb.media")

MAX_VIDEO_MB = 200
COVER_TIMEOUT_S = 20


def is_mp4(content: bytes) -> bool:
    """An ISO media file (MP4/M4V/MOV family): its first box is 'ftyp'."""
    return len(content) > 12 and content[4:8] == b"ftyp"


def store_video(data_dir: Path, content: bytes) -> tuple[str, str | None]:
    """Keep an uploaded MP4 and its cover frame: (video path, cover path or None), relative to data_dir."""
    if not content:
        raise Invalid("视频文件是空的 (the file is empty)", [{"field": "video", "message": "empty"}])
    if len(content) > MAX_VIDEO_MB * 1024 * 1024:
        raise Invalid(f"视频不能超过 {MAX_VIDEO_MB} MB (the video is too large)",
                      [{"field": "video", "message": "too large"}])
    if not is_mp4(content):
        raise Invalid("只能上传 MP4 视频 (only MP4 videos are accepted)",
                      [{"field": "video", "message": "not an MP4"}])
    digest = hashlib.sha256(content).hexdigest()
    relative = Path("kb") / "videos" / f"{digest}.mp4"
    target = data_dir / relative
    keep(target, content)  # fsynced and renamed into place; a short or empty leftover is written again
    cover = target.with_suffix(".jpg")
    if cover.exists() or extract_cover(target, cover):
        return str(relative), str(relative.with_suffix(".jpg"))
    return str(relative), None


def extract_cover(video: Path, cover: Path) -> bool:
    """Write one frame of video as a JPEG (1 s in, or the first frame of a shorter clip); False when it fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        log.warning("ffmpeg is not installed; videos get no cover frame")
        return False
    partial = cover.with_name(f"{cover.stem}.{secrets.token_hex(4)}.jpg")
    for offset in ("1", "0"):
        try:
            subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-ss", offset, "-i", str(video),
                            "-frames:v", "1", "-vf", "scale=640:-2", str(partial)],
                           check=True, capture_output=True, timeout=COVER_TIMEOUT_S)
        except (subprocess.SubprocessError, OSError):
            log.warning("ffmpeg could not take a cover frame from %s at %s s", video.name, offset)
            continue
        if partial.exists() and partial.stat().st_size > 0:
            partial.replace(cover)
            return True
    partial.unlink(missing_ok=True)
    return False

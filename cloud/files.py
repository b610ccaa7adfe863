"""Files kept under the data folder durably: written whole, fsynced, renamed into place, the folder fsynced.

Uploads are kept by content hash, so an existing file is reused, but only when it has the expected size: a file
left empty or short by a crash (or by a disk that filled up) is written again instead of being served forever.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in folder durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_durably(target: Path, content: bytes) -> None:
    """Write content to target atomically and durably: a crash leaves the old file or the whole new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{secrets.token_hex(4)}.part")
    try:
        with partial.open("wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    fsync_dir(target.parent)


def keep(target: Path, content: bytes) -> None:
    """Keep content (named by its hash) at target, reusing an existing file only if it is whole."""
    try:
        if target.stat().st_size == len(content):
            return
    except FileNotFoundError:
        pass
    write_durably(target, content)

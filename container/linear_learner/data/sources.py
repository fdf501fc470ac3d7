"""Where a channel's bytes come from: files in File/FastFile mode (Pipe FIFOs: data/pipes.py).

Hidden files and folders (leading '.') are skipped, as are SageMaker's `_`-prefixed markers such as
`_SUCCESS`; nested folders are followed; the order is sorted so runs are reproducible.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ClientError


def list_channel_files(channel_dir: Path, channel: str) -> list[Path]:
    """Data files of a channel in a stable order; ClientError when the folder is missing or empty."""
    if not channel_dir.is_dir():
        raise ClientError(f"channel '{channel}': folder {channel_dir} does not exist (no data was provided)")
    files: list[Path] = []
    empty: list[Path] = []
    for root, dirs, names in os.walk(channel_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith((".", "_")) or name.endswith(".amazon.manifest"):
                continue
            path = Path(root) / name
            if path.is_file():
                (files if path.stat().st_size > 0 else empty).append(path)
    if not files and empty:
        names = ", ".join(f"'{p.relative_to(channel_dir)}'" for p in empty[:3])
        more = f" and {len(empty) - 3} more" if len(empty) > 3 else ""
        raise ClientError(f"channel '{channel}': every data file is empty (0 bytes): {names}{more}")
    if not files:
        raise ClientError(f"channel '{channel}' contains no data files (looked in {channel_dir})")
    return files


def describe(channel: str, path: Path, channel_dir: Path) -> str:
    """The `source` prefix codecs put in front of their errors."""
    try:
        rel = path.relative_to(channel_dir)
    except ValueError:
        rel = path
    return f"channel '{channel}' file '{rel}'"

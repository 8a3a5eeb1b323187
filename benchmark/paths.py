"""Safe names and confined paths: the checks every name a user's file or flag can steer goes
through before it becomes a path (run ids, task and stream names, stream files' data files)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmark.errors import UsageError

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def check_name(what: str, name: Any) -> str:
    """`name` if it is a safe path component (letters, digits, `_.+-`, no `..`); else UsageError."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name or len(name) > 200:
        raise UsageError(f"{what} must be a safe name (a letter or digit, then letters, digits, '_', '.', "
                         "'+' or '-', without '..')")
    return name


def confined(root: Path, *parts: str) -> Path:
    """root/parts..., asserted to resolve inside `root` (a RuntimeError: names are checked before)."""
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise RuntimeError(f"path {path} escapes {base}")
    return path


def data_file(stream_dir: Path, where: str, split: str, given: Any, allow_outside: bool) -> Path:
    """A data file named in a stream file: relative to the stream file's folder and inside it,
    unless `allow_outside` (--allow-outside-data)."""
    if not isinstance(given, str) or not given:
        raise UsageError(f"{where}: {split} must be a file name")
    base = stream_dir.resolve()
    file = (base / given).resolve()
    if not allow_outside and (Path(given).is_absolute() or (file != base and base not in file.parents)):
        raise UsageError(f"{where}: {split} file must be inside the stream file's folder (no absolute "
                         "paths or '..'); pass --allow-outside-data to allow it")
    return file

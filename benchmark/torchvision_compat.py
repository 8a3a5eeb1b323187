"""Let a CUDA build of torchvision import beside a CPU build of torch (installed by the
`avalanche` extra, which needs torchvision; docs/avalanche.md).

PyPI's Linux torchvision wheels are CUDA builds: their compiled operators (`torchvision/_C.so`)
need torch's CUDA libraries, and a CPU build of torch has none. torchvision tolerates that, but
torchvision 0.2x then fails at import on registering a fake kernel for `torchvision::nms`,
an operator that only the compiled library defines; and `transformers` imports torchvision when
it is installed, so loading any model would fail. `install()` (called when `benchmark` is
imported; it imports nothing) puts a finder before torchvision's first import that tries to load
torchvision's compiled operators and, when they cannot load, declares the two operators'
schemas, so the import succeeds; torchvision's operators stay unavailable (cmtbench and
Avalanche's text path use none). Where torchvision's operators load, it changes nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

_SCHEMA = "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"


class _Finder(importlib.abc.MetaPathFinder):
    """Runs `prepare` once, at the first import of torchvision; finds nothing itself."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            prepare()
        return None


def install() -> None:
    if "torchvision" not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def prepare() -> bool:
    """Declare torchvision's `nms` and `qnms` when its compiled operators cannot load; True if it
    did. Call it before torchvision is imported."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    import torch

    libraries = sorted(Path(spec.submodule_search_locations[0]).glob("_C.*"))
    try:
        for library in libraries:
            torch.ops.load_library(str(library))  # what torchvision does itself on import
        if libraries:
            return False
    except OSError:
        pass
    for op in ("nms", "qnms"):
        try:
            getattr(torch.ops.torchvision, op)
        except (AttributeError, RuntimeError):  # not defined: declare it
            torch.library.define(f"torchvision::{op}", _SCHEMA)
    return True

"""A small generic registry: one decorator line to register, did-you-mean on unknown names,
third-party entries from a Python entry-point group.

    STRATEGIES = Registry("strategy", base=BaseStrategy, entry_point_group="cmtbench.strategies")

    @STRATEGIES.register("finetune")
    class Finetune(BaseStrategy): ...
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from benchmark.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(
        self,
        kind: str,
        base: type | None = None,
        entry_point_group: str | None = None,
        builtins: str | None = None,
    ) -> None:
        """kind names the things in messages ("strategy"); base, when given, is checked on register;
        builtins is a module imported on first lookup so its decorators run (lazy: importing the
        registry does not import every strategy)."""
        self.kind = kind
        self.base = base
        self.entry_point_group = entry_point_group
        self._builtins = builtins
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if not name or name != name.strip() or " " in name:
            raise ValueError(f"{self.kind} name {name!r} must be a non-empty word without spaces")
        if name in self._items and self._items[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered to {self._items[name]!r}")
        if self.base is not None and isinstance(obj, type) and not issubclass(obj, self.base):
            raise TypeError(f"{self.kind} {name!r}: {obj!r} must subclass {self.base.__name__}")
        if isinstance(obj, type) and hasattr(obj, "name"):
            obj.name = name
        self._items[name] = obj

    def remove(self, name: str) -> None:
        self._items.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._builtins:
            importlib.import_module(self._builtins)
        if self.entry_point_group:
            for ep in importlib.metadata.entry_points(group=self.entry_point_group):
                if ep.name in self._items:
                    continue
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plug-in must not break the built-ins
                    raise UsageError(
                        f"the {self.kind} plug-in {ep.name!r} ({ep.value}) failed to import: {exc}"
                    ) from exc
                if ep.name not in self._items:
                    self.add(ep.name, obj)

    def get(self, name: str) -> T:
        self._load()
        if name in self._items:
            return self._items[name]
        known = sorted(self._items)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(known)}")

    def names(self, pattern: str = "*") -> list[str]:
        self._load()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        yield from sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __len__(self) -> int:
        self._load()
        return len(self._items)

"""A small generic registry: one decorator line to register, did-you-mean on unknown names,
built-in entries imported lazily, third-party entries from a Python entry-point group.

    STRATEGIES = Registry("strategy", base="strategies.base:BaseStrategy",
                          entry_point_group="cmtbench.strategies", builtins="strategies")

    @STRATEGIES.register("finetune")       # in strategies/finetune.py
    class Finetune(BaseStrategy): ...

Lazy: `builtins` names a package with one module per entry. Looking a name up imports the module
named after it (`coreset-replay` -> `strategies.coreset_replay`); only when that does not register
it, or when every name is asked for (`names`, `items`, `len`), are all modules and entry points
imported. A module or plug-in that fails to import breaks only itself: looking up its name raises
a UsageError naming the module and its error; the other names keep working.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from benchmark.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(
        self,
        kind: str,
        base: type | str | None = None,
        entry_point_group: str | None = None,
        builtins: str | None = None,
    ) -> None:
        """kind names the things in messages ("strategy"); base, when given, is checked on register
        (a class, or "module:Class" imported at the first registration, so that the module holding
        the registry need not import it); builtins is the package whose modules hold the built-in
        entries (imported lazily, see the module's docstring)."""
        self.kind = kind
        self._base = base
        self.entry_point_group = entry_point_group
        self._builtins = builtins
        self._items: dict[str, T] = {}
        self._modules: list[str] | None = None  # the built-in modules, listed once
        self._tried: set[str] = set()  # built-in modules imported (or failed)
        self._broken: dict[str, str] = {}  # name -> why it cannot be loaded
        self._loaded = False

    @property
    def base(self) -> type | None:
        if isinstance(self._base, str):
            module, _, attr = self._base.partition(":")
            self._base = getattr(importlib.import_module(module), attr)
        return self._base

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
        base = self.base
        if base is not None and isinstance(obj, type) and not issubclass(obj, base):
            raise TypeError(f"{self.kind} {name!r}: {obj!r} must subclass {base.__name__}")
        if isinstance(obj, type) and hasattr(obj, "name"):
            obj.name = name
        self._items[name] = obj
        self._broken.pop(name, None)

    def remove(self, name: str) -> None:
        self._items.pop(name, None)

    # -- lazy loading ---------------------------------------------------------------------------
    def _builtin_modules(self) -> list[str]:
        if self._modules is None:
            package = importlib.import_module(self._builtins) if self._builtins else None
            self._modules = [] if package is None else [
                m.name for m in pkgutil.iter_modules(package.__path__) if m.name != "base" and not m.name.startswith("_")]
        return self._modules

    def _import_builtin(self, module: str) -> None:
        if module in self._tried:
            return
        self._tried.add(module)
        try:
            importlib.import_module(f"{self._builtins}.{module}")
        except Exception as exc:  # a broken module must not break the other entries
            name = module.replace("_", "-")
            if name not in self._items:
                self._broken[name] = (f"the {self.kind} module {self._builtins}.{module} failed to import: "
                                      f"{type(exc).__name__}: {exc}")

    def _load_one(self, name: str) -> None:
        """Import the built-in module named after `name`, if there is one."""
        module = name.replace("-", "_")
        if self._builtins and module.isidentifier() and module not in self._tried:
            if module in self._builtin_modules():
                self._import_builtin(module)

    def _load(self) -> None:
        """Import every built-in module, then the entry-point plug-ins whose names are still free."""
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules():
            self._import_builtin(module)
        if self.entry_point_group:
            for ep in importlib.metadata.entry_points(group=self.entry_point_group):
                if ep.name in self._items:
                    continue
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plug-in must not break the built-ins
                    self._broken[ep.name] = (f"the {self.kind} plug-in {ep.name!r} ({ep.value}) failed to "
                                             f"import: {type(exc).__name__}: {exc}")
                    continue
                if ep.name not in self._items:
                    self.add(ep.name, obj)

    def broken(self) -> dict[str, str]:
        """Names whose module or plug-in failed to import, with the reason."""
        self._load()
        return {n: why for n, why in sorted(self._broken.items()) if n not in self._items}

    # -- lookups --------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        if name not in self._items:
            self._load_one(name)
        if name not in self._items:
            self._load()
        if name in self._items:
            return self._items[name]
        if name in self._broken:
            raise UsageError(self._broken[name])
        known = sorted(self._items)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        broken = f" (not loaded: {'; '.join(self._broken.values())})" if self._broken else ""
        raise UsageError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(known)}{broken}")

    def names(self, pattern: str = "*") -> list[str]:
        self._load()
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        yield from sorted(self._items.items())

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._load()
        return name in self._items

    def __len__(self) -> int:
        self._load()
        return len(self._items)

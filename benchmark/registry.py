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
a UsageError naming the module and its error; the other names keep working. `builtins` may also
name a single module that registers every built-in entry (the samplers).

Families: `add_family("avalanche:", "benchmark.interop.avalanche:strategy_class", names=...)` makes
every name with the prefix resolve, on its first lookup, through that function (imported then), so
a whole library's strategies are named without a module per name. The declared names are what
`summaries` lists; `names`, `items` and `len` hold only what is registered (resolved).

`summaries()` gives a one-line description of every name a user can give, without importing any
plug-in: built-in modules are read with `ast` (their decorator's name and the class docstring's
first line), entry points are named with their target, families by their declared names. Listing
must not import torch through every strategy module (seconds); looking a name up still does.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import importlib
import importlib.metadata
import importlib.util
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
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
        self._families: dict[str, tuple[str | Callable[[str], T], Mapping[str, str]]] = {}

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

    def add_family(self, prefix: str, resolver: str | Callable[[str], T],
                   names: Mapping[str, str] | None = None) -> None:
        """Names `prefix + X` resolve on their first lookup to `resolver(X)` (a function, or
        "module:function" imported then), which raises a UsageError for an X it does not know.
        `names` maps the X a user is shown to a one-line description."""
        if not prefix or " " in prefix:
            raise ValueError(f"{self.kind} family prefix {prefix!r} must be a non-empty word")
        self._families[prefix] = (resolver, dict(names or {}))

    def _resolve_family(self, name: str) -> bool:
        for prefix, (resolver, _) in self._families.items():
            if name.startswith(prefix):
                if isinstance(resolver, str):
                    module, _, attr = resolver.partition(":")
                    resolver = getattr(importlib.import_module(module), attr)
                self.add(name, resolver(name[len(prefix):]))
                return True
        return False

    # -- lazy loading ---------------------------------------------------------------------------
    def _builtin_modules(self) -> list[str]:
        """The built-in modules' names inside the `builtins` package ("" when it is one module)."""
        if self._modules is None:
            self._modules = [] if not self._builtins else _plugin_modules(self._builtins)
        return self._modules

    def _import_builtin(self, module: str) -> None:
        if module in self._tried:
            return
        self._tried.add(module)
        try:
            importlib.import_module(f"{self._builtins}.{module}" if module else self._builtins)
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
        if name not in self._items and self._resolve_family(name):
            return self._items[name]
        if name not in self._items:
            self._load_one(name)
        if name not in self._items:
            self._load()
        if name in self._items:
            return self._items[name]
        if name in self._broken:
            raise UsageError(self._broken[name])
        known = sorted(self._items) + [f"{p}*" for p in self._families]
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

    def summaries(self) -> dict[str, str]:
        """name -> one-line description of every name a user can give, importing no plug-in:
        the registered entries, the built-in modules' entries (read with `ast`), the entry
        points (named by their target) and the families' declared names; sorted by name."""
        out: dict[str, str] = {}
        if self._builtins:
            for module in self._builtin_modules():
                out.update(declared(f"{self._builtins}.{module}" if module else self._builtins))
        if self.entry_point_group:
            for ep in importlib.metadata.entry_points(group=self.entry_point_group):
                out.setdefault(ep.name, f"plug-in {ep.value}")
        for prefix, (_, names) in self._families.items():
            for name, summary in names.items():
                out.setdefault(prefix + name, summary)
        for name, obj in self._items.items():
            out[name] = first_line(obj) or out.get(name, "")
        return dict(sorted(out.items()))


def first_line(obj: object) -> str:
    """The first line of an object's docstring ("" without one)."""
    return next(iter((getattr(obj, "__doc__", None) or "").strip().splitlines()), "")


def _source(module: str) -> Path | None:
    """The file of `module` (a package's folder for a package), found without importing it or
    its parent packages (`find_spec` of a submodule imports the parent, and the plug-in packages'
    `__init__` imports torch)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return None
    if not rest:
        return Path(spec.submodule_search_locations[0]) if spec.submodule_search_locations else (
            Path(spec.origin) if spec.origin else None)
    if not spec.submodule_search_locations:
        return None
    base = Path(spec.submodule_search_locations[0]).joinpath(*rest)
    return base if base.is_dir() else base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def _plugin_modules(source: str) -> list[str]:
    """The plug-in modules of package `source` (not `base`, not `_private`), or [""] when
    `source` is a module; found without importing them."""
    path = _source(source)
    if path is None:
        return []
    if path.is_file():
        return [""]
    return [m.name for m in pkgutil.iter_modules([str(path)])
            if m.name != "base" and not m.name.startswith("_")]


def declared(module: str) -> dict[str, str]:
    """name -> summary of the classes that `module` registers with a decorator
    `@register("name")` or `@REGISTRY.register("name")`, read from its source without importing
    it. The summary is the class's `formula` string when it sets one (the samplers), else its
    docstring's first line."""
    path = _source(module)
    if path is None or not path.is_file():
        return {}
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}  # a broken module is reported when its name is looked up
    out = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and deco.args and isinstance(deco.args[0], ast.Constant)
                    and isinstance(deco.args[0].value, str)):
                continue
            func = deco.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) != "register":
                continue
            formula = next((st.value.value for st in node.body if isinstance(st, ast.Assign)
                            and any(getattr(t, "id", "") == "formula" for t in st.targets)
                            and isinstance(st.value, ast.Constant)), None)
            doc = next(iter((ast.get_docstring(node) or "").splitlines()), "")
            out[deco.args[0].value] = formula or doc
    return out

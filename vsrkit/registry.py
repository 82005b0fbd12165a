"""Name -> class registries with lazy discovery.

A registry maps a name (the class name unless given) to a class or function. Registration is a decorator::

    @ARCHS.register()
    class MVVSR(nn.Module): ...

Discovery is lazy: nothing under ``vsrkit.archs`` (or ``data``, ``models``...) is imported by ``import vsrkit``.
The first lookup of a registry imports every module of its package whose name ends with the registry's suffix
(``*_arch.py`` for ARCHS), so adding a network is a one-file change.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import Any, Callable, Iterable

from vsrkit.errors import ConfigError


class Registry:
    """A name -> object table.

    Args:
        name: what is registered, used in messages ("arch", "dataset", ...).
        scan: ``(package, suffix)`` pairs; every module of ``package`` whose name ends with ``suffix`` is imported
            on the first lookup (an empty suffix imports the module ``package`` itself).
    """

    def __init__(self, name: str, scan: Iterable[tuple[str, str]] = ()):
        self.name = name
        self._scan = tuple(scan)
        self._items: dict[str, Any] = {}
        self._scanned = False

    def register(self, name: str | None = None) -> Callable[[Any], Any]:
        """Decorator that registers a class or function under ``name`` (default: its ``__name__``)."""

        def deco(obj):
            key = name or obj.__name__
            existing = self._items.get(key)
            if existing is not None and existing is not obj:
                raise KeyError(
                    f"{self.name} '{key}' is registered twice: {_where(existing)} and {_where(obj)}; "
                    f"rename one of them")
            self._items[key] = obj
            return obj

        return deco

    def _discover(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        for package, suffix in self._scan:
            if not suffix:
                importlib.import_module(package)
                continue
            pkg = importlib.import_module(package)
            for info in pkgutil.iter_modules(pkg.__path__):
                if info.name.endswith(suffix):
                    importlib.import_module(f"{package}.{info.name}")

    def get(self, name: str, where: str = "") -> Any:
        """Return the object registered as ``name``; unknown names raise ConfigError with close matches."""
        if name not in self._items:
            self._discover()
        if name not in self._items:
            close = difflib.get_close_matches(name, self._items, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else \
                f"known: {', '.join(sorted(self._items)) or '(none)'}"
            prefix = f"{where}: " if where else ""
            raise ConfigError(f"{prefix}unknown {self.name} '{name}'; {hint}")
        return self._items[name]

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        self._discover()
        return name in self._items

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {sorted(self._items)})"


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}"


ARCHS = Registry("arch", [("vsrkit.archs", "_arch")])
DATASETS = Registry("dataset", [("vsrkit.data", "_dataset")])
MODELS = Registry("model", [("vsrkit.models", "_model")])
LOSSES = Registry("loss", [("vsrkit.losses", "")])
METRICS = Registry("metric", [("vsrkit.metrics", "")])
OPTIMIZERS = Registry("optimizer", [("vsrkit.engine.optim", "")])
SCHEDULERS = Registry("scheduler", [("vsrkit.engine.optim", "")])
#: official-checkpoint converters, keyed by the class name of the arch they load into (``*_convert.py``)
CONVERTERS = Registry("converter", [("vsrkit.archs", "_convert")])

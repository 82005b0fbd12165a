"""Build registered objects from option sections, checking their keys against the constructor's signature."""
from __future__ import annotations

import inspect
from typing import Any

from vsrkit.errors import ConfigError
from vsrkit.options import LOADER_KEYS, suggest
from vsrkit.registry import ARCHS, DATASETS, LOSSES, Registry


def check_kwargs(target: Any, kwargs: dict, where: str) -> None:
    """Raise ConfigError if ``kwargs`` has a key ``target`` (class or function) does not accept, or lacks one it needs."""
    func = target.__init__ if inspect.isclass(target) else target
    params = list(inspect.signature(func).parameters.values())
    if inspect.isclass(target):
        params = params[1:]  # self
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    name = getattr(target, "__name__", str(target))
    for key in kwargs:
        if key not in names:
            raise ConfigError(f"{where}: unknown key '{key}' for {name}{suggest(key, names)}")
    missing = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
               and p.name not in kwargs]
    if missing:
        raise ConfigError(f"{where}: {name} needs key(s) {', '.join(missing)}")


def build_from_registry(registry: Registry, cfg: dict, where: str, **extra: Any) -> Any:
    """``registry.get(cfg['type'])(**rest_of_cfg, **extra)`` with the keys checked first."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"{where}: needs a 'type' key naming a registered {registry.name}")
    kwargs = {k: v for k, v in cfg.items() if k != "type"}
    target = registry.get(cfg["type"], where=f"{where}.type")
    check_kwargs(target, {**kwargs, **extra}, where)
    return target(**kwargs, **extra)


def build_network(cfg: dict, where: str = "network_g"):
    """Build the network described by an option section such as ``network_g``."""
    return build_from_registry(ARCHS, cfg, where)


def build_dataset(cfg: dict, where: str):
    """Build a dataset from a ``datasets.<phase>`` section; loader keys (batch size, workers...) are left out."""
    kwargs = {k: v for k, v in cfg.items() if k not in LOADER_KEYS or k == "type"}
    return build_from_registry(DATASETS, kwargs, where)


def build_loss(cfg: dict, where: str):
    return build_from_registry(LOSSES, cfg, where)

"""Build registered objects from option sections, checking their keys and values against the constructor's signature.

Values are checked against the parameter annotations that a YAML value can be checked against: ``int``, ``float``,
``bool``, ``str``, ``None``, unions/``Optional``, ``Sequence[...]``/``list[...]``/``tuple[...]``, ``dict``,
``Literal[...]`` and plain classes; anything else (callables, type variables...) is left to the constructor.
"""
from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any

from vsrkit.errors import ConfigError
from vsrkit.options import LOADER_KEYS, suggest
from vsrkit.registry import ARCHS, DATASETS, LOSSES, Registry

_UNKNOWN = object()  # an annotation this module cannot check a value against


def _signature_params(target: Any) -> list[inspect.Parameter]:
    func = target.__init__ if inspect.isclass(target) else target
    params = list(inspect.signature(func).parameters.values())
    return params[1:] if inspect.isclass(target) else params  # self


def _type_hints(target: Any) -> dict[str, Any]:
    """The resolved annotations of ``target`` (its ``__init__`` for a class); {} where they cannot be resolved."""
    func = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(func)
    except Exception:  # a forward reference that does not resolve: no value checks, keys are still checked
        return {}


def check_kwargs(target: Any, kwargs: dict, where: str, require: bool = True, supplied: Any = ()) -> None:
    """Raise ConfigError if ``kwargs`` has a key ``target`` (class or function) does not accept, a value that does
    not fit the parameter's annotation, or (``require``) lacks a key it needs that is not among the names
    ``supplied`` by the caller's code (e.g. an optimiser's ``params``). One line names the key and the fix."""
    params = _signature_params(target)
    name = getattr(target, "__name__", str(target))
    if not any(p.kind is p.VAR_KEYWORD for p in params):
        names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        for key in list(kwargs) + list(supplied):
            if key not in names:
                raise ConfigError(f"{where}: unknown key '{key}' for {name}{suggest(key, names)}")
    for key in kwargs:
        if key in supplied:
            raise ConfigError(f"{where}: '{key}' is set by vsrkit itself for {name}; remove it")
    hints = _type_hints(target)
    defaults = {p.name: p.default for p in params}
    for key, value in kwargs.items():
        if key not in hints:
            continue
        if value is None and defaults.get(key, inspect.Parameter.empty) in (None, inspect.Parameter.empty):
            continue  # `x: int = None` takes None whatever it says; None for a required one is a caller's placeholder
        if fits(value, hints[key]) is False:
            raise ConfigError(f"{where}: '{key}' must be {describe(hints[key])} for {name}, got {value!r}")
    if require:
        missing = [p.name for p in params if p.default is p.empty
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in kwargs
                   and p.name not in supplied]
        if missing:
            raise ConfigError(f"{where}: {name} needs key(s) {', '.join(missing)}")


def fits(value: Any, annotation: Any) -> bool | None:
    """Whether a YAML value fits ``annotation``: True, False, or None when the annotation cannot be checked."""
    if annotation is Any or annotation is _UNKNOWN:
        return None
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        results = [fits(value, a) for a in args]
        if any(r is True for r in results):
            return True
        return None if any(r is None for r in results) else False
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    container = origin if origin is not None else annotation
    if container in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence, typing.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                return False
            results = [fits(v, a) for v, a in zip(value, args)]
        else:
            results = [fits(v, args[0]) for v in value] if args else []
        return False if any(r is False for r in results) else True
    if container in (dict, collections.abc.Mapping, typing.Mapping):
        return isinstance(value, dict)
    if inspect.isclass(annotation):
        return isinstance(value, annotation)
    return None


def describe(annotation: Any) -> str:
    """``int``, ``a list of int``, ``str or a list of str``, ``one of 'a', 'b'`` ... for error messages."""
    if annotation is None or annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        parts = [describe(a) for a in args if a is not type(None)]
        text = " or ".join(dict.fromkeys(parts))
        return f"{text} (or null)" if type(None) in args else text
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    container = origin if origin is not None else annotation
    if container in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence, typing.Sequence):
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
        return f"a list of {describe(args[0])}" if args else "a list"
    if container in (dict, collections.abc.Mapping, typing.Mapping):
        return "a mapping"
    return getattr(annotation, "__name__", str(annotation))


#: loader keys of a dataset section: (type, smallest allowed value)
LOADER_RULES = {"batch_size_per_gpu": (int, 1), "num_worker_per_gpu": (int, 0), "dataset_enlarge_ratio": (int, 1)}


def check_loader_keys(cfg: dict, where: str) -> None:
    """Loader keys of a dataset section: counts are ints (batch size and enlarge ratio at least 1)."""
    for key, (kind, low) in LOADER_RULES.items():
        if key not in cfg:
            continue
        value = cfg[key]
        if not fits(value, kind) or value < low:
            need = "a positive int" if low == 1 else "an int >= 0"
            raise ConfigError(f"{where}: '{key}' must be {need}, got {value!r}")


def build_from_registry(registry: Registry, cfg: dict, where: str, **extra: Any) -> Any:
    """``registry.get(cfg['type'])(**rest_of_cfg, **extra)`` with the keys checked first."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"{where}: needs a 'type' key naming a registered {registry.name}")
    kwargs = {k: v for k, v in cfg.items() if k != "type"}
    target = registry.get(cfg["type"], where=f"{where}.type")
    check_kwargs(target, kwargs, where, supplied=extra)
    return target(**kwargs, **extra)


def build_network(cfg: dict, where: str = "network_g"):
    """Build the network described by an option section such as ``network_g``."""
    return build_from_registry(ARCHS, cfg, where)


def build_dataset(cfg: dict, where: str):
    """Build a dataset from a ``datasets.<phase>`` section; loader keys (batch size, workers...) are checked here
    and left out of the dataset's arguments."""
    if isinstance(cfg, dict):
        check_loader_keys(cfg, where)
    item_dtype = cfg.get("item_dtype", "float32") if isinstance(cfg, dict) else "float32"
    if item_dtype not in ("float32", "uint8"):
        raise ConfigError(f"{where}.item_dtype: must be float32 or uint8 (frames expanded on the device), "
                          f"got {item_dtype!r}")
    kwargs = {k: v for k, v in cfg.items() if k not in LOADER_KEYS or k == "type"}
    dataset = build_from_registry(DATASETS, kwargs, where)
    if item_dtype != "float32":
        if not hasattr(dataset, "item_dtype"):
            raise ConfigError(f"{where}.item_dtype: {cfg['type']} makes float32 items only; remove 'item_dtype'")
        dataset.item_dtype = item_dtype  # frames travel as uint8, expanded after the copy to the device
    return dataset


def build_loss(cfg: dict, where: str):
    return build_from_registry(LOSSES, cfg, where)


# ---------------------------------------------------------------------------------------------- checks at start
def _scale_of(registry: Registry, cfg: Any) -> int | None:
    """The ``scale`` an option section gives its class: its own key, else the constructor's default (None: the
    class takes no scale, or the type is unknown — reported when it is built)."""
    if not isinstance(cfg, dict):
        return None
    if "scale" in cfg:
        return cfg["scale"]
    try:
        target = registry.get(cfg.get("type"))
        param = next((p for p in _signature_params(target) if p.name == "scale"), None)
    except (ConfigError, TypeError, ValueError):
        return None
    return None if param is None or param.default is param.empty else param.default


def check_scales(opt: dict) -> None:
    """Top-level ``scale`` (4 when not set, as the models assume) agrees with the network's and every dataset's
    (given or the class's default), before anything runs."""
    file = opt.get("opt_path", "")
    top = opt.get("scale", 4)
    origin = "scale" if "scale" in opt else "scale (not set: 4)"
    sections = [("network_g", ARCHS, opt.get("network_g"))] + [
        (f"datasets.{k}", DATASETS, v) for k, v in (opt.get("datasets") or {}).items()]
    for key, registry, cfg in sections:
        value = _scale_of(registry, cfg)
        if value is not None and value != top:
            given = "" if "scale" in cfg else " (its default)"
            raise ConfigError(f"{file}: {key}.scale is {value}{given} but {origin} is {top}; set the same scale in "
                              f"both (the network's upscaling must match the data)")


def _override_section(keys: list[str]) -> tuple[int, Registry] | None:
    """``(depth, registry)`` when the dotted key lands in a section built from a registry, else None."""
    from vsrkit.registry import OPTIMIZERS, SCHEDULERS

    if keys[0] == "network_g":
        return 1, ARCHS
    if keys[0] == "datasets" and len(keys) >= 2:
        return 2, DATASETS
    sections = {"optim_g": OPTIMIZERS, "scheduler": SCHEDULERS, "pixel_opt": LOSSES}
    if keys[0] == "train" and len(keys) >= 2 and keys[1] in sections:
        return 2, sections[keys[1]]
    return None


def check_override(opt: dict, item: str) -> None:
    """Check one ``--set`` item that lands in a section built from a registry (``network_g``, ``datasets.<x>``,
    ``train.optim_g``, ``train.scheduler``, ``train.pixel_opt``) against that class now, so that a typo is blamed
    on ``--set`` and not on the options file."""
    keys = item.split("=", 1)[0].strip().split(".")
    found = _override_section(keys)
    if found is None:
        return
    depth, registry = found
    cfg: Any = opt
    for k in keys[:depth]:
        cfg = cfg.get(k) if isinstance(cfg, dict) else None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("type"), str):
        return  # reported when the section is built
    where = f"--set {item}"
    target = registry.get(cfg["type"], where=where)
    rest = keys[depth:]
    if len(rest) > 1 or rest == ["type"]:
        return  # a key inside a nested value (io_backend.type), or the type alone: checked when built
    given = {k: v for k, v in cfg.items() if k != "type"} if not rest else {rest[0]: cfg.get(rest[0])}
    if registry is DATASETS:
        check_loader_keys(given, where)
        given = {k: v for k, v in given.items() if k not in LOADER_KEYS}
    check_kwargs(target, given, where, require=False)

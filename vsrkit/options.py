"""YAML options: load (safe_load), `_base_` inheritance, `--set a.b=c` overrides, validation with clear errors.

Options are plain nested dicts. Keys follow BasicSR where one exists (``name``, ``model_type``, ``scale``,
``num_gpu``, ``manual_seed``, ``datasets.train``, ``network_g``, ``path``, ``train.total_iter``, ``train.optim_g``,
``train.scheduler``, ``val.val_freq``, ``logger.save_checkpoint_freq``...). Sections whose keys depend on a
registered class (``network_g``, each dataset, ``train.optim_g``...) are checked against that class's signature when
it is built (see :mod:`vsrkit.builders`); everything else is checked here against :data:`SCHEMA`, extended by the
``option_schema`` of the model class named by ``model_type`` (a model declares its own keys).
"""
from __future__ import annotations

import copy
import difflib
import os
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from vsrkit.errors import ConfigError

ANY = object()  # a value of any type, not checked here
OPEN = "open"  # a mapping checked later against a registered class
REMOVABLE = "removable"  # like OPEN, or null to drop a section inherited from a _base_ file

_LOADER_KEYS = {
    "name": str, "type": str, "phase": str, "batch_size_per_gpu": int, "num_worker_per_gpu": int,
    "use_shuffle": bool, "dataset_enlarge_ratio": int, "prefetch_mode": (None, "cpu", "cuda"),
    "pin_memory": bool, "persistent_workers": bool, "item_dtype": ("float32", "uint8"),
}
#: Keys of a dataset section that configure the loader; the rest go to the dataset class.
LOADER_KEYS = frozenset(_LOADER_KEYS)

SCHEMA: dict[str, Any] = {
    "_base_": ANY,
    "name": str,
    "model_type": str,
    "scale": int,
    "num_gpu": ANY,  # int or 'auto'
    "manual_seed": int,
    "deterministic": bool,
    "precision": ("fp32", "bf16"),
    "channels_last": bool,
    "compile": bool,
    "find_unused_parameters": bool,
    "demo_data": OPEN,  # arguments of vsrkit.data.demo_builder.build_demo_dataset; built once if missing
    "datasets": {"*": REMOVABLE},
    "network_g": OPEN,
    "path": {
        "pretrain_network_g": (str, type(None)), "strict_load_g": bool, "param_key_g": str,
        "resume_state": (str, type(None)), "experiments_root": str, "results_root": str,
        "pretrain_spynet": (str, type(None)),
    },
    "train": {
        "total_iter": int, "warmup_iter": int, "optim_g": OPEN, "scheduler": OPEN, "pixel_opt": OPEN,
        "ema_decay": (int, float), "grad_clip": (int, float, type(None)), "nan_guard_limit": int,
        "fix_flow": (int, type(None)), "flow_lr_mul": (int, float), "flow_pattern": (str, type(None)),
        "losses": ANY, "param_groups": ANY,  # checked by the model (vsrkit.models.base_model)
    },
    "val": {
        "val_freq": int, "save_img": bool, "num_save_img": int, "metrics": {"*": OPEN}, "compare_bicubic": bool,
        "tile": (int, type(None)), "tile_overlap": int, "chunk": (int, type(None)), "chunk_overlap": int,
        "rounding": ("round", "truncate", "none"), "center_frame_only": bool,
        "best": {"metric": (str, type(None)), "mode": ("max", "min")},
        # a paper's per-clip numbers printed beside test.py's table when the clips match (vsrkit/launch/published.py)
        "published_results": {"source": str, "columns": {"*": {"*": (int, float)}}},
    },
    "logger": {
        "print_freq": int, "save_checkpoint_freq": int, "use_tb_logger": bool, "keep_last": (int, type(None)),
        "wandb": ANY,
    },
    "dist_params": {"backend": (None, "nccl", "gloo"), "port": int, "timeout_min": int},
}

DEFAULTS: dict[str, Any] = {
    "model_type": "VideoSRModel",
    "num_gpu": "auto",
    "manual_seed": 0,
    "deterministic": False,
    "precision": "fp32",
    "channels_last": False,
    "compile": False,
    "find_unused_parameters": False,
    "path": {"strict_load_g": True, "param_key_g": "params_ema", "pretrain_network_g": None, "resume_state": None},
    "train": {"warmup_iter": 0, "ema_decay": 0, "grad_clip": None, "nan_guard_limit": 10, "fix_flow": None,
              "flow_lr_mul": 1.0, "flow_pattern": "spynet"},
    "val": {"val_freq": 1000, "save_img": False, "num_save_img": 2, "compare_bicubic": True, "tile": None,
            "tile_overlap": 16, "chunk": None, "chunk_overlap": 2, "rounding": "round"},
    "logger": {"print_freq": 100, "save_checkpoint_freq": 1000, "use_tb_logger": True, "keep_last": None},
    "dist_params": {"backend": None, "port": 29500, "timeout_min": 30},
}


def load_options(path: str | os.PathLike, overrides: Iterable[str] = (), is_train: bool = True) -> dict:
    """Read ``path`` (following ``_base_``), apply ``key.path=value`` overrides, validate, fill defaults.

    Returns a plain nested dict with ``opt['is_train']`` and ``opt['opt_path']`` set.
    Raises:
        ConfigError: malformed YAML (file and line), unknown key (with a suggestion), wrong type, bad override. An
            error in a key that an override set names the ``--set`` item, not the file (overrides of sections
            built from a registry are checked by :func:`vsrkit.builders.check_override`, which the launchers call).
    """
    path = Path(path)
    opt = _load_with_bases(path, chain=())
    overrides = list(overrides)
    origins = {}
    for item in overrides:
        apply_override(opt, item)
        origins[item.split("=", 1)[0].strip()] = item
    source = _Source(str(path), origins)
    model_type = opt.get("model_type", DEFAULTS["model_type"])
    _validate(opt, schema_for(model_type, source("model_type")), source, "")
    for key in ("name",):
        if key not in opt:
            raise ConfigError(f"{path}: missing required key '{key}'")
    opt = deep_merge(copy.deepcopy(DEFAULTS), opt)
    opt["datasets"] = {k: v for k, v in (opt.get("datasets") or {}).items() if v is not None}
    opt["is_train"] = is_train
    opt["opt_path"] = str(path)
    return opt


class _Source:
    """Who gave the value at a dotted key: the ``--set`` item that set it (or a section above it), else the file."""

    def __init__(self, file: str, origins: dict[str, str]):
        self.file = file
        self.origins = origins

    def __call__(self, where: str) -> str:
        for key_path, item in reversed(list(self.origins.items())):
            if where == key_path or where.startswith(key_path + ".") or key_path.startswith(where + "."):
                return f"--set {item}"
        return self.file


def schema_for(model_type: str, file: str = "") -> dict:
    """:data:`SCHEMA` plus the keys the model class declares in its ``option_schema`` (merged section by section)."""
    if not isinstance(model_type, str):
        raise ConfigError(f"{file}: 'model_type' must be a name, got {model_type!r}")
    from vsrkit.registry import MODELS

    extra = getattr(MODELS.get(model_type, where=f"{file}: model_type"), "option_schema", {}) or {}
    return _merge_schema(copy.copy(SCHEMA), extra)


def _merge_schema(base: dict, extra: dict) -> dict:
    for key, rule in extra.items():
        if isinstance(rule, dict) and isinstance(base.get(key), dict):
            base[key] = _merge_schema(dict(base[key]), rule)
        else:
            base[key] = rule
    return base


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping that gives the same key twice (YAML itself would silently keep the last one)."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys in a mapping (merge keys ``<<`` may still be overridden)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key '{key}' (first at line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (:class:`StrictLoader`)."""
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 (StrictLoader is a SafeLoader)


def yaml_problem(err: yaml.YAMLError) -> str:
    """What is wrong, in words a user can act on: a refused Python tag is not "malformed YAML"."""
    problem = getattr(err, "problem", None) or (str(err).splitlines() or [type(err).__name__])[0]
    if isinstance(err, DuplicateKeyError):
        return f"{problem}; YAML would keep only the last one — remove or rename one of them"
    tag = re.search(r"constructor for the tag '([^']+)'", problem)
    if tag:
        name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
        if name.startswith("!!python/"):
            return (f"the tag '{name}' asks for a Python object; options are plain data (numbers, strings, lists, "
                    f"mappings) and Python objects are refused for safety — write the value without the tag")
        return f"unknown YAML tag '{name}'; options are plain data — write the value without the tag"
    return f"malformed YAML ({problem}); check the indentation and quoting there"


def read_yaml(path: Path) -> dict:
    """Load one YAML options file (safe, no duplicate keys); malformed YAML -> ConfigError with file and line."""
    if not path.is_file():
        raise ConfigError(f"options file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text file (byte {err.start} is not UTF-8); -opt takes a YAML options "
                          f"file") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: {yaml_problem(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _load_with_bases(path: Path, chain: tuple) -> dict:
    resolved = path.resolve()
    if resolved in chain:
        raise ConfigError(f"{path}: circular _base_ chain: {' -> '.join(str(p) for p in chain + (resolved,))}")
    data = read_yaml(path)
    bases = data.pop("_base_", None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f"{path}: _base_ must be a file name or a list of file names")
    merged: dict = {}
    for base in bases:
        merged = deep_merge(merged, _load_with_bases(path.parent / base, chain + (resolved,)))
    return deep_merge(merged, data)


def deep_merge(base: dict, update: dict) -> dict:
    """Merge ``update`` into ``base`` recursively (mappings merge, everything else replaces); returns ``base``."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def apply_override(opt: dict, item: str) -> None:
    """Apply one ``a.b.c=value`` override in place; the value is parsed as a YAML scalar or list."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key.path=value, e.g. train.total_iter=100")
    key_path, raw = item.split("=", 1)
    keys = key_path.strip().split(".")
    if not all(keys):
        raise ConfigError(f"--set {item!r}: empty key in '{key_path}'")
    try:
        value = parse_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as err:
        problem = yaml_problem(err)
        if problem.startswith("malformed YAML"):
            problem = "value is not valid YAML; quote strings with spaces"
        raise ConfigError(f"--set {item!r}: {problem}") from None
    node = opt
    for i, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"--set {item!r}: '{'.'.join(keys[:i + 1])}' is a value, not a section")
        node = child
    node[keys[-1]] = value


def _validate(node: dict, schema: Any, source: Any, prefix: str) -> None:
    if schema is ANY or schema == OPEN:
        return
    if isinstance(source, str):
        source = _Source(source, {})
    for key, value in node.items():
        where = f"{prefix}{key}"
        if key in schema:
            rule = schema[key]
        elif "*" in schema:
            rule = schema["*"]
        else:
            raise ConfigError(f"{source(where)}: unknown key '{where}'{suggest(key, schema)}")
        _check_value(value, rule, source, where)


def _check_value(value: Any, rule: Any, source: Any, where: str) -> None:
    if rule is ANY:
        return
    if rule == REMOVABLE and value is None:
        return
    if rule in (OPEN, REMOVABLE):
        if not isinstance(value, dict):
            raise ConfigError(f"{source(where)}: '{where}' must be a mapping (with a 'type' key), got {value!r}")
        return
    if isinstance(rule, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{source(where)}: '{where}' must be a mapping, got {value!r}")
        _validate(value, rule, source, where + ".")
        return
    allowed = rule if isinstance(rule, tuple) else (rule,)
    types = tuple(a for a in allowed if isinstance(a, type))
    literals = [a for a in allowed if not isinstance(a, type)]
    if any(value is lit or (type(value) is type(lit) and value == lit) for lit in literals):
        return
    if types and isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return
    expected = " or ".join([t.__name__ for t in types if t is not type(None)] + [repr(v) for v in literals])
    raise ConfigError(f"{source(where)}: '{where}' must be {expected}, got {value!r}")


def suggest(key: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or a list of the valid keys."""
    choices = [c for c in choices if c not in ("*", "_base_")]
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; valid keys: {', '.join(sorted(choices))}"


def dump_options(opt: dict, path: str | os.PathLike) -> None:
    """Write the resolved options as YAML (atomically)."""
    from vsrkit.fileio import write_text_atomic

    clean = {k: v for k, v in opt.items() if k not in ("opt_path",)}
    write_text_atomic(path, yaml.safe_dump(clean, sort_keys=False))

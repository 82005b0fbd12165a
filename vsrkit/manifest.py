"""Read the ``manifest.json`` of a produced dataset folder and check it against a dataset's options.

Folders written by ``degradation/*.py`` and the demo builder carry a ``manifest.json`` (settings, tool versions).
A dataset looks for it in each LQ root and its parent (the ``<root>`` of the ``gt/ lq/ motion/`` layout) and checks
every option it declares (``scale`` always, plus ``manifest_check: {key: value}``) against the manifest's value,
found at the top level or one level down (e.g. ``settings.scale``). Keys the manifest does not record are skipped.

A neutral module (it imports only :mod:`vsrkit.errors`): the writers (``vsrkit.degrade``, ``vsrkit.codec``, the demo
builder) and the readers (``vsrkit.data``) all use it without importing each other.
"""
from __future__ import annotations

import json
import os
from typing import Any

from vsrkit.errors import DataError

MANIFEST = "manifest.json"


def find_manifest(root: str) -> str | None:
    """Path of the manifest of ``root`` (in ``root`` itself, else in its parent), or None."""
    for folder in (root, os.path.dirname(os.path.abspath(root))):
        path = os.path.join(folder, MANIFEST)
        if os.path.isfile(path):
            return path
    return None


def read_manifest(path: str, fix: str = "re-create the dataset folder") -> dict:
    """The JSON object in ``path``; a DataError naming the file and ``fix`` when it is unreadable or not an object."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc}); {fix}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: manifest is not a JSON object; {fix}")
    return data


def manifest_value(manifest: dict, key: str) -> tuple[bool, Any]:
    """``(found, value)`` of ``key`` at the top level or inside a nested dict (dotted keys allowed)."""
    if "." in key:
        node: Any = manifest
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False, None
            node = node[part]
        return True, node
    if key in manifest:
        return True, manifest[key]
    for value in manifest.values():
        if isinstance(value, dict) and key in value:
            return True, value[key]
    return False, None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return str(a) == str(b) if not isinstance(a, (list, dict)) else a == b


def check_manifest(root: str, expected: dict, option_prefix: str = "datasets") -> dict | None:
    """Check ``expected`` option values against the manifest of ``root``; returns the manifest (or None)."""
    path = find_manifest(root)
    if path is None:
        return None
    manifest = read_manifest(path)
    for key, want in expected.items():
        found, have = manifest_value(manifest, key)
        if found and not _same(have, want):
            raise DataError(f"{path}: manifest says {key}={have!r} but {option_prefix} asks for {key}={want!r}; "
                            f"fix the option or point the dataset at a folder built with {key}={want!r}")
    return manifest

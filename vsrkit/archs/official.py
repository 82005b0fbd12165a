"""Official checkpoints: one mechanism that maps a published network's state dict onto a vsrkit arch.

A converter is registered per arch, under the arch's class name, in a file ``vsrkit/archs/<method>_convert.py``
(discovered lazily like ``*_arch.py``)::

    @CONVERTERS.register("MVVSR")
    class MVVSRConverter(OfficialConverter):
        source = "mohamedshakir3/mv-flow-vsr MVSR"

        def matches(self, keys): return "feat_extract.0.weight" in keys and "mv_refiner.net.0.weight" in keys

        def convert(self, state, net): ...   # -> (vsrkit state dict, notes such as dropped unused keys)

:func:`to_vsrkit_state_dict` is what every loader calls (``path.pretrain_network_g``, ``test.py``,
``scripts/infer_video.py``, all through :func:`vsrkit.engine.checkpoint.load_network`): a state dict that already
has the network's own keys is returned as is; otherwise the arch's converter is used when it recognises the key
names (auto-detection), and its notes are logged. Whatever still does not fit is listed by the loader.
"""
from __future__ import annotations

import logging
from typing import Collection

import torch
from torch import nn

from vsrkit.registry import CONVERTERS

log = logging.getLogger("vsrkit")


class OfficialConverter:
    """Maps the state dict of a published network onto the vsrkit arch it is registered for.

    Subclasses set :attr:`source` (repository and class, shown in logs) and implement :meth:`matches` and
    :meth:`convert`.
    """

    #: where the published checkpoints come from, e.g. ``"owner/repo ClassName"``
    source: str = ""

    def matches(self, keys: Collection[str]) -> bool:
        """True when ``keys`` (a checkpoint's state-dict keys, wrappers removed) are the published layout."""
        raise NotImplementedError

    def convert(self, state: dict[str, torch.Tensor], net: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
        """Published ``state`` -> (state dict with ``net``'s key names, notes to log, e.g. dropped unused keys).

        ``net`` is the (unwrapped) vsrkit network being loaded: its configuration (block counts...) is available.
        Keys that have no place in ``net`` are either dropped with a note or left in the result, so that the loader
        lists them as unexpected.
        """
        raise NotImplementedError


def find_converter(net: nn.Module) -> OfficialConverter | None:
    """The converter registered for ``type(net).__name__``, or None."""
    name = type(net).__name__
    if name not in CONVERTERS:
        return None
    return CONVERTERS.get(name)()


def to_vsrkit_state_dict(net: nn.Module, state: dict[str, torch.Tensor], where: str = "") -> dict[str, torch.Tensor]:
    """``state`` in ``net``'s own key names: unchanged when they already fit, converted when the arch's converter
    recognises a published layout, unchanged otherwise (the caller reports the mismatch)."""
    own = net.state_dict()
    if set(state) == set(own):
        return state
    converter = find_converter(net)
    if converter is None or not converter.matches(set(state)):
        return state
    converted, notes = converter.convert(dict(state), net)
    prefix = f"{where}: " if where else ""
    log.info("%sofficial checkpoint of %s converted to %s (%d tensors)", prefix, converter.source,
             type(net).__name__, len(converted))
    for note in notes:
        log.info("%s%s", prefix, note)
    return converted

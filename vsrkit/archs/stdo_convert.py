"""Official STDO checkpoints (repo ``coulsonlee/STDO-CVPR2023``) -> vsrkit ``WDSR`` / ``EDSR`` / ``ESPCN``.

The published ``trainer.py`` saves ``{'model_state_dict', 'optimizer_state_dict', ...}``; the loader unwraps that.

* ``models.wdsr.MODEL`` (WDSR-A): ``body.0`` = head, ``body.1..N`` = blocks (``.body.0`` / ``.body.2`` = their
  convs), ``body.N+1`` = tail, ``skip.0`` = skip. Weight norm under either name: ``weight_g`` / ``weight_v`` of the
  old ``torch.nn.utils.weight_norm`` (what the published checkpoints hold) or ``parametrizations.weight.original0`` /
  ``original1`` of ``torch.nn.utils.parametrizations.weight_norm`` (``g`` = original0, ``v`` = original1). Into a
  ``WDSR(weight_norm=False)`` the pair is folded into one ``weight = g * v / ||v||`` (also from vsrkit checkpoints).
* ``models.edsr.EDSR``: ``head.0``, ``body.i.body.0/2``, ``body.N`` (conv after the blocks), ``tail.0.j``
  (upsampler), ``tail.1`` (last conv). ``sub_mean`` / ``add_mean`` (never applied by the published forward) are
  dropped with a note unless the net was built with ``unused_mean_shift=True``.
* ``models.espcn.ESPCN``: the key names are vsrkit's own (``conv1..conv4``), no converter needed.

:func:`arch_from_published` turns a published model class and its argparse config into vsrkit's arch name and
constructor arguments.
"""
from __future__ import annotations

import re
from typing import Collection

import torch
from torch import nn

from vsrkit.archs.official import OfficialConverter
from vsrkit.errors import ConfigError
from vsrkit.registry import CONVERTERS

REPOSITORY = "coulsonlee/STDO-CVPR2023"

#: published model class -> (vsrkit arch, {published config key: constructor argument or None = must be unset})
PUBLISHED_MODELS: dict[str, tuple[str, dict[str, str | None]]] = {
    "models.wdsr.MODEL": ("WDSR", {"scale": "scale", "num_channels": "num_channels",
                                   "num_residual_units": "num_residual_units", "num_blocks": "num_blocks",
                                   "width_multiplier": "width_multiplier", "image_mean": "image_mean",
                                   "temporal_size": None}),
    "models.edsr.EDSR": ("EDSR", {"scale": "scale", "num_blocks": "num_blocks", "n_feats": "n_feats",
                                  "res_scale": "res_scale"}),
    "models.espcn.ESPCN": ("ESPCN", {"scale": "scale"}),
}

WN_OLD = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def arch_from_published(model: str, config: dict) -> tuple[str, dict]:
    """``("models.wdsr.MODEL", {argparse config})`` -> ``("WDSR", constructor kwargs)``.

    Raises ConfigError for an unknown model class, an unknown config key, or a published option vsrkit does not
    offer (WDSR ``temporal_size``, the multi-frame mode STDO does not use).
    """
    if model not in PUBLISHED_MODELS:
        raise ConfigError(f"unknown published STDO model {model!r}; known: {', '.join(PUBLISHED_MODELS)}")
    arch, names = PUBLISHED_MODELS[model]
    kwargs = {}
    for key, value in config.items():
        if key not in names:
            raise ConfigError(f"{model}: config key {key!r} has no vsrkit {arch} counterpart; known: "
                              f"{', '.join(names)}")
        if names[key] is None:
            if value:
                raise ConfigError(f"{model}: {key}={value!r} is not supported by vsrkit {arch} (STDO uses None); "
                                  f"remove it")
            continue
        kwargs[names[key]] = value
    return arch, kwargs


def _fold_weight_norm(state: dict[str, torch.Tensor], own: Collection[str]) -> int:
    """Replace ``<m>.parametrizations.weight.original0/1`` by ``<m>.weight = g * v / ||v||`` where the net has a
    plain ``<m>.weight``. Returns how many convs were folded."""
    folded = 0
    for key in [k for k in state if k.endswith(".parametrizations.weight.original0")]:
        prefix = key[: -len("parametrizations.weight.original0")]
        v_key = prefix + "parametrizations.weight.original1"
        if prefix + "weight" not in own or v_key not in state:
            continue
        g, v = state.pop(key), state.pop(v_key)
        norm = v.double().flatten(1).norm(dim=1).view(-1, *[1] * (v.dim() - 1))
        state[prefix + "weight"] = (v.double() * (g.double().view_as(norm) / norm)).to(v.dtype)
        folded += 1
    return folded


class _RenamingConverter(OfficialConverter):
    """A converter that renames published keys one by one (:meth:`rename`), so tests can map gradient names too."""

    def rename(self, key: str, net: nn.Module) -> str:
        """The vsrkit name of the published ``key`` in ``net`` (unchanged when it has no counterpart)."""
        raise NotImplementedError


@CONVERTERS.register("WDSR")
class WDSRConverter(_RenamingConverter):
    source = f"{REPOSITORY} models.wdsr.MODEL"

    def matches(self, keys: Collection[str]) -> bool:
        published = "skip.0.bias" in keys and "body.0.bias" in keys
        # a vsrkit weight-normalised checkpoint loaded into WDSR(weight_norm=False)
        vsrkit_wn = "head.parametrizations.weight.original0" in keys and "skip.bias" in keys
        return published or vsrkit_wn

    def rename(self, key: str, net: nn.Module) -> str:
        n = net.num_blocks
        module, dot, param = key.rpartition(".")
        if param in WN_OLD:
            param = WN_OLD[param]
        elif module.endswith(".parametrizations.weight"):  # <m>.parametrizations.weight.original0/1
            module, param = module[: -len(".parametrizations.weight")], f"parametrizations.weight.{param}"
        if (m := re.fullmatch(r"body\.(\d+)", module)) and int(m.group(1)) in (0, n + 1):
            module = "head" if int(m.group(1)) == 0 else "tail"
        elif (m := re.fullmatch(r"body\.(\d+)\.body\.([02])", module)) and 1 <= int(m.group(1)) <= n:
            module = f"body.{int(m.group(1)) - 1}.conv{1 if m.group(2) == '0' else 2}"
        elif module == "skip.0":
            module = "skip"
        return f"{module}{dot}{param}"

    def convert(self, state: dict[str, torch.Tensor], net: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
        notes = []
        if any(k.endswith(tuple(WN_OLD)) for k in state):
            notes.append("weight_g/weight_v (torch.nn.utils.weight_norm) -> parametrizations.weight.original0/1")
        out = {self.rename(k, net): v for k, v in state.items()}
        folded = _fold_weight_norm(out, net.state_dict().keys())
        if folded:
            notes.append(f"weight norm folded into plain conv weights (g * v / ||v||) in {folded} convs")
        return out, notes


@CONVERTERS.register("EDSR")
class EDSRConverter(_RenamingConverter):
    source = f"{REPOSITORY} models.edsr.EDSR"

    def matches(self, keys: Collection[str]) -> bool:
        return "head.0.weight" in keys and "tail.1.weight" in keys

    def rename(self, key: str, net: nn.Module) -> str:
        n = net.num_blocks
        module, dot, param = key.rpartition(".")
        if module == "head.0":
            module = "head"
        elif (m := re.fullmatch(r"body\.(\d+)\.body\.([02])", module)) and int(m.group(1)) < n:
            module = f"body.{m.group(1)}.conv{1 if m.group(2) == '0' else 2}"
        elif module == f"body.{n}":
            module = "conv_after_body"
        elif m := re.fullmatch(r"tail\.0\.(\d+)", module):
            module = f"upsample.{m.group(1)}"
        elif module == "tail.1":
            module = "conv_last"
        return f"{module}{dot}{param}"

    def convert(self, state: dict[str, torch.Tensor], net: nn.Module) -> tuple[dict[str, torch.Tensor], list[str]]:
        own = net.state_dict().keys()
        unused = sorted(k for k in state if k.split(".")[0] in ("sub_mean", "add_mean") and k not in own)
        notes = [f"dropped {', '.join(unused)} (MeanShift built but never applied by the published forward)"] \
            if unused else []
        return {self.rename(k, net): v for k, v in state.items() if k not in unused}, notes

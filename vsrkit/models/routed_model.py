"""k networks of one configuration, each item (or each patch of a frame) routed to one of them by a key the dataset
emits: STDO's per-chunk models.

Options::

    model_type: RoutedVSRModel
    route: {key: chunk, num_networks: 2}   # batch['chunk'] picks the network
    network_g: {type: WDSR, ...}           # built num_networks times

The route value of an item is either one id per item, ``(n,)`` (a training patch), or a grid of ids per patch of
every frame, ``(n, gy, gx)`` or ``(n, t, gy, gx)`` (a test frame cut into STDO's patch grid): each patch goes to its
network and the outputs are stitched back into whole frames. Checkpoints are one file per network,
``net_g_<tag>_net<j>.pth`` (``{'params', 'params_ema', 'meta'}``, loadable alone), plus the index
``net_g_<tag>.pth`` (``{'routed': {'key', 'files'}, 'meta'}``) that ``path.pretrain_network_g`` points to.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from vsrkit.builders import build_network
from vsrkit.engine import checkpoint as ckpt
from vsrkit.errors import CheckpointError, ConfigError
from vsrkit.inference.runner import forward_inputs
from vsrkit.models.video_sr_model import VideoSRModel
from vsrkit.registry import MODELS

log = logging.getLogger("vsrkit")


class RoutedNetworks(nn.Module):
    """``nets[route]`` per item or per patch; see the module docstring for the route shapes."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, lq: torch.Tensor, route: torch.Tensor, **side: torch.Tensor) -> torch.Tensor:
        """``lq (n, t, c, h, w)`` -> the networks' output ``(n, t', c', H, W)``."""
        route = torch.as_tensor(route, device=lq.device).long()
        n = lq.shape[0]
        if route.numel() == n:
            return self._per_item(lq, route.view(n), side)
        if side:
            raise ConfigError(f"routed networks: side inputs ({', '.join(side)}) cannot be cut into patches")
        return self._per_patch(lq, route)

    def _check(self, ids: torch.Tensor) -> None:
        bad = ids[(ids < 0) | (ids >= len(self.nets))]
        if bad.numel():
            raise ConfigError(f"routed networks: route id {int(bad[0])} is outside 0..{len(self.nets) - 1}; "
                              f"check route.num_networks")

    def _per_item(self, lq: torch.Tensor, ids: torch.Tensor, side: dict) -> torch.Tensor:
        self._check(ids)
        out = None
        for j in ids.unique().tolist():
            sel = (ids == j).nonzero().flatten()
            y = self.nets[j](lq[sel], **{k: v[sel] for k, v in side.items()})
            y = y.unsqueeze(1) if y.dim() == 4 else y
            if out is None:
                out = y.new_zeros((ids.shape[0],) + tuple(y.shape[1:]))
            out = out.index_copy(0, sel, y)
        return out

    def _per_patch(self, lq: torch.Tensor, route: torch.Tensor) -> torch.Tensor:
        n, t, c, h, w = lq.shape
        if route.dim() == 3:
            route = route[:, None].expand(n, t, *route.shape[1:])
        if route.dim() != 4 or tuple(route.shape[:2]) != (n, t):
            raise ConfigError(f"routed networks: route must be (n,), (n, gy, gx) or (n, t, gy, gx) for lq "
                              f"{tuple(lq.shape)}, got {tuple(route.shape)}")
        gy, gx = route.shape[2:]
        if h % gy or w % gx:
            raise ConfigError(f"routed networks: a {h}x{w} frame cannot be cut into a {gy}x{gx} patch grid")
        ph, pw = h // gy, w // gx
        patches = lq.reshape(n, t, c, gy, ph, gx, pw).permute(0, 1, 3, 5, 2, 4, 6).reshape(-1, 1, c, ph, pw)
        y = self._per_item(patches, route.reshape(-1), {})          # (n*t*gy*gx, 1, c', sph, spw)
        c2, sph, spw = y.shape[2:]
        return y.reshape(n, t, gy, gx, c2, sph, spw).permute(0, 1, 4, 2, 5, 3, 6).reshape(n, t, c2, gy * sph, gx * spw)


@MODELS.register()
class RoutedVSRModel(VideoSRModel):
    """``route.num_networks`` copies of ``network_g``, picked per item or patch by ``batch[route.key]``."""

    option_schema = {"route": {"key": str, "num_networks": int}}

    @property
    def route(self) -> dict:
        route = self.opt.get("route") or {}
        if not route.get("key") or not route.get("num_networks") or route["num_networks"] < 1:
            raise ConfigError(f"{self.where}: RoutedVSRModel needs route: {{key: <batch key>, num_networks: k}}")
        return route

    def build_network(self) -> nn.Module:
        k = self.route["num_networks"]
        return RoutedNetworks([build_network(self.opt["network_g"], where=f"{self.where}: network_g")
                               for _ in range(k)])

    def input_names(self, net: nn.Module) -> tuple[str, ...]:
        return forward_inputs(ckpt.unwrap(net).nets[0])

    def net_inputs(self, batch: dict) -> dict:
        key = self.route["key"]
        if key not in batch:
            raise ConfigError(f"{self.where}: route.key '{key}' is not in the batch (keys: {', '.join(batch)}); "
                              f"the dataset must emit it")
        return {"route": batch[key], **super().net_inputs(batch)}

    def needs_unused_parameters(self) -> bool:
        return True  # a batch need not reach every network

    # ------------------------------------------------------------------ checkpoints: one file per network + index
    def _files(self, tag) -> list[str]:
        return [f"net_g_{tag}_net{j}.pth" for j in range(self.route["num_networks"])]

    def save_networks(self, folder: Path, tag: int | str, meta: dict) -> None:
        nets = ckpt.unwrap(self.net).nets
        emas = self.ema.module.nets if self.ema is not None else [None] * len(nets)
        files = self._files(tag)
        for j, (net, ema, name) in enumerate(zip(nets, emas, files)):
            ckpt.save_network(Path(folder) / name, net, ema, {**meta, "route_id": j})
        ckpt.atomic_save({"routed": {"key": self.route["key"], "files": files}, "meta": meta},
                         Path(folder) / f"net_g_{tag}.pth")

    def _index(self, path: Path) -> list[Path]:
        index = ckpt.load_file(path)
        routed = index.get("routed") if isinstance(index, dict) else None
        if not isinstance(routed, dict) or not isinstance(routed.get("files"), list):
            raise CheckpointError(f"{path}: not the index of routed networks (expected {{'routed': {{'files': "
                                  f"[...]}}}}); point path.pretrain_network_g at net_g_<tag>.pth of a routed run")
        if len(routed["files"]) != self.route["num_networks"]:
            raise CheckpointError(f"{path}: holds {len(routed['files'])} networks, route.num_networks is "
                                  f"{self.route['num_networks']}")
        return [path.parent / f for f in routed["files"]]

    def load_pretrained(self, net: nn.Module, path: str) -> None:
        for sub, file in zip(net.nets, self._index(Path(path))):
            ckpt.load_network(sub, file, self.opt["path"].get("param_key_g", "params_ema"),
                              self.opt["path"].get("strict_load_g", True))
        log.info("loaded %d routed networks from %s", len(net.nets), path)

    def load_networks(self, folder: Path, tag: int | str) -> None:
        files = self._index(Path(folder) / f"net_g_{tag}.pth")
        nets = ckpt.unwrap(self.net).nets
        for j, file in enumerate(files):
            ckpt.load_network(nets[j], file, "params")
            if self.ema is not None:
                ckpt.load_network(self.ema.module.nets[j], file, "params_ema")

"""The training logic every method shares, with the hooks a method's model specialises.

A model holds one network (``self.net``; k routed networks are one container module), its DDP wrapper and EMA
copy, the weighted loss terms, the optimiser with its parameter groups and the scheduler. The hooks, in the spirit
of BasicSR's ``feed_data``/``test``:

- :meth:`build_network`: the network from ``network_g`` (a container of several for routed models);
- :meth:`input_names` / :meth:`net_inputs`: the batch keys the network takes. The first parameter of ``forward``
  receives ``lq``; every other parameter receives the batch key of the same name (no whitelist);
- :meth:`target`: what the output is compared with in training (``gt``);
- :meth:`compute_losses`: ``train.losses: [{type, weight, name, ...}]``, each term logged under its name
  (BasicSR's ``pixel_opt`` is the one-term list ``l_pix``);
- :meth:`infer`: a :class:`~vsrkit.models.prediction.Prediction` (frames + which clip and frame each one is);
- :meth:`save_networks` / :meth:`load_networks`: the checkpoint files of one tag.
"""
from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vsrkit.builders import build_from_registry, build_loss, build_network
from vsrkit.engine import checkpoint as ckpt
from vsrkit.engine.dist import DistInfo, reduce_mean
from vsrkit.engine.ema import ModelEMA
from vsrkit.errors import ConfigError, VsrkitError
from vsrkit.inference.runner import forward_inputs
from vsrkit.models.prediction import Prediction
from vsrkit.registry import OPTIMIZERS, SCHEDULERS

log = logging.getLogger("vsrkit")


class NonFiniteLossError(VsrkitError):
    """Too many consecutive non-finite losses."""


class BaseModel:
    """Network, losses, optimiser, EMA and checkpoints of one run; subclasses implement :meth:`infer`.

    Attributes:
        option_schema: extra option keys the model accepts, merged into :data:`vsrkit.options.SCHEMA` (same
            notation), e.g. ``{"val": {"window": int}}``; misspelt keys still fail with a suggestion.
    """

    option_schema: dict = {}

    def __init__(self, opt: dict, dist_info: DistInfo):
        self.opt = opt
        self.where = opt.get("opt_path", "")
        self.dist = dist_info
        self.device = dist_info.device
        self.autocast_dtype = torch.bfloat16 if opt.get("precision") == "bf16" else None
        net = self.build_network().to(self.device)
        if opt.get("channels_last"):
            net = net.to(memory_format=torch.channels_last)
        path = opt["path"].get("pretrain_network_g")
        if path:
            self.load_pretrained(net, path)
        self._load_pretrained_flow(net)
        self.net = net
        self.inputs = self.input_names(net)
        self.ema: ModelEMA | None = None
        self.nan_streak = 0
        self.net_train = net
        if opt["is_train"]:
            self._setup_training()
        if opt.get("compile"):
            self.net_train = torch.compile(self.net_train)

    # ------------------------------------------------------------------ hooks: network and its inputs
    def build_network(self) -> nn.Module:
        """The network of ``network_g``."""
        return build_network(self.opt["network_g"], where=f"{self.where}: network_g")

    def load_pretrained(self, net: nn.Module, path: str) -> None:
        """``path.pretrain_network_g``: a vsrkit/BasicSR checkpoint or an official one (converted by the arch's
        registered converter)."""
        ckpt.load_network(net, path, self.opt["path"].get("param_key_g", "params_ema"),
                          self.opt["path"].get("strict_load_g", True))
        log.info("loaded weights from %s", path)

    def _load_pretrained_flow(self, net: nn.Module) -> None:
        """``path.pretrain_spynet``: local SPyNet weights (BasicSR/mmagic layout) for a network with a ``spynet``."""
        path = self.opt["path"].get("pretrain_spynet")
        if not path:
            return
        spynet = getattr(net, "spynet", None)
        if spynet is None:
            raise VsrkitError(f"{self.where}: path.pretrain_spynet is set but {type(net).__name__} has no "
                              f"SPyNet ('spynet' module); remove the key, or use a network with SPyNet alignment")
        from vsrkit.archs.spynet import load_spynet

        load_spynet(path, spynet)
        log.info("loaded SPyNet weights from %s", path)

    def input_names(self, net: nn.Module) -> tuple[str, ...]:
        """The batch keys passed to ``net`` besides ``lq``: the other parameters of its ``forward``."""
        return forward_inputs(net)

    def net_inputs(self, batch: dict) -> dict:
        """Keyword inputs of the network for ``batch`` (those of :meth:`input_names` that the batch has)."""
        return {k: batch[k] for k in self.inputs if k in batch}

    def run(self, net: nn.Module, batch: dict) -> torch.Tensor:
        """``net(batch['lq'], **side_inputs)``; a 4-D output (one frame per item) gets a frame axis."""
        out = net(batch["lq"], **self.net_inputs(batch))
        return out.unsqueeze(1) if out.dim() == 4 else out

    def target(self, batch: dict, out: torch.Tensor) -> torch.Tensor:
        """What ``out`` is compared with in training: ``batch['gt']`` (centre frame only when the output is)."""
        return batch["gt"]

    # ------------------------------------------------------------------ training setup
    def _setup_training(self) -> None:
        train = self.opt["train"]
        where = f"{self.where}: train"
        decay = train.get("ema_decay", 0)
        if decay:
            self.ema = ModelEMA(self.net, decay)
        self.net.train()
        self.groups = self._param_group_specs()
        if self.dist.distributed:
            self.net_train = DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.opt.get("find_unused_parameters", False) or self.needs_unused_parameters())
        self.losses = self._build_losses(train, where)
        optim_cfg = dict(train.get("optim_g") or {"type": "Adam", "lr": 2e-4})
        lr = optim_cfg.get("lr", 1e-3)
        optim_type = optim_cfg.pop("type", None)
        if optim_type is None:
            raise VsrkitError(f"{where}.optim_g: needs a 'type' key (Adam, AdamW, SGD)")
        groups = self._param_groups(lr)
        self.optimizer = build_from_registry(OPTIMIZERS, {"type": optim_type, **optim_cfg}, f"{where}.optim_g",
                                             params=groups)
        sched_cfg = dict(train.get("scheduler") or {"type": "ConstantLR"})
        sched_cfg.setdefault("warmup_iter", train.get("warmup_iter", 0))
        self.scheduler = build_from_registry(SCHEDULERS, sched_cfg, f"{where}.scheduler", optimizer=self.optimizer)
        self.frozen: dict[int, bool] = {}

    def needs_unused_parameters(self) -> bool:
        """DDP must look for parameters without gradient (frozen groups; routed networks override)."""
        return any(g.get("frozen_iters") for g in self.groups)

    def _build_losses(self, train: dict, where: str) -> list[tuple[str, float, nn.Module]]:
        """``train.losses`` (a list of ``{type, weight, name, ...}``) or BasicSR's ``pixel_opt`` (``l_pix``)."""
        specs = train.get("losses")
        if specs is None:
            specs = [{"name": "l_pix", **(train.get("pixel_opt") or {"type": "CharbonnierLoss"})}]
            item_where = [f"{where}.pixel_opt"]
        elif train.get("pixel_opt"):
            raise ConfigError(f"{where}: give either losses or pixel_opt, not both (pixel_opt is the one-term "
                              f"losses: [{{type: ..., name: l_pix}}])")
        else:
            if not isinstance(specs, list) or not specs:
                raise ConfigError(f"{where}.losses: must be a non-empty list of {{type, weight, name, ...}}")
            item_where = [f"{where}.losses[{i}]" for i in range(len(specs))]
        losses, names = [], set()
        for spec, w in zip(specs, item_where):
            if not isinstance(spec, dict):
                raise ConfigError(f"{w}: must be a mapping with a 'type' key, got {spec!r}")
            spec = dict(spec)
            name = str(spec.pop("name", f"l_{str(spec.get('type', 'loss')).lower().replace('loss', '')}"))
            weight = spec.pop("weight", 1.0)
            if not isinstance(weight, (int, float)) or isinstance(weight, bool):
                raise ConfigError(f"{w}.weight: must be a number, got {weight!r}")
            if name in names:
                raise ConfigError(f"{w}.name: '{name}' is used twice; give each loss term its own name")
            names.add(name)
            losses.append((name, float(weight), build_loss(spec, w).to(self.device)))
        return losses

    def _param_group_specs(self) -> list[dict]:
        """``train.param_groups`` (``[{pattern, lr_mul, frozen_iters}]``), plus BasicSR's ``flow_lr_mul`` /
        ``fix_flow`` as a group whose pattern is ``train.flow_pattern``."""
        train = self.opt["train"]
        where = f"{self.where}: train.param_groups"
        specs = [dict(g) for g in (train.get("param_groups") or [])]
        for i, g in enumerate(specs):
            unknown = set(g) - {"pattern", "lr_mul", "frozen_iters"}
            if unknown or "pattern" not in g:
                raise ConfigError(f"{where}[{i}]: keys are pattern (a regular expression over parameter names), "
                                  f"lr_mul and frozen_iters; got {sorted(g)}")
            try:
                re.compile(g["pattern"])
            except (re.error, TypeError) as err:
                raise ConfigError(f"{where}[{i}].pattern: not a regular expression ({err})") from None
        flow = train.get("flow_pattern")
        if flow and any(flow in n for n, _ in self.net.named_parameters()):
            specs.append({"pattern": re.escape(flow), "lr_mul": train.get("flow_lr_mul", 1.0),
                          "frozen_iters": train.get("fix_flow")})
        return specs

    def _param_groups(self, lr: float) -> list[dict]:
        """Optimiser groups: the parameters no pattern matches first, then one group per spec (first match wins)."""
        members: list[list] = [[] for _ in range(len(self.groups) + 1)]
        self.group_of: dict[str, int] = {}
        for name, p in self.net.named_parameters():
            g = next((i + 1 for i, spec in enumerate(self.groups) if re.search(spec["pattern"], name)), 0)
            members[g].append(p)
            self.group_of[name] = g
        out = [{"params": members[0]}]
        for i, spec in enumerate(self.groups):
            if not members[i + 1]:
                log.warning("%s: train.param_groups pattern %r matches no parameter", self.where, spec["pattern"])
                continue
            out.append({"params": members[i + 1], "lr": lr * spec.get("lr_mul", 1.0)})
        return out

    def _update_frozen(self, it: int) -> None:
        """Groups with ``frozen_iters: N`` get no gradient for iterations 1..N (BasicSR ``fix_flow``)."""
        for i, spec in enumerate(self.groups):
            n = spec.get("frozen_iters")
            if not n:
                continue
            frozen = it <= n
            if self.frozen.get(i) != frozen:
                for name, p in self.net.named_parameters():
                    if self.group_of.get(name) == i + 1:
                        p.requires_grad_(not frozen)
                self.frozen[i] = frozen

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------------------ one step
    def compute_losses(self, out: torch.Tensor, batch: dict) -> dict[str, torch.Tensor]:
        """Each weighted term of :meth:`_build_losses` on ``out`` (float32) vs :meth:`target`."""
        target = self.target(batch, out)
        out = out.float()
        return {name: loss(out, target) if weight == 1.0 else weight * loss(out, target)
                for name, weight, loss in self.losses}

    def optimize(self, batch: dict, it: int) -> dict[str, float]:
        """One optimiser step on ``batch``; returns each loss term (and ``l_total`` with several) averaged over
        ranks. A non-finite loss (on any rank) skips the step on all ranks; ``train.nan_guard_limit`` in a row stop
        the run."""
        self._update_frozen(it)
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            out = self.run(self.net_train, batch)
        terms = self.compute_losses(out, batch)
        loss = sum(terms.values()) if len(terms) > 1 else next(iter(terms.values()))
        finite = torch.isfinite(loss.detach()).float()
        if self.dist.distributed:
            torch.distributed.all_reduce(finite, op=torch.distributed.ReduceOp.MIN)
        if finite.item() < 1:
            self.nan_streak += 1
            limit = self.opt["train"].get("nan_guard_limit", 10)
            log.warning("iter %d: non-finite loss, step skipped (%d in a row)", it, self.nan_streak)
            if self.nan_streak >= limit:
                raise NonFiniteLossError(
                    f"{self.nan_streak} non-finite losses in a row at iter {it}: lower train.optim_g.lr, set "
                    f"train.grad_clip, or use precision: fp32 (limit: train.nan_guard_limit={limit})")
            self.scheduler.step()
            return {name: float("nan") for name in self.loss_names()}
        self.nan_streak = 0
        loss.backward()
        values = {name: t.item() for name, t in terms.items()}
        if len(terms) > 1:
            values["l_total"] = loss.item()
        clip = self.opt["train"].get("grad_clip")
        if clip:
            values["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip))
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.net)
        return reduce_mean(values, self.device)

    def loss_names(self) -> list[str]:
        names = [name for name, _, _ in self.losses]
        return names + ["l_total"] if len(names) > 1 else names

    # ------------------------------------------------------------------ inference
    @property
    def eval_net(self) -> nn.Module:
        """The EMA network when EMA is on, else the network."""
        return self.ema.module if self.ema is not None else ckpt.unwrap(self.net)

    def infer(self, batch: dict, net: nn.Module | None = None) -> Prediction:
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def save_networks(self, folder: Path, tag: int | str, meta: dict) -> None:
        """Write ``net_g_<tag>.pth`` (``{'params', 'params_ema', 'meta'}``) in ``folder``."""
        ckpt.save_network(Path(folder) / f"net_g_{tag}.pth", self.net,
                          self.ema.module if self.ema is not None else None, meta)

    def load_networks(self, folder: Path, tag: int | str) -> None:
        """Restore the network (and EMA copy) saved by :meth:`save_networks` under ``tag`` (resume)."""
        path = Path(folder) / f"net_g_{tag}.pth"
        ckpt.load_network(self.net, path, "params")  # a file that does not fit is named, with its keys
        if self.ema is not None:
            ckpt.load_network(self.ema.module, path, "params_ema")

    # ------------------------------------------------------------------ state
    def training_state(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "nan_streak": self.nan_streak}

    def load_training_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.nan_streak = state.get("nan_streak", 0)

    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

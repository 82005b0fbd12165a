"""Training logic of video SR networks (recurrent or sliding-window): optimise, EMA, save/resume, validate."""
from __future__ import annotations

import contextlib
import logging

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vsrkit.builders import build_from_registry, build_loss, build_network
from vsrkit.engine.checkpoint import load_network, unwrap
from vsrkit.engine.dist import DistInfo, reduce_mean
from vsrkit.engine.ema import ModelEMA
from vsrkit.errors import VsrkitError
from vsrkit.inference.runner import InferenceSettings, forward_inputs, run_inference
from vsrkit.models.net_io import run_net
from vsrkit.registry import MODELS, OPTIMIZERS, SCHEDULERS

log = logging.getLogger("vsrkit")


class NonFiniteLossError(VsrkitError):
    """Too many consecutive non-finite losses."""


@MODELS.register()
class VideoSRModel:
    """Holds the network (+ DDP wrapper, EMA copy), optimiser, scheduler and pixel loss of a video SR run.

    Batches: ``lq (n,t,3,h,w)``, ``gt (n,t,3,sh,sw)`` and the optional motion inputs the network accepts.
    """

    def __init__(self, opt: dict, dist_info: DistInfo):
        self.opt = opt
        self.dist = dist_info
        self.device = dist_info.device
        self.autocast_dtype = torch.bfloat16 if opt.get("precision") == "bf16" else None
        net = build_network(opt["network_g"], where=f"{opt.get('opt_path', '')}: network_g").to(self.device)
        if opt.get("channels_last"):
            net = net.to(memory_format=torch.channels_last)
        path = opt["path"].get("pretrain_network_g")
        if path:
            load_network(net, path, opt["path"].get("param_key_g", "params_ema"), opt["path"].get("strict_load_g", True))
            log.info("loaded weights from %s", path)
        self._load_pretrained_flow(net)
        self.net = net
        self.inputs = forward_inputs(net)
        self.ema: ModelEMA | None = None
        self.nan_streak = 0
        self.net_train = net
        if opt["is_train"]:
            self._setup_training()
        if opt.get("compile"):
            self.net_train = torch.compile(self.net_train)

    def _load_pretrained_flow(self, net: nn.Module) -> None:
        """``path.pretrain_spynet``: local SPyNet weights (BasicSR/mmagic layout) for a network with a ``spynet``."""
        path = self.opt["path"].get("pretrain_spynet")
        if not path:
            return
        spynet = getattr(net, "spynet", None)
        if spynet is None:
            raise VsrkitError(f"{self.opt.get('opt_path', '')}: path.pretrain_spynet is set but "
                              f"{type(net).__name__} has no SPyNet (use network_g.alignment: spynet, or remove it)")
        from vsrkit.archs.spynet import load_spynet

        load_spynet(path, spynet)
        log.info("loaded SPyNet weights from %s", path)

    # ------------------------------------------------------------------ training setup
    def _setup_training(self) -> None:
        train = self.opt["train"]
        where = f"{self.opt.get('opt_path', '')}: train"
        decay = train.get("ema_decay", 0)
        if decay:
            self.ema = ModelEMA(self.net, decay)
        self.net.train()
        if self.dist.distributed:
            self.net_train = DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.opt.get("find_unused_parameters", False)
                or bool(train.get("fix_flow")))
        self.loss = build_loss(train.get("pixel_opt") or {"type": "CharbonnierLoss"}, f"{where}.pixel_opt")
        self.loss.to(self.device)
        optim_cfg = dict(train.get("optim_g") or {"type": "Adam", "lr": 2e-4})
        lr = optim_cfg.get("lr", 1e-3)
        flow_params = [p for n, p in self.net.named_parameters() if "spynet" in n]
        other = [p for n, p in self.net.named_parameters() if "spynet" not in n]
        groups = [{"params": other}]
        if flow_params:
            groups.append({"params": flow_params, "lr": lr * train.get("flow_lr_mul", 1.0)})
        optim_type = optim_cfg.pop("type", None)
        if optim_type is None:
            raise VsrkitError(f"{where}.optim_g: needs a 'type' key (Adam, AdamW, SGD)")
        self.optimizer = OPTIMIZERS.get(optim_type, where=f"{where}.optim_g.type")(groups, **optim_cfg)
        sched_cfg = dict(train.get("scheduler") or {"type": "ConstantLR"})
        sched_cfg.setdefault("warmup_iter", train.get("warmup_iter", 0))
        self.scheduler = build_from_registry(SCHEDULERS, sched_cfg, f"{where}.scheduler", optimizer=self.optimizer)
        self.flow_frozen = None

    def _update_flow_freeze(self, it: int) -> None:
        """BasicSR ``fix_flow``: optical-flow parameters are frozen for the first ``fix_flow`` iterations."""
        fix = self.opt["train"].get("fix_flow")
        if not fix:
            return
        frozen = it <= fix
        if frozen != self.flow_frozen:
            for name, p in self.net.named_parameters():
                if "spynet" in name:
                    p.requires_grad_(not frozen)
            self.flow_frozen = frozen

    def autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------------------ one step
    def optimize(self, batch: dict, it: int) -> dict[str, float]:
        """One optimiser step on ``batch``; returns loss values averaged over ranks.

        A non-finite loss (on any rank) skips the step on all ranks; ``train.nan_guard_limit`` in a row stop the run.
        """
        self._update_flow_freeze(it)
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            out = run_net(self.net_train, batch, self.inputs)
        loss = self.loss(out.float(), batch["gt"])
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
            return {"l_pix": float("nan")}
        self.nan_streak = 0
        loss.backward()
        values = {"l_pix": loss.item()}
        clip = self.opt["train"].get("grad_clip")
        if clip:
            values["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), clip))
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.net)
        return reduce_mean(values, self.device)

    # ------------------------------------------------------------------ inference
    @property
    def eval_net(self) -> nn.Module:
        """The EMA network when EMA is on (also for recurrent validation, unlike BasicSR), else the network."""
        return self.ema.module if self.ema is not None else unwrap(self.net)

    @torch.no_grad()
    def infer(self, batch: dict, net: nn.Module | None = None) -> torch.Tensor:
        """Whole-clip (or chunked/tiled per ``val.chunk``/``val.tile``) inference -> ``(n,t,3,sh,sw)`` in [0,1]."""
        net = net or self.eval_net
        was_training = net.training
        net.eval()
        val = self.opt.get("val", {})
        if val.get("tile") or val.get("chunk"):  # bounded memory: slices are moved to the device one by one
            settings = InferenceSettings(scale=self.opt.get("scale", 4), chunk=val.get("chunk"),
                                         chunk_overlap=val.get("chunk_overlap", 2), tile=val.get("tile"),
                                         tile_overlap=val.get("tile_overlap", 16),
                                         autocast=self.opt.get("precision") if self.autocast_dtype else None)
            side = {k: batch[k] for k in self.inputs if k in batch}
            out = run_inference(net, batch["lq"], side, settings, device=self.device)
        else:
            batch = {k: v.to(self.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            with self.autocast():
                out = run_net(net, batch, self.inputs)
        net.train(was_training)
        return out.float().clamp_(0, 1)

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


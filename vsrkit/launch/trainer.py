"""The iteration-based training loop: build, resume, optimise, log, validate, checkpoint."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import logging.handlers
import math
import time
from pathlib import Path
from typing import Callable

import torch

from vsrkit import __version__
from vsrkit.builders import build_dataset, check_scales
from vsrkit.data.loader import build_train_loader, build_val_loader, prefetch
from vsrkit.engine import checkpoint as ckpt
from vsrkit.engine.dist import DistInfo, barrier, gather_objects, init_dist
from vsrkit.engine.logger import ProgressMeter, TensorBoardLogger, format_eta, setup_logger
from vsrkit.launch.prepare import prepare_demo_data
from vsrkit.engine.seed import get_rng_state, set_rng_state, set_seed
from vsrkit.errors import CheckpointError, ConfigError, VsrkitError
from vsrkit.models.evaluation import BASELINE_PREFIX, build_scorers, evaluate
from vsrkit.options import dump_options
from vsrkit.registry import MODELS

log = logging.getLogger("vsrkit")


def experiment_dirs(opt: dict) -> dict[str, Path]:
    root = Path(opt["path"].get("experiments_root") or Path("experiments") / opt["name"])
    return {"root": root, "models": root / "models", "states": root / "training_states", "logs": root / "logs",
            "tb": root / "tb"}


class Trainer:
    """Runs one experiment described by resolved options ``opt`` (see :func:`vsrkit.options.load_options`).

    Nothing is written until everything is built and the resume state (if any) is loaded: a run that fails at the
    start leaves no ``experiments/<name>`` behind. From then on, an error ends up as the last line of the run's log.
    An experiment folder that holds checkpoints is only continued (``auto_resume``, ``path.resume_state``) or, with
    ``restart``, moved aside whole to ``<folder>_archived_<time>``; nothing of an earlier run is deleted.
    """

    def __init__(self, opt: dict, auto_resume: bool = False, restart: bool = False):
        self.opt = opt
        self.dist: DistInfo = init_dist(opt.get("num_gpu", "auto"), **_dist_kwargs(opt))
        self.dirs = experiment_dirs(opt)
        self.file_log: logging.Handler | None = None
        self.buffer = start_logging(self.dist.is_main)
        if auto_resume and restart:
            raise ConfigError("--auto_resume continues the experiment and --restart moves it aside: give one of them")
        self._check_folder(auto_resume, restart)
        seed = opt["manual_seed"]
        set_seed(seed, opt.get("deterministic", False))
        log.info("vsrkit %s | torch %s | device %s | world size %d | seed %d%s", __version__, torch.__version__,
                 self.dist.device, self.dist.world_size, seed, " | deterministic" if opt.get("deterministic") else "")

        prepare_demo_data(opt, self.dist)
        ds_opts = opt.get("datasets", {})
        if "train" not in ds_opts:
            raise ConfigError(f"{opt['opt_path']}: datasets.train is missing")
        check_scales(opt)
        where = f"{opt['opt_path']}: datasets.train"
        self.train_set = build_dataset(ds_opts["train"], where)
        self.train_loader, self.sampler = build_train_loader(
            self.train_set, ds_opts["train"], self.dist.rank, self.dist.world_size, seed,
            pin_memory=self.dist.device.type == "cuda")
        self.batches_per_epoch = len(self.sampler) // ds_opts["train"].get("batch_size_per_gpu", 1)
        if self.batches_per_epoch == 0:
            raise ConfigError(f"{where}: fewer items than batch_size_per_gpu; lower it or raise dataset_enlarge_ratio")
        self.val_sets = {k: build_dataset(v, f"{opt['opt_path']}: datasets.{k}")
                         for k, v in ds_opts.items() if k.startswith("val")}
        self.scorers = build_scorers(opt["val"].get("metrics"), opt["val"].get("rounding", "round"),
                                     f"{opt['opt_path']}: val.metrics")

        torch.manual_seed(seed)  # identical initial weights on every rank
        self.model = MODELS.get(opt.get("model_type", "VideoSRModel"), where="model_type")(opt, self.dist)
        torch.manual_seed(seed + self.dist.rank)
        self.iter, self.epoch, self.sampler_pos, self.best = 0, 0, 0, {}
        self.best_metric, self.best_mode = self._best_rule()
        self.loss_sums: dict[str, list[float]] = {}
        self._resume(auto_resume and not restart)
        self._make_folder(restart)
        with self.recording_errors():
            self.tb = TensorBoardLogger(self.dirs["tb"] if self.dist.is_main and opt["logger"]["use_tb_logger"]
                                        else None)
            if self.dist.is_main:
                dump_options(opt, self.dirs["root"] / "options.yml")

    # ------------------------------------------------------------------ folder, log and resume
    def _check_folder(self, auto_resume: bool, restart: bool) -> None:
        """Refuse to write over an earlier run: checkpoints in the folder need --auto_resume or --restart."""
        if auto_resume or restart or self.opt["path"].get("resume_state"):
            return
        states = ckpt.list_states(self.dirs["states"])
        nets = _network_files(self.dirs["models"])
        if states or nets:
            newest = f"newest: iter {states[0][0]}" if states else f"networks: {_short_list(nets)}"
            raise ConfigError(f"{self.dirs['root']} already holds checkpoints ({newest}); pass --auto_resume to "
                              f"continue it, --restart to move it to {self.dirs['root']}_archived_<time> and start "
                              f"over, or change 'name' to start a new run")

    def _make_folder(self, restart: bool) -> None:
        """Create the experiment folders (after moving an earlier run aside with ``restart``) and the log file."""
        barrier()
        if self.dist.is_main:
            root = self.dirs["root"]
            if restart and root.exists() and any(root.iterdir()):
                archive = _archive_name(root)
                root.rename(archive)
                log.info("--restart: moved the earlier run %s to %s", root, archive)
            for d in self.dirs.values():
                d.mkdir(parents=True, exist_ok=True)
            for path in ckpt.stale_temporaries(self.dirs["models"]) + ckpt.stale_temporaries(self.dirs["states"]):
                path.unlink(missing_ok=True)
                log.info("removed %s (an unfinished checkpoint write of a killed run)", path)
            stamp = time.strftime("%Y%m%d_%H%M%S")
            self.file_log = attach_log_file(self.dirs["logs"] / f"train_{self.opt['name']}_{stamp}.log", self.buffer)
        barrier()

    def recording_errors(self):
        """Write an exception that ends the run into the run's log file (the terminal gets it from the launcher)."""
        return recording_errors(lambda: self.file_log)

    def _resume(self, auto_resume: bool) -> None:
        """Load the state of ``path.resume_state`` or (``auto_resume``) the newest valid one of this experiment,
        and the networks saved with it (``models/net_g_<iter>.pth`` of the state's own experiment)."""
        explicit = self.opt["path"].get("resume_state")
        if explicit:
            path = Path(explicit)
            state = ckpt.check_training_state(ckpt.load_file(path), path)
        elif auto_resume:
            found, skipped = ckpt.scan_states(self.dirs["states"], ckpt.check_training_state)
            if found is None:
                self._nothing_to_resume(skipped)
                return
            state, path = found
        else:
            return
        it = int(state["iter"])
        self.model.load_networks(self._networks_of(path, it), it)
        self.model.load_training_state(state["model"])
        self.iter, self.epoch, self.sampler_pos = it, int(state["epoch"]), int(state["sampler_pos"])
        self.best = dict(state.get("best", {}))
        rng = state["rng"]
        if len(rng) == self.dist.world_size:
            set_rng_state(rng[self.dist.rank])
        else:
            log.warning("resuming with %d ranks from a state saved by %d: RNG streams are re-seeded",
                        self.dist.world_size, len(rng))
        log.info("resumed from %s (iter %d, epoch %d)", path, it, self.epoch)

    def _nothing_to_resume(self, skipped: list[str]) -> None:
        """--auto_resume found no valid state: start at 0 only if that overwrites nothing of an earlier run."""
        root = self.dirs["root"]
        how = (f"to start over, pass --restart (moves {root} to {root}_archived_<time>; nothing is deleted) or "
               f"change 'name'")
        if skipped:
            raise CheckpointError(f"--auto_resume: no training state in {self.dirs['states']} can be read "
                                  f"({len(skipped)} unreadable: {' | '.join(skipped)}); {how}")
        nets = _network_files(self.dirs["models"])
        if nets:
            raise CheckpointError(f"--auto_resume: {root} holds networks ({_short_list(nets)}) but no training "
                                  f"state to continue from; starting at 0 would overwrite them; {how}")
        log.info("--auto_resume: no training state in %s, starting from iteration 0", self.dirs["states"])

    def _networks_of(self, state_path: Path, it: int) -> Path:
        """The models folder saved with the training state ``state_path``: ``../models`` of its experiment."""
        folder = state_path.resolve().parent.parent / "models"
        net = folder / f"net_g_{it}.pth"
        if not net.is_file():
            raise CheckpointError(f"{state_path}: the networks of this state (iter {it}) are missing: expected "
                                  f"{net} (a training state resumes together with models/net_g_{it}.pth of the "
                                  f"same experiment); copy it there, or resume from a state whose networks exist")
        return folder

    def save(self, tag: int | str) -> None:
        """Write ``net_g_<tag>.pth`` and (for iterations) the matching training state; prune old ones."""
        rng = gather_objects(get_rng_state())
        if not self.dist.is_main:
            return
        meta = {"iter": self.iter, "arch": self.opt["network_g"].get("type"), "name": self.opt["name"],
                "vsrkit": __version__}
        self.model.save_networks(self.dirs["models"], tag, meta)
        if isinstance(tag, int):
            state = {"iter": self.iter, "epoch": self.epoch, "sampler_pos": self.sampler_pos, "best": self.best,
                     "model": self.model.training_state(), "rng": rng}
            ckpt.atomic_save(state, self.dirs["states"] / f"{tag}.state")
            keep = self.opt["logger"].get("keep_last")
            ckpt.prune(self.dirs["states"], r"^(\d+)\.state$", keep)
            ckpt.prune(self.dirs["models"], r"^net_g_(\d+)(?:_net\d+)?\.pth$", keep)

    # ------------------------------------------------------------------ loop
    def batches(self):
        """Endless stream of training batches, continuing the saved sampler position after a resume."""
        bs = self.opt["datasets"]["train"].get("batch_size_per_gpu", 1)
        mode = self.opt["datasets"]["train"].get("prefetch_mode")
        while True:
            self.sampler.set_epoch(self.epoch, self.sampler_pos)
            for batch in prefetch(self.train_loader, self.dist.device, mode):
                self.sampler_pos += bs
                yield batch
            self.epoch += 1
            self.sampler_pos = 0

    def train(self) -> None:
        """Train to ``train.total_iter`` (an error that stops the run is also written to its log)."""
        with self.recording_errors():
            self._train()

    def _train(self) -> None:
        total = self.opt["train"]["total_iter"]
        lg = self.opt["logger"]
        val_freq = self.opt["val"].get("val_freq", 0)
        meter = ProgressMeter(self.iter, total)
        log.info("training %s from iter %d to %d (%d batches per epoch)", self.opt["name"], self.iter, total,
                 self.batches_per_epoch)
        stream = self.batches()
        while self.iter < total:
            batch = next(stream)
            self.iter += 1
            losses = self.model.optimize(batch, self.iter)
            if self.best_metric and self.best_metric.startswith("train/"):
                for k, v in losses.items():
                    self.loss_sums.setdefault(k, []).append(v)
            if self.iter % lg["print_freq"] == 0 or self.iter == total:
                rate = meter.rate(self.iter)
                scalars = {f"train/{k}": v for k, v in losses.items()}
                scalars.update({"train/lr": self.model.lr(), "train/iter_per_s": rate})
                if self.dist.device.type == "cuda":
                    scalars["train/gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.dist.device) / 2**30
                self.tb.scalars(scalars, self.iter)
                loss_txt = " ".join(f"{k}: {v:.4e}" for k, v in losses.items())
                log.info("[epoch %d iter %d/%d] lr %.3e | %s | %.2f it/s | eta %s", self.epoch, self.iter, total,
                         self.model.lr(), loss_txt, rate, format_eta(meter.eta_seconds(self.iter)))
            if val_freq and self.iter % val_freq == 0:
                self.check_training_loss()
                if self.val_sets:
                    self.validate()
            if self.iter % lg["save_checkpoint_freq"] == 0:
                self.save(self.iter)
        self.save("latest")
        if not (val_freq and self.iter % val_freq == 0):
            self.check_training_loss()
            if self.val_sets:
                self.validate()
        log.info("done: %s", self.dirs["models"] / "net_g_latest.pth")
        if self.dist.distributed:
            same = self.ranks_in_sync()
            log.info("parameters identical across %d ranks: %s", self.dist.world_size, same)
        self.tb.close()
        barrier()  # every rank is done before any tears the process group down (gloo aborts a rank whose peer left)

    def ranks_in_sync(self) -> bool:
        digest = hashlib.sha256()
        for t in ckpt.unwrap(self.model.net).state_dict().values():
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
        return len(set(gather_objects(digest.hexdigest()))) == 1

    # ------------------------------------------------------------------ best checkpoint
    def _best_rule(self) -> tuple[str | None, str]:
        """``val.best: {metric, mode}`` -> (tag, mode). ``metric``: a validation metric label (``psnr``: on the first
        validation set; ``<set>/psnr``) or ``train/<loss>`` (the mean of that loss term since the previous check);
        ``mode``: ``max`` or ``min``. Default: the first metric of the first set, ``max``."""
        best = self.opt["val"].get("best") or {}
        where = f"{self.opt['opt_path']}: val.best"
        metric = best.get("metric") or next(iter(self.scorers), None)
        mode = best.get("mode", "min" if metric and metric.startswith("train/") else "max")
        if mode not in ("max", "min"):
            raise ConfigError(f"{where}.mode must be max or min, got {mode!r}")
        if metric is None or metric.startswith("train/"):
            return metric, mode
        if metric.split("/")[-1] not in self.scorers:
            raise ConfigError(f"{where}.metric '{metric}' is not one of val.metrics ({', '.join(self.scorers)}) "
                              f"or train/<loss name>")
        return (metric if "/" in metric else f"{next(iter(self.val_sets), '')}/{metric}"), mode

    def consider_best(self, tag: str, value: float) -> None:
        """Record ``value`` of ``tag`` if it improves; for the chosen tag (``val.best``) also write net_g_best.
        ``val.best.mode`` applies to the chosen tag; other metrics improve upwards, training losses downwards."""
        higher = self.best_mode == "max" if tag == self.best_metric else not tag.startswith("train/")
        if not is_better(value, self.best.get(tag), higher_is_better=higher):
            return
        self.best[tag] = value
        if tag == self.best_metric and self.dist.is_main:
            self.model.save_networks(self.dirs["models"], "best",
                                     {"iter": self.iter, "metric": tag, "value": value, "mode": self.best_mode})

    def check_training_loss(self) -> None:
        """Mean of each loss term since the last check; the best checkpoint may go by one of them."""
        means = {k: sum(v) / len(v) for k, v in self.loss_sums.items() if v}
        self.loss_sums = {}
        if self.best_metric and self.best_metric.startswith("train/"):
            name = self.best_metric[len("train/"):]
            if name not in means:
                raise ConfigError(f"{self.opt['opt_path']}: val.best.metric '{self.best_metric}' names no loss term "
                                  f"(terms: {', '.join(means)})")
            self.consider_best(self.best_metric, means[name])

    # ------------------------------------------------------------------ validation
    def validate(self) -> dict[str, float]:
        results = {}
        for name, dataset in self.val_sets.items():
            loader = build_val_loader(dataset, self.dist.rank, self.dist.world_size)
            samples = []

            def keep_sample(batch, pred, _s=samples):
                if len(_s) < self.opt["val"].get("num_save_img", 2) and pred.gt is not None:
                    mid = pred.out.shape[1] // 2
                    _s.append((pred.clips[0], torch.cat([pred.out[0, mid], pred.gt[0, mid]], dim=-1)))

            table = evaluate(self.model.infer, loader, self.scorers, self.opt["val"].get("compare_bicubic", True),
                             keep_sample)
            means = table.means()
            for key, tensor in samples:
                self.tb.image(f"{name}/{key}", tensor, self.iter)
            for metric, value in means.items():
                if metric.startswith(BASELINE_PREFIX):
                    continue
                self.consider_best(f"{name}/{metric}", value)
            self.tb.scalars({f"val/{name}/{k}": v for k, v in means.items()}, self.iter)
            txt = ", ".join(f"{k} {v:.4f}" for k, v in means.items())
            log.info("validation %s @ iter %d: %s (best %s)", name, self.iter, txt,
                     ", ".join(f"{k} {v:.4f}" for k, v in self.best.items() if k.startswith(name + "/")))
            results.update({f"{name}/{k}": v for k, v in means.items()})
        return results


def _network_files(folder: Path) -> list[str]:
    """Names of the checkpoint files in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix == ".pth" and not p.name.startswith(".")]
    return [p.name for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)]


def _short_list(names: list[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _archive_name(root: Path) -> Path:
    """``<root>_archived_<time>`` (BasicSR's name for a moved-aside run), unused."""
    base = root.with_name(f"{root.name}_archived_{time.strftime('%Y%m%d_%H%M%S')}")
    archive, i = base, 1
    while archive.exists():
        archive, i = base.with_name(f"{base.name}_{i}"), i + 1
    return archive


def start_logging(is_main: bool) -> logging.handlers.MemoryHandler | None:
    """Log to the terminal now; keep the lines for the log file, which exists only once the run has started."""
    setup_logger(None, is_main)
    if not is_main:
        return None
    buffer = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1)
    log.addHandler(buffer)
    return buffer


def attach_log_file(path: Path, buffer: logging.handlers.MemoryHandler | None) -> logging.Handler:
    """Open the run's log file (terminal + file, as :func:`setup_logger`) and write into it the lines logged before
    it existed; returns the file's handler."""
    early = list(buffer.buffer) if buffer is not None else []
    setup_logger(path, True)
    handler = next(h for h in log.handlers if isinstance(h, logging.FileHandler))
    for record in early:
        handler.handle(record)
    if buffer is not None:
        buffer.close()
    return handler


@contextlib.contextmanager
def recording_errors(file_log: Callable[[], logging.Handler | None]):
    """Write an exception that ends a run into its log file, ``file_log()`` (None: no file yet): ``error: <one
    line>`` for vsrkit's own errors, the traceback for others; then raise it on (the launcher prints it)."""
    try:
        yield
    except BaseException as err:
        handler = file_log()
        if handler is not None:
            if isinstance(err, VsrkitError):
                msg, exc_info = f"error: {err}", None
            elif isinstance(err, KeyboardInterrupt):
                msg, exc_info = "interrupted", None
            else:
                msg, exc_info = f"error: {type(err).__name__}: {err}", (type(err), err, err.__traceback__)
            handler.handle(log.makeRecord(log.name, logging.ERROR, __file__, 0, msg, (), exc_info))
            handler.flush()
        raise


def _dist_kwargs(opt: dict) -> dict:
    d = opt.get("dist_params", {})
    return {"backend": d.get("backend"), "port": d.get("port", 29500), "timeout_min": d.get("timeout_min", 30)}


def is_better(value: float, best: float | None, higher_is_better: bool = True) -> bool:
    if value != value:  # nan
        return False
    if best is None or (isinstance(best, float) and math.isnan(best)):
        return True
    return value > best if higher_is_better else value < best

"""Evaluation run for test.py: every ``datasets.test*``/``val*`` set, per-clip table printed and saved."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vsrkit.builders import build_dataset, check_scales
from vsrkit.data.loader import build_val_loader
from vsrkit.engine.dist import DistInfo, barrier, init_dist
from vsrkit.launch.prepare import prepare_demo_data
from vsrkit.launch.trainer import attach_log_file, recording_errors, start_logging
from vsrkit.engine.seed import set_seed
from vsrkit.errors import ConfigError, DataError
from vsrkit.fileio import write_bytes_atomic, write_text_atomic
from vsrkit.metrics import tensor_to_uint8
from vsrkit.launch.published import beside_published, check_published
from vsrkit.models.evaluation import BASELINE_PREFIX, build_scorers, evaluate
from vsrkit.models.prediction import Prediction
from vsrkit.registry import MODELS

log = logging.getLogger("vsrkit")


class Tester:
    """Evaluates the network of ``opt`` (weights from ``path.pretrain_network_g``) on its test sets."""

    def __init__(self, opt: dict):
        self.opt = opt
        self.dist: DistInfo = init_dist(opt.get("num_gpu", "auto"))
        self.root = Path(opt["path"].get("results_root") or Path("results") / opt["name"])
        buffer = start_logging(self.dist.is_main)  # the results folder is made once everything is built
        self.file_log = None
        check_scales(opt)
        set_seed(opt["manual_seed"], opt.get("deterministic", False))
        prepare_demo_data(opt, self.dist)
        sets = {k: v for k, v in opt.get("datasets", {}).items() if k.startswith(("test", "val"))}
        if not sets:
            raise ConfigError(f"{opt['opt_path']}: no datasets.test_* section to evaluate")
        self.sets = {v.get("name", k): build_dataset(v, f"{opt['opt_path']}: datasets.{k}") for k, v in sets.items()}
        if not opt["path"].get("pretrain_network_g"):
            log.warning("path.pretrain_network_g is not set: evaluating randomly initialised weights")
        self.model = MODELS.get(opt.get("model_type", "VideoSRModel"), where="model_type")(opt, self.dist)
        self.scorers = build_scorers(opt["val"].get("metrics"), opt["val"].get("rounding", "round"),
                                     f"{opt['opt_path']}: val.metrics")
        if not self.scorers:
            raise ConfigError(f"{opt['opt_path']}: val.metrics is empty; add e.g. psnr: {{type: psnr, crop_border: 0}}")
        check_published(opt["val"].get("published_results"), list(self.scorers),
                        f"{opt['opt_path']}: val.published_results")
        if self.dist.is_main:
            self.root.mkdir(parents=True, exist_ok=True)
            self.file_log = attach_log_file(self.root / f"test_{opt['name']}_{time.strftime('%Y%m%d_%H%M%S')}.log",
                                            buffer)

    def run(self) -> dict[str, dict]:
        """Evaluate every set; an error that stops the run is also written into the log file."""
        with recording_errors(lambda: self.file_log):
            tables = self._run()
        barrier()  # every rank is done before any tears the process group down
        return tables

    def _run(self) -> dict[str, dict]:
        tables = {}
        for name, dataset in self.sets.items():
            loader = build_val_loader(dataset, self.dist.rank, self.dist.world_size)
            batches = tqdm(loader, desc=name, unit="clip", disable=not self.dist.is_main)
            save_dir = self.root / name if self.opt["val"].get("save_img") else None
            table = evaluate(self.model.infer, batches, self.scorers, self.opt["val"].get("compare_bicubic", True),
                             (lambda b, p, d=save_dir: self._save_frames(d, p)) if save_dir else None)
            tables[name] = table.means()
            if self.dist.is_main:
                write_text_atomic(self.root / f"{name}_metrics.csv", table.to_csv())
                md = table.to_markdown(marked=self.published_columns(table))
                if any(s.published for s in self.scorers.values()):
                    md += "\n† the paper's published protocol; other columns are vsrkit's additions\n"
                side = beside_published(table, self.opt["val"].get("published_results"))
                if side:
                    md += "\n" + side
                write_text_atomic(self.root / f"{name}_metrics.md", md)
                print(f"\n{name} ({self.opt['name']})\n{md}", flush=True)
                log.info("%s: %s", name, ", ".join(f"{k} {v:.4f}" for k, v in tables[name].items()))
        return tables

    def published_columns(self, table) -> list[str]:
        """Columns scored with a ``published: true`` scorer (the model's and its baseline's)."""
        labels = {label for label, s in self.scorers.items() if s.published}
        return [m for m in table.metrics if m in labels or m.startswith(BASELINE_PREFIX)
                and m[len(BASELINE_PREFIX):] in labels]

    def _save_frames(self, folder: Path, pred: Prediction) -> None:
        """Each predicted frame as ``<folder>/<clip>/<frame id:08d>.png`` (written atomically)."""
        rounding = self.opt["val"].get("rounding", "round")
        for i, clip in enumerate(pred.clips):
            frames = tensor_to_uint8(pred.out[i], rounding="round" if rounding == "none" else rounding)
            for frame, fid in zip(frames, pred.frame_ids[i].tolist()):
                bgr = np.ascontiguousarray(frame[..., ::-1]) if frame.shape[-1] == 3 else frame
                ok, png = cv2.imencode(".png", bgr)
                if not ok:
                    raise DataError(f"could not encode frame {fid} of clip {clip} as PNG")
                write_bytes_atomic(folder / str(clip) / f"{fid:08d}.png", png.tobytes())

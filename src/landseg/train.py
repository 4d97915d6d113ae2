"""Training: random windows, D4 + photometric augmentation, CE (+Dice), AdamW with warm-up and
cosine decay, validation by sliding-window prediction on whole validation tiles, self-describing
checkpoints, resume, Ctrl-C safety and DDP (torchrun) on CPU or GPU.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from rasterio.enums import Resampling
from torch.utils.data import DataLoader
from tqdm import tqdm

from landseg.classes import ClassTable
from landseg.data.dataset import RandomWindows, WindowSampler, labelled_share
from landseg.data.prepare import check_tiles, load_manifest
from landseg.errors import CheckpointError, ConfigError, InputError, OutputError
from landseg.evaluate import evaluate_tiles
from landseg.inference.engine import autocast_dtype, pick_device
from landseg.io.csvfile import csv_text
from landseg.io.files import atomic_output, clean_stale, write_json_atomic
from landseg.io.raster import open_raster
from landseg.layout import RunPaths
from landseg.metrics import metrics_from_confusion
from landseg.models.build import build_model
from landseg.models.catalog import (
    FAMILY_NAMES,
    model_arch,
    model_encoder,
)
from landseg.models.checkpoint import (
    Checkpoint,
    load_checkpoint,
    read_metadata,
    resolve_model_path,
    save_checkpoint,
)
from landseg.models.domain import COLOUR_LEVELS, band_meaning, colour_counts, record_from_counts
from landseg.models.pretrained import load_pretrained, normalisation
from landseg.models.unet import count_parameters
from landseg.train_config import TrainConfig


def dice_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Soft Dice over classes, ignoring ``ignore_index`` pixels.

    The intersection gathers each pixel's probability of its true class and sums it per class, so no
    one-hot tensor of the labels is built (half the time of the one-hot form, the same value).
    """
    nc = logits.shape[1]
    probs = logits.float().softmax(1)
    valid = target != ignore_index
    t = target.clamp(max=nc - 1) * valid  # ignored pixels count as class 0 with weight 0
    w = valid.to(probs.dtype)
    p_true = probs.gather(1, t.unsqueeze(1)).squeeze(1) * w
    inter = torch.zeros(nc, dtype=probs.dtype, device=probs.device).scatter_add(0, t.flatten(), p_true.flatten())
    count = torch.bincount(t.flatten(), weights=w.flatten(), minlength=nc).to(probs.dtype)
    present = count > 0
    dice = (2 * inter + 1.0) / ((probs * w.unsqueeze(1)).sum((0, 2, 3)) + count + 1.0)
    return (1 - dice[present]).mean() if present.any() else logits.sum() * 0


PROGRESS_EVERY_S = 30.0  # seconds between progress lines within an epoch when stderr is not a terminal


class EpochProgress:
    """Progress within a training epoch as plain lines on stderr, for logs and pipes, where tqdm's bar is off:
    one line when the epoch starts, one after its first batch, then at most one every ``every`` seconds
    (and none at all while a terminal shows tqdm's bar)."""

    def __init__(self, desc: str, total: int, batch_size: int, *, enabled: bool, every: float | None = None,
                 stream: Any = None) -> None:
        self.desc, self.total, self.batch_size, self.enabled = desc, total, batch_size, enabled
        self.every = PROGRESS_EVERY_S if every is None else every
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = self.last = time.monotonic()
        self.lines = 0
        if enabled:
            self._say(f"{desc}: started ({total} batches of {batch_size} windows)")

    def _say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self.lines += 1

    def update(self, done: int, loss: Callable[[], float]) -> None:
        """``done`` batches of this epoch are finished; ``loss`` gives the running mean loss (called only to print)."""
        now = time.monotonic()
        if not self.enabled or (done != 1 and now - self.last < self.every):
            return
        self.last = now
        dt = now - self.t0
        rate = done / dt if dt > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 and self.total >= done else float("nan")
        eta = f", about {_duration(left)} left in this epoch" if math.isfinite(left) else ""
        self._say(f"{self.desc}: {done}/{self.total} batches ({done / max(self.total, 1):.0%}), loss {loss():.3f}, "
                  f"{rate * self.batch_size:.2f} windows/s{eta}")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def lr_at(cfg: TrainConfig, progress: float) -> float:
    """Learning rate at ``progress`` (0-1) of the run: warm-up, then the configured schedule."""
    if cfg.schedule == "constant":
        return cfg.lr
    if progress < cfg.warmup:
        return cfg.lr * max(progress / cfg.warmup, 0.01)
    p = (progress - cfg.warmup) / max(1 - cfg.warmup, 1e-9)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def check_run_folder(run: str | Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to write a new run over an existing one unless ``resume`` or ``overwrite`` says what to do."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other: resume continues the run in --out, "
                          "overwrite starts it again from scratch")
    run = Path(run)
    if run.exists() and not run.is_dir():
        raise OutputError(f"{run}: --out must be a folder, found a file")
    found = [f.name for f in RunPaths(run).files()[:4] if f.exists()]
    if found and not resume and not overwrite:
        raise OutputError(
            f"{run}: already holds a training run ({', '.join(found)}); continue it with --resume, "
            "replace it with --overwrite, or choose another --out"
        )


def arch_model_name(arch: dict[str, Any]) -> tuple[str, int | None, int | None]:
    """The ``--model`` name (and U-Net width/depth) of a stored architecture."""
    if arch.get("name") == "segmodel":
        for name, (enc, dec) in FAMILY_NAMES.items():
            if (enc, dec) == (arch["encoder"], arch["decoder"]):
                return name, None, None
        raise CheckpointError(f"no --model name for the architecture {arch}")
    return "small", int(arch["width"]), int(arch["depth"])


def init_model_options(spec: str) -> dict[str, Any]:
    """``--model`` (and U-Net ``width``/``depth``) of the ``--init`` model, for a run that names no model."""
    name, width, depth = arch_model_name(read_metadata(resolve_model_path(spec))["arch"])
    return {"model": name, "width": width, "depth": depth}


def _family(arch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arch.items() if k not in ("num_classes", "in_channels")}


def init_weights(model: torch.nn.Module, parent: Checkpoint, names: list[str]) -> dict[str, Any]:
    """Copy every weight of ``parent`` into ``model`` (same architecture, any class table); the head (``head.*``)
    row by row where a class name of ``names`` is in the parent's table, left freshly initialised for new classes.
    Returns what was mapped (recorded in the new checkpoint)."""
    sd = model.state_dict()
    pnames = list(parent.class_table.names)
    mapped = {n: pnames.index(n) for n in names if n in pnames}
    with torch.no_grad():
        for k, v in sd.items():
            src = parent.state_dict[k].to(v.dtype)
            if k.startswith("head."):
                for i, n in enumerate(names):
                    if n in mapped:
                        v[i] = src[mapped[n]]
            else:
                v.copy_(src)
    return {"classes_mapped": sorted(mapped), "classes_new": [n for n in names if n not in mapped],
            "classes_dropped": [n for n in pnames if n not in names]}


def training_domain(manifest: dict[str, Any], tiles: list[dict[str, Any]], step: int = 4):
    """The domain record of a model trained on ``tiles``: band statistics and seen colours of their images
    (decimated ``step`` times each way, read strip by strip), pixel size, band meaning, classes, description."""
    root = Path(manifest["root"])
    nb = manifest["band_count"]
    hist = np.zeros((nb, 256), np.int64)
    cells = np.zeros(COLOUR_LEVELS**3, np.int64)
    for t in tiles:
        with open_raster(root / t["files"]["image"]) as ds:
            for row in range(0, ds.height, 512):
                h = min(512, ds.height - row)
                a = ds.read(window=((row, row + h), (0, ds.width)), resampling=Resampling.nearest,
                            out_shape=(ds.count, -(-h // step), -(-ds.width // step)))
                for b in range(nb):
                    hist[b] += np.bincount(a[b].ravel(), minlength=256)
                cells += colour_counts(a)
    ps = manifest.get("pixel_size")
    pixel = float(ps[0]) if isinstance(ps, list) and ps and not isinstance(ps[0], list) else None
    table = ClassTable.from_dict(manifest["class_table"])
    return record_from_counts(
        hist, cells, pixel_size=pixel, pixel_size_method="from the training tiles' georeferencing" if pixel else "unknown",
        band_meaning=band_meaning(manifest["bands"]), classes=list(table.names),
        description=f"prepared dataset {manifest.get('dataset')!r} ({root.resolve().name}): {len(tiles)} training tiles, "
                    f"bands {','.join(manifest['bands'])}")


class Trainer:
    """One training run: dataset, model, optimiser and the epoch loop, with checkpoints and metrics."""

    def __init__(self, dataset: str | Path, run: str | Path, cfg: TrainConfig, resume: bool = False,
                 overwrite: bool = False):
        check_run_folder(run, resume=resume, overwrite=overwrite)
        self.cfg = cfg
        self.run = Path(run)
        self.overwrite = overwrite
        self.manifest = load_manifest(dataset)
        check_tiles(self.manifest, label_keys=(cfg.label,))
        self.root = self.manifest["root"]
        self.table = ClassTable.from_dict(self.manifest["class_table"])
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.distributed = self.world_size > 1
        self.device = pick_device(cfg.device)
        if self.distributed:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.main = self.rank == 0
        tiles = self.manifest["tiles"]
        self.train_tiles = [t for t in tiles if t["split"] == "train"]
        self.val_tiles = [t for t in tiles if t["split"] == "val"][: cfg.val_max_tiles]
        if not self.train_tiles:
            raise InputError(f"{self.root}: the dataset has no training tiles")
        if cfg.label not in self.train_tiles[0]["files"]:
            have = ", ".join(k for k in self.train_tiles[0]["files"] if k != "image")
            raise ConfigError(f"label {cfg.label!r} is not in this dataset (it has {have})")
        if all(max(t["width"], t["height"]) < cfg.window for t in self.train_tiles):
            biggest = max(max(t["width"], t["height"]) for t in self.train_tiles)
            raise ConfigError(f"window {cfg.window} is larger than every training tile (largest side {biggest} px); "
                              "use a smaller --window")
        self.arch = model_arch(cfg.model, self.manifest["band_count"], self.table.num_classes, cfg.width, cfg.depth)
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.arch)
        self.parent = self._load_parent() if cfg.init else None
        self.init_record: dict[str, Any] | None = None
        if self.parent is not None:
            self.norm_mean, self.norm_std = list(self.parent.mean), list(self.parent.std)
            self.pretrained_note = f"weights restored from the checkpoint (initialised from {cfg.init})"
            if not resume:
                self.init_record = init_weights(self.model, self.parent, list(self.table.names))
                self.pretrained_note = (f"initialised from {cfg.init} ({self.parent.path}): classes mapped by name: "
                                        f"{', '.join(self.init_record['classes_mapped']) or 'none'}; new: "
                                        f"{', '.join(self.init_record['classes_new']) or 'none'}")
        else:
            self.norm_mean, self.norm_std, self.pretrained_note = self._pretrained(resume)
        self.domain = training_domain(self.manifest, self.train_tiles) if self.rank == 0 else None
        self.model = self.model.to(self.device).to(memory_format=torch.channels_last)
        self.amp = autocast_dtype(self.device, cfg.precision)
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.opt = opt_cls(self._param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == torch.float16 and self.device.type == "cuda")
        self.mean = torch.tensor(self.norm_mean, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(self.norm_std, device=self.device).view(1, -1, 1, 1)
        self.class_weight = self._class_weights()
        self.epoch, self.step, self.batch_in_epoch, self.elapsed = 0, 0, 0, 0.0
        self.best = -1.0
        self.history: list[dict[str, Any]] = []
        self._partial: dict[str, Any] | None = None  # training stats of the unfinished epoch (resume mid-epoch)
        self.loader: DataLoader | None = None
        self.sampler: WindowSampler | None = None
        if resume:
            self._resume()
        self.net = self.model
        if self.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # -- setup helpers -----------------------------------------------------------------
    def _load_parent(self) -> Checkpoint:
        """The ``--init`` model, checked against this run: same architecture family, same band count."""
        spec = str(self.cfg.init)
        parent = load_checkpoint(spec)
        pname = arch_model_name(parent.arch)[0]
        if _family(parent.arch) != _family(self.arch):
            raise ConfigError(f"--init {spec} is a {pname} model ({_family(parent.arch)}) but --model {self.cfg.model} "
                              f"is {_family(self.arch)}; weights carry over within one architecture only: leave out "
                              f"--model (the parent's is used) or give --model {pname}")
        if parent.arch["in_channels"] != self.arch["in_channels"]:
            raise ConfigError(f"--init {spec} takes {parent.arch['in_channels']} bands ({', '.join(parent.bands)}) but "
                              f"the dataset {self.root} has {self.arch['in_channels']}; start from a model with the "
                              "dataset's bands, or without --init")
        return parent

    def _pretrained(self, resume: bool) -> tuple[list[float], list[float], str]:
        """Load the encoder's pretrained weights (not on resume: the checkpoint has them) and pick the
        normalisation: the weights' own with pretrained weights, else the dataset's statistics."""
        encoder, source = model_encoder(self.cfg.model), self.cfg.pretrained
        uses_weights = encoder is not None and source != "none" and (source is not None or encoder.startswith("efficientnet"))
        if not uses_weights:
            return list(self.manifest["mean"]), list(self.manifest["std"]), "no pretrained weights"
        note = "pretrained weights restored from the checkpoint"
        if not resume:
            note = load_pretrained(self.model, source).summary()
        mean, std = normalisation(encoder, self.manifest["band_count"])
        return mean, std, note

    def _param_groups(self) -> list[dict[str, Any]]:
        """One group, or (encoder, rest) with the encoder at ``encoder_lr`` x lr for pretrained encoders."""
        if not hasattr(self.model, "encoder"):
            return [{"params": list(self.model.parameters())}]
        scale = self.cfg.encoder_lr
        if scale is None:
            scale = 0.1 if self.pretrained_note != "no pretrained weights" else 1.0
        enc = list(self.model.encoder.parameters())
        ids = {id(p) for p in enc}
        rest = [p for p in self.model.parameters() if id(p) not in ids]
        return [{"params": enc, "lr_scale": scale, "group": "encoder"}, {"params": rest, "lr_scale": 1.0, "group": "decoder"}]

    def encoder_frozen(self) -> bool:
        """Whether the pretrained encoder is still frozen this epoch."""
        return hasattr(self.model, "encoder") and self.epoch < self.cfg.freeze_encoder_epochs

    def _class_weights(self) -> torch.Tensor | None:
        if self.cfg.class_weights == "none":
            return None
        counts = np.asarray(self.manifest["class_pixel_counts"]["train"], dtype=np.float64) + 1
        w = 1 / np.sqrt(counts / counts.sum())
        w = w / w.mean()
        return torch.tensor(w, dtype=torch.float32, device=self.device)

    def _resume(self) -> None:
        path = RunPaths(self.run).last
        if not path.exists():
            raise CheckpointError(f"{self.run}: nothing to resume (no last.safetensors)")
        ck = load_checkpoint(path, with_training_state=True)
        self.init_record = (ck.train or {}).get("init")
        if ck.class_table.to_dict() != self.table.to_dict():
            raise CheckpointError(f"{path}: trained with class table {ck.class_table.name!r} {list(ck.class_table.names)}, "
                                  f"but this dataset has {self.table.name!r} {list(self.table.names)}")
        if ck.arch != self.arch:
            raise CheckpointError(f"{path}: architecture {ck.arch} differs from the configured {self.arch}")
        self.model.load_state_dict(ck.state_dict)
        if ck.optim_state:
            self.opt.load_state_dict(ck.optim_state)
        st = ck.train
        self.epoch, self.step, self.batch_in_epoch = st["epoch"], st["step"], st.get("batch_in_epoch", 0)
        self.elapsed, self.best, self.history = st.get("elapsed", 0.0), st.get("best", -1.0), st.get("history", [])
        self._partial = st.get("epoch_partial") if self.batch_in_epoch else None
        if ck.rng_state:
            torch.set_rng_state(ck.rng_state["torch"])

    def _checkpoint(self, metrics: dict[str, Any] | None, with_state: bool = True) -> Checkpoint:
        ps = self.manifest.get("pixel_size")
        pixel = float(ps[0]) if isinstance(ps, list) and ps and not isinstance(ps[0], list) else None
        return Checkpoint(
            arch=self.arch, class_table=self.table, bands=self.manifest["bands"], mean=self.norm_mean,
            std=self.norm_std, pixel_size=pixel, state_dict=self.model.state_dict(), domain=self.domain,
            train={"config": dataclasses.asdict(self.cfg), "metrics": metrics, "epoch": self.epoch, "step": self.step,
                   "batch_in_epoch": self.batch_in_epoch, "elapsed": self.elapsed, "best": self.best,
                   "history": self.history, "dataset": self.manifest["dataset"], "dataset_root": str(Path(self.root).resolve()),
                   "world_size": self.world_size,
                   "epoch_partial": self._partial_state(self._partial) if self.batch_in_epoch and not self.distributed
                   else None,
                   "train_tiles": [t["id"] for t in self.train_tiles], "val_tiles": [t["id"] for t in self.val_tiles],
                   "init": self._init_info()},
            optim_state=self.opt.state_dict() if with_state else None,
            rng_state={"torch": torch.get_rng_state()} if with_state else None,
        )

    def _init_info(self) -> dict[str, Any] | None:
        """The parent model of an ``--init`` run (recorded in every checkpoint)."""
        if self.parent is None:
            return None
        if self.init_record is not None and "model" in self.init_record:
            return self.init_record
        info = {"model": str(self.cfg.init), "path": self.parent.path, "arch": self.parent.arch,
                "classes": list(self.parent.class_table.names),
                "description": self.parent.domain_or_unknown().description, **(self.init_record or {})}
        self.init_record = info
        return info

    def _partial_state(self, partial: dict[str, Any] | None) -> dict[str, Any] | None:
        """The running training statistics as plain numbers (for the checkpoint)."""
        if partial is None:
            return None
        nc = self.table.num_classes
        cm = partial["cm"]
        if isinstance(cm, torch.Tensor):
            cm = cm[: nc * nc].reshape(nc, nc).tolist()
        loss_sum = partial["loss_sum"]
        return {"cm": cm, "loss_sum": float(loss_sum), "n_batches": int(partial["n_batches"])}

    def total_steps(self) -> int:
        """Optimiser steps of the whole run."""
        per_epoch = math.ceil(self.cfg.windows_per_epoch / (self.cfg.batch_size * self.world_size))
        return per_epoch * self.cfg.epochs

    def progress(self) -> float:
        """How far the run is (0-1), by steps or by the time limit, whichever is further."""
        p = self.step / max(self.total_steps(), 1)
        if self.cfg.time_limit:
            p = max(p, self.elapsed / (self.cfg.time_limit * 60))
        return min(p, 1.0)

    # -- loop --------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the end (epochs or time limit); returns the final metrics."""
        cfg = self.cfg
        if self.main:
            self.run.mkdir(parents=True, exist_ok=True)
            clean_stale(self.run)  # temp files of an earlier run that was killed
            if self.overwrite:  # the old run's files go first, so a failure cannot leave a mix of both runs
                for f in RunPaths(self.run).files():
                    f.unlink(missing_ok=True)
            with atomic_output(RunPaths(self.run).config) as tmp:
                tmp.write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False))
            print(f"model {self.arch} ({count_parameters(self.model) / 1e6:.2f} M parameters) on {self.device}"
                  f"{', ' + str(self.amp).replace('torch.', '') + ' autocast' if self.amp else ''}; "
                  f"{len(self.train_tiles)} training / {len(self.val_tiles)} validation tiles; {self.pretrained_note}")
            share = labelled_share(self.train_tiles, cfg.label)
            print(f"labelled share of the training tiles: {share:.1%}"
                  + ("; windows are drawn around labelled pixels" if self.sparse_labels() else ""))
        stop = False
        try:
            while self.epoch < cfg.epochs and not stop:
                stop = self.train_epoch()
                val = self.validate()
                self._end_epoch(val)
        except KeyboardInterrupt:
            if self.main:
                save_checkpoint(self._checkpoint(self.history[-1] if self.history else None), RunPaths(self.run).last)
                print(f"\ninterrupted: saved {RunPaths(self.run).last} (epoch {self.epoch}, step {self.step}); "
                      "continue with --resume")
            raise
        finally:
            self.loader = self.sampler = None  # shuts the persistent workers down
            if self.distributed and dist.is_initialized():
                dist.barrier()
        return self.history[-1] if self.history else {}

    def make_loader(self) -> tuple[DataLoader, WindowSampler]:
        """The training DataLoader, made once per run: its worker processes persist from epoch to epoch
        (the sampler carries the epoch) and prefetch batches while the model steps."""
        cfg = self.cfg
        ds = RandomWindows(self.root, self.train_tiles, cfg.window, math.ceil(cfg.windows_per_epoch / self.world_size),
                           label_key=cfg.label, seed=cfg.seed, augment=cfg.augment, jitter_strength=cfg.jitter,
                           scale=(cfg.scale_min, cfg.scale_max), ignore_index=self.table.ignore_index,
                           rank=self.rank, world_size=self.world_size, sparse=self.sparse_labels())
        workers = cfg.num_workers if cfg.num_workers is not None else min(4, max((os.cpu_count() or 2) - 1, 0))
        sampler = WindowSampler(len(ds))
        loader = DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=workers, drop_last=False,
                            persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
                            pin_memory=self.device.type == "cuda")
        return loader, sampler

    def sparse_labels(self) -> bool:
        """Labels cover less than half of the training tiles (e.g. polygons): draw windows around them."""
        return labelled_share(self.train_tiles, self.cfg.label) < 0.5

    def train_epoch(self) -> bool:
        """One training epoch (or the rest of one, on resume) without validation; True when the time
        limit stopped it."""
        if self.loader is None or self.sampler is None:
            self.loader, self.sampler = self.make_loader()
        self.sampler.epoch, self.sampler.start = self.epoch, self.batch_in_epoch * self.cfg.batch_size
        return self._train_epoch(self.loader)

    def _train_epoch(self, loader: DataLoader) -> bool:
        cfg = self.cfg
        self.net.train()
        frozen = self.encoder_frozen()
        if frozen:
            self.model.encoder.eval()  # keep the pretrained BatchNorm statistics while frozen
        if hasattr(self.model, "encoder") and not self.distributed:
            # a frozen encoder needs no gradients: backward then stops at the decoder (DDP keeps its
            # parameter set fixed, so there the frozen encoder only gets lr 0)
            self.model.encoder.requires_grad_(not frozen)
        nc, ignore = self.table.num_classes, self.table.ignore_index
        # running statistics stay on the device (no host sync per step); see _partial_state
        cm = torch.zeros(nc * nc + 1, dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        n_batches = 0
        if self._partial:  # resumed mid-epoch: the stats of the batches that ran before the interruption
            cm[:-1] += torch.as_tensor(self._partial["cm"], dtype=torch.int64, device=self.device).flatten()
            loss_sum += float(self._partial["loss_sum"])
            n_batches = int(self._partial["n_batches"])
        bar = tqdm(loader, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch", disable=not self.main or None,
                   leave=False)
        log = EpochProgress(f"epoch {self.epoch + 1}/{cfg.epochs}", len(loader), cfg.batch_size,
                            enabled=self.main and bool(bar.disable))  # no bar (a log, a pipe): lines instead
        t_last = time.perf_counter()
        for x, y in bar:
            for g in self.opt.param_groups:
                scale = 0.0 if frozen and g.get("group") == "encoder" else g.get("lr_scale", 1.0)
                g["lr"] = lr_at(cfg, self.progress()) * scale
            x = x.to(self.device, non_blocking=True).float()
            y = y.to(self.device, non_blocking=True)
            x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                logits = self.net(x)
            loss = F.cross_entropy(logits.float(), y, weight=self.class_weight, ignore_index=self.table.ignore_index)
            if cfg.loss == "ce+dice":
                loss = loss + cfg.dice_weight * dice_loss(logits, y, self.table.ignore_index)
            self.opt.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
            self.step += 1
            self.batch_in_epoch += 1
            now = time.perf_counter()
            self.elapsed += now - t_last
            t_last = now
            loss_sum += loss.detach()
            n_batches += 1
            with torch.no_grad():  # confusion counts by one bincount; argmax is cheap on channels_last logits
                pred = logits.argmax(1)
                cm += torch.bincount(torch.where((y < nc) & (y != ignore), y * nc + pred, nc * nc).flatten(),
                                     minlength=nc * nc + 1)
            self._partial = {"cm": cm, "loss_sum": loss_sum, "n_batches": n_batches}
            if self.main and (n_batches % 10 == 1 or n_batches == len(loader)):  # .item() syncs: not every step
                rate = bar.format_dict.get("rate") or 0
                bar.set_postfix(loss=f"{loss_sum.item() / n_batches:.3f}", win_s=f"{rate * cfg.batch_size:.1f}")
            if log.enabled:
                log.update(n_batches, lambda s=loss_sum, n=n_batches: float(s.item()) / n)
            if cfg.time_limit and self.elapsed >= cfg.time_limit * 60:
                break
        bar.close()
        self._partial = None
        stats = self._partial_state({"cm": cm, "loss_sum": loss_sum, "n_batches": n_batches})
        cm_np, total, count = np.asarray(stats["cm"], np.int64), stats["loss_sum"], float(n_batches)
        if self.distributed:
            t = torch.tensor(np.concatenate([cm_np.ravel(), [total, count]]), dtype=torch.float64)
            dist.all_reduce(t)
            cm_np = t[:-2].numpy().astype(np.int64).reshape(nc, nc)
            total, count = float(t[-2]), float(t[-1])
        self._train_stats = {"loss": total / max(count, 1), **metrics_from_confusion(cm_np, self.table.names)}
        return bool(cfg.time_limit and self.elapsed >= cfg.time_limit * 60)

    @torch.no_grad()
    def validate(self) -> dict[str, Any] | None:
        """Sliding-window prediction over whole validation tiles; one global confusion matrix."""
        if not self.val_tiles:
            return None
        self.model.eval()
        mine = self.val_tiles[self.rank :: self.world_size]
        cm, nll, npx = evaluate_tiles(self._predict_fn(), self.root, mine, self.table, label_key=self.cfg.label,
                                      window=self.cfg.val_window, overlap=self.cfg.val_overlap)
        if self.distributed:
            t = torch.tensor(np.concatenate([cm.ravel(), [nll, npx]]), dtype=torch.float64)
            dist.all_reduce(t)
            nc = self.table.num_classes
            cm, nll, npx = t[:-2].numpy().astype(np.int64).reshape(nc, nc), float(t[-2]), float(t[-1])
        return {"loss": nll / max(npx, 1), **metrics_from_confusion(cm, self.table.names)}

    def _predict_fn(self):
        def fn(batch: np.ndarray) -> np.ndarray:
            x = torch.from_numpy(batch).to(self.device).float()
            x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                return torch.softmax(self.model(x).float(), 1).cpu().numpy()

        return fn

    def _end_epoch(self, val: dict[str, Any] | None) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0
        tr = self._train_stats
        row: dict[str, Any] = {"epoch": self.epoch, "step": self.step, "lr": self.opt.param_groups[-1]["lr"],
                               "elapsed_s": round(self.elapsed, 1), "train_loss": tr["loss"], "train_oa": tr["oa"],
                               "train_mean_f1": tr["mean_f1"], "train_miou": tr["miou"]}
        score_src = val or tr
        if val:
            row.update(val_loss=val["loss"], val_oa=val["oa"], val_mean_f1=val["mean_f1"], val_miou=val["miou"])
            for n, m in val["per_class"].items():
                for k in ("precision", "recall", "f1", "iou"):
                    row[f"val_{k}_{n}"] = m[k]
        self.history.append(row)
        if not self.main:
            return
        score = score_src["mean_f1"] if not math.isnan(score_src["mean_f1"]) else -1
        metrics = {"train": tr, "val": val}
        if score > self.best:
            self.best = score
            save_checkpoint(self._checkpoint(metrics, with_state=False), RunPaths(self.run).best)
        save_checkpoint(self._checkpoint(metrics), RunPaths(self.run).last)
        write_metrics_csv(self.history, RunPaths(self.run).metrics_csv)
        write_json_atomic(RunPaths(self.run).metrics_json, {"history": self.history, "last": metrics, "best_mean_f1": self.best})
        plot_learning_curve(self.history, RunPaths(self.run).learning_curve)
        msg = f"epoch {self.epoch}: train loss {tr['loss']:.3f} OA {tr['oa']:.3f} mF1 {tr['mean_f1']:.3f}"
        if val:
            msg += f" | val loss {val['loss']:.3f} OA {val['oa']:.3f} mF1 {val['mean_f1']:.3f} mIoU {val['miou']:.3f}"
        tqdm.write(msg)


def write_metrics_csv(history: list[dict[str, Any]], path: Path) -> None:
    """The history as ``metrics.csv`` (one row per epoch, every key as a column)."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    text = csv_text(keys, ([row.get(k) for k in keys] for row in history))  # one CSV float rounding
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def plot_learning_curve(history: list[dict[str, Any]], path: Path) -> None:
    """Loss and mean F1 per epoch (train and validation) as a PNG."""

    matplotlib.use("Agg")

    ep = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, title in ((axes[0], "loss", "loss"), (axes[1], "mean_f1", "mean F1")):
        ax.plot(ep, [h[f"train_{key}"] for h in history], "o-", label="training")
        if any(f"val_{key}" in h for h in history):
            ax.plot(ep, [h.get(f"val_{key}", float("nan")) for h in history], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_output(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def train(dataset: str | Path, run: str | Path, cfg: TrainConfig, resume: bool = False,
          overwrite: bool = False) -> dict[str, Any]:
    """Train into the run folder ``run``; an existing run there needs ``resume`` or ``overwrite``."""
    return Trainer(dataset, run, cfg, resume=resume, overwrite=overwrite).fit()

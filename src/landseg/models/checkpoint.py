"""Self-describing checkpoints: safetensors tensors + JSON metadata. Loading never runs code.

A checkpoint holds the model weights (``model.*``) and, for resuming, the optimizer state
(``optim.*``) and RNG states (``rng.*``) as plain tensors. Everything else — architecture, class
table, bands, normalisation, pixel size, training config and metrics, optimizer hyper-parameters —
is JSON in the safetensors header. No pickle is involved anywhere, so a crafted file cannot
execute code when loaded: anything that is not a valid safetensors file is refused.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from landseg import __version__
from landseg.assets import BUNDLED_MODELS, bundled_model_path, is_bundled_name
from landseg.classes import ClassTable
from landseg.errors import CheckpointError, ConfigError, LandsegError, OutputError
from landseg.io.files import atomic_output, free_space, read_head
from landseg.layout import RunPaths
from landseg.models.build import build_model, check_arch
from landseg.models.domain import Domain, band_meaning

FORMAT = "landseg-checkpoint-1"


@dataclass
class Checkpoint:
    """What predict/evaluate need to use a model, plus optional training state."""

    arch: dict[str, Any]
    class_table: ClassTable
    bands: list[str]
    mean: list[float]
    std: list[float]
    pixel_size: float | None
    state_dict: dict[str, torch.Tensor]
    train: dict[str, Any] = field(default_factory=dict)  # config, metrics, epoch, step, ...
    optim_state: dict[str, Any] | None = None
    rng_state: dict[str, Any] | None = None
    path: str | None = None
    domain: Domain | None = None  # what the training imagery looked like (None: not recorded)

    def domain_or_unknown(self) -> Domain:
        """The recorded domain, or for older checkpoints one that knows only the bands, classes and pixel size."""
        if self.domain is not None:
            return self.domain
        return Domain(pixel_size=self.pixel_size, band_meaning=band_meaning(self.bands),
                      pixel_size_method="from the training data's georeferencing" if self.pixel_size else "unknown",
                      classes=list(self.class_table.names))

    def build(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """The model with the checkpoint's weights, in eval mode on ``device``."""
        model = build_model(self.arch)
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise CheckpointError(f"{self.path}: weights do not fit the stored architecture {self.arch}: {exc}") from None
        return model.to(device).eval()


def _flatten_optim(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optim(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        _, pid, k = key.split(".", 2)
        state.setdefault(int(pid), {})[k] = v
    for key, v in meta.get("scalars", {}).items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> None:
    """Write atomically (temp file + rename)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in ckpt.state_dict.items()}
    meta: dict[str, Any] = {
        "format": FORMAT,
        "landseg_version": __version__,
        "arch": ckpt.arch,
        "class_table": ckpt.class_table.to_dict(),
        "bands": ckpt.bands,
        "mean": ckpt.mean,
        "std": ckpt.std,
        "pixel_size": ckpt.pixel_size,
        "train": ckpt.train,
    }
    if ckpt.domain is not None:
        meta["domain"] = ckpt.domain.to_dict()
    if ckpt.optim_state is not None:
        t, m = _flatten_optim(ckpt.optim_state)
        tensors.update(t)
        meta["optim"] = m
    if ckpt.rng_state is not None:
        rng = dict(ckpt.rng_state)
        tensors["rng.torch"] = rng.pop("torch")
        meta["rng"] = rng
    def verify(tmp: Path) -> None:  # the header parses, the data is all there, every tensor is listed

        try:
            with safe_open(str(tmp), framework="pt") as f:
                keys = set(f.keys())
        except (SafetensorError, OSError, ValueError) as exc:
            raise OutputError(f"{path}: the written checkpoint cannot be read back ({exc}; "
                              f"{free_space(Path(path).parent)}); it was not kept") from None
        if keys != set(tensors):
            raise OutputError(f"{path}: the written checkpoint lacks {len(set(tensors) - keys)} tensors; it was not kept")

    with atomic_output(path, verify=verify) as tmp:
        try:
            save_file(tensors, str(tmp), metadata={"landseg": json.dumps(meta)})
        except SafetensorError as exc:  # safetensors reports write errors (full disk) as its own error
            raise OutputError(f"{path}: writing the checkpoint failed ({exc}; {free_space(Path(path).parent)}); "
                              "no file was left. Free space or choose another output folder.") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Only the JSON metadata (cheap: reads the header)."""

    path = _check_path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("landseg")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(_not_ckpt(path, exc)) from None
    if raw is None:
        raise CheckpointError(f"{path}: a safetensors file, but not a landseg checkpoint (no landseg metadata)")
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: corrupt landseg metadata: the metadata is not valid JSON ({exc}); "
                              "the file is damaged") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: corrupt landseg metadata (not a JSON object): the metadata must be a JSON "
                              f"object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unsupported checkpoint format {meta.get('format')!r} (expected {FORMAT})")
    check_metadata(meta, path)
    return meta


def check_metadata(meta: dict[str, Any], path: str | Path) -> None:
    """Everything a model needs is present and sane, before any memory is allocated for it.

    The architecture is bounded (:func:`~landseg.models.build.check_arch`),
    its band and class counts agree with the bands, normalisation and class table, and the pixel
    size is positive and finite (or absent).
    """
    missing = [k for k in ("arch", "class_table", "bands", "mean", "std") if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: corrupt landseg metadata: it lacks {', '.join(missing)}; "
                              "it was not written by landseg")
    try:
        arch = check_arch(meta["arch"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: refused: {exc}") from None
    try:
        table = ClassTable.from_dict(meta["class_table"])
    except (LandsegError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: corrupt landseg metadata: invalid class_table ({exc})") from None
    nb = arch["in_channels"]
    _check_band_lists(meta, nb, path)
    if table.num_classes != arch["num_classes"]:
        raise CheckpointError(f"{path}: the model predicts {arch['num_classes']} classes but its class table "
                              f"has {table.num_classes}")
    ps = meta.get("pixel_size")
    if ps is not None and (not isinstance(ps, (int, float)) or isinstance(ps, bool) or not math.isfinite(ps) or ps <= 0):
        raise CheckpointError(f"{path}: the model's pixel size must be a positive number of metres or null, got {ps!r}")
    if "domain" in meta:
        Domain.from_dict(meta["domain"], bands=nb, path=path)


def _check_band_lists(meta: dict[str, Any], nb: int, path: str | Path) -> None:
    """``bands`` (names), ``mean`` and ``std`` (finite numbers, std positive) each list the model's ``nb`` bands."""
    for key in ("bands", "mean", "std"):
        v = meta[key]
        if not isinstance(v, list) or len(v) != nb:
            raise CheckpointError(f"{path}: {key} must list {nb} values (the model's input bands), got {v!r}")
    if not all(isinstance(b, str) for b in meta["bands"]):
        raise CheckpointError(f"{path}: bands must be names, got {meta['bands']!r}")
    for key in ("mean", "std"):
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in meta[key]):
            raise CheckpointError(f"{path}: {key} must be finite numbers, got {meta[key]!r}")
    if not all(x > 0 for x in meta["std"]):
        raise CheckpointError(f"{path}: std must be positive, got {meta['std']!r}")


def _check_tensors(arch: dict[str, Any], state: dict[str, torch.Tensor], path: Path) -> None:
    """The stored weights must be exactly those of the described architecture (names and shapes)."""
    with torch.device("meta"):  # shapes only, no memory
        expected = {k: tuple(v.shape) for k, v in build_model(arch).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        detail = "; ".join(x for x in (
            f"missing {len(missing)} tensors, e.g. {missing[0]}" if missing else "",
            f"{len(extra)} unexpected tensors, e.g. {extra[0]}" if extra else "",
            f"{wrong[0]} is {got[wrong[0]]}, expected {expected[wrong[0]]}" if wrong else "") if x)
        raise CheckpointError(f"{path}: the stored weights do not match the described architecture {arch}: {detail}")


def load_checkpoint(path: str | Path, *, with_training_state: bool = False) -> Checkpoint:
    """Load a checkpoint. ``path`` may also be a bundled model's name (``default``) or a run folder."""
    path = resolve_model_path(path)
    meta = read_metadata(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(_not_ckpt(path, exc)) from None
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    _check_tensors(meta["arch"], model_sd, path)
    ckpt = Checkpoint(
        arch=meta["arch"], class_table=ClassTable.from_dict(meta["class_table"]), bands=meta["bands"],
        mean=meta["mean"], std=meta["std"], pixel_size=meta.get("pixel_size"), state_dict=model_sd,
        train=meta.get("train", {}), path=str(path),
        domain=Domain.from_dict(meta["domain"], bands=len(meta["bands"]), path=path) if "domain" in meta else None,
    )
    if with_training_state:
        if "optim" in meta:
            ckpt.optim_state = _unflatten_optim({k: v for k, v in tensors.items() if k.startswith("optim.")}, meta["optim"])
        if "rng" in meta:
            ckpt.rng_state = {**meta["rng"], "torch": tensors["rng.torch"]}
    return ckpt


def resolve_model_path(spec: str | Path) -> Path:
    """A bundled model's name (``default``, ``isprs-irrg``) -> its weights; a training run folder -> its best
    checkpoint; anything else is taken as a checkpoint path."""
    if is_bundled_name(spec):
        if Path(spec).exists():
            raise CheckpointError(f"{spec!r} names both a bundled model and {Path(spec).resolve()}; give ./{spec} for "
                                  "that file or folder, or run from another folder for the bundled model")
        return bundled_model_path(str(spec))
    p = Path(spec)
    if p.is_dir():
        found = RunPaths(p).checkpoint()
        if found is not None:
            return found
        raise CheckpointError(f"{p}: no best.safetensors or last.safetensors in this folder")
    return p


def _check_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        names = ", ".join(BUNDLED_MODELS)
        raise CheckpointError(f"{p}: model file not found (give a landseg checkpoint, a training run folder, or a "
                              f"bundled model: {names})")
    return p


def _not_ckpt(path: Path, exc: Exception) -> str:
    head = read_head(path, 2)
    pickled = head[:1] == b"\x80" or head == b"PK"
    kind = " (it looks like a pickle/torch.save file, which landseg never loads because it can run code)" if pickled else ""
    return f"{path}: not a landseg checkpoint{kind}: {exc}"

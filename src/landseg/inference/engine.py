"""Inference engines: a torch model or an ONNX Runtime session behind one call.

An engine takes a uint8 batch (N, bands, H, W) and returns float32 class probabilities
(N, classes, H, W). Normalisation (the checkpoint's mean/std) happens here, once, for both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from landseg.errors import CheckpointError, ConfigError
from landseg.io.files import atomic_output, write_failure
from landseg.models.checkpoint import Checkpoint, load_checkpoint


class Engine(Protocol):
    """What runs a model: uint8 (N, bands, H, W) -> float32 probabilities (N, classes, H, W)."""

    num_classes: int
    in_channels: int
    multiple: int

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities of a uint8 batch."""


def pick_device(device: str | None = None) -> torch.device:
    """``auto``/None: cuda, then mps, then cpu."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA GPU is available")
    return dev


def cpu_has_fast_bf16() -> bool:
    """True where the CPU has native bf16 matrix units (AVX512-BF16 / AMX)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """Mixed-precision dtype for ``precision`` in auto|fp32|bf16|fp16 on ``device``."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if precision != "auto":
        raise ConfigError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


class TorchEngine:
    """A checkpoint's torch model on a device, with mixed precision where it is fast."""

    def __init__(self, ckpt: Checkpoint, device: str | None = None, precision: str = "auto"):
        self.ckpt = ckpt
        self.device = pick_device(device)
        self.model = ckpt.build(self.device).to(memory_format=torch.channels_last)
        self.dtype = autocast_dtype(self.device, precision)
        self.num_classes = ckpt.class_table.num_classes
        self.in_channels = len(ckpt.mean)
        self.multiple = getattr(self.model, "multiple", 32)
        self.mean = torch.tensor(ckpt.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.std = torch.tensor(ckpt.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax) of a uint8 batch, normalised with the checkpoint's mean/std."""
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True).float()
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            logits = self.model(x)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()


class OnnxEngine:
    """ONNX Runtime session of a model exported by :func:`export_onnx`."""

    def __init__(self, ckpt: Checkpoint, onnx_path: str, threads: int | None = None):
        try:
            import onnxruntime as ort  # noqa: PLC0415 - optional
        except ImportError:
            raise ConfigError("--engine onnx needs onnxruntime (pip install 'landseg[onnx]')") from None
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(onnx_path, opts, providers=ort.get_available_providers())
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for damaged files
            raise CheckpointError(f"{onnx_path}: not a usable ONNX model ({type(exc).__name__}: "
                                  f"{str(exc).strip()[:200]})") from None
        self.input = self.session.get_inputs()[0].name
        self.num_classes = ckpt.class_table.num_classes
        self.in_channels = len(ckpt.mean)
        got = (self.session.get_inputs()[0].shape[1:2], self.session.get_outputs()[0].shape[1:2])
        if got != ([self.in_channels], [self.num_classes]):
            raise CheckpointError(f"{onnx_path}: takes {got[0]} bands and gives {got[1]} classes, but {ckpt.path} has "
                                  f"{self.in_channels} bands and {self.num_classes} classes; it was exported from "
                                  "another model")
        self.multiple = 2 ** int(ckpt.arch.get("depth", 5))
        self.mean = np.asarray(ckpt.mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(ckpt.std, np.float32).reshape(1, -1, 1, 1)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities (softmax) of a uint8 batch, normalised with the checkpoint's mean/std."""
        x = (batch.astype(np.float32) - self.mean) / self.std
        logits = self.session.run(None, {self.input: x})[0]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def export_onnx(ckpt: Checkpoint, path: str, window: int = 512, opset: int = 17) -> None:
    """Export the model (logits, dynamic batch/height/width) to ONNX, atomically."""

    model = ckpt.build("cpu")
    x = torch.zeros(1, len(ckpt.mean), window, window)
    with atomic_output(path, suffix=".onnx") as tmp:
        try:
            torch.onnx.export(
                model, (x,), str(tmp), input_names=["image"], output_names=["logits"], opset_version=opset,
                dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch", 2: "height", 3: "width"}},
                dynamo=False,
            )
        except OSError as exc:  # a full disk or read-only folder: the one line of every output (path, free space)
            raise write_failure(path, exc) from None
        except Exception as exc:  # noqa: BLE001 - exporter failures are reported, not crashed on
            if "errno" in str(exc).lower() or "space" in str(exc).lower():
                raise write_failure(path, exc) from None
            raise CheckpointError(f"ONNX export failed: {exc}") from None


def tta_call(engine: Callable[[np.ndarray], np.ndarray], batch: np.ndarray) -> np.ndarray:
    """Average of the eight D4 transforms (flips and 90° rotations) of ``batch``."""
    out = None
    for k in range(4):
        for flip in (False, True):
            x = np.rot90(batch, k, axes=(2, 3))
            if flip:
                x = x[..., ::-1]
            p = engine(np.ascontiguousarray(x))
            if flip:
                p = p[..., ::-1]
            p = np.rot90(p, -k, axes=(2, 3))
            out = p.copy() if out is None else out + p
    return out / 8.0


def load_engine(model: str, engine: str = "torch", device: str = "auto", precision: str = "auto", cache_dir=None):
    """(engine, checkpoint) for a MODEL argument; ONNX models are exported next to the outputs once.

    An existing ``STEM.onnx`` there is reused only if ONNX Runtime opens it and its bands and classes match the
    checkpoint; otherwise it is exported again (atomically) over it."""
    ckpt = load_checkpoint(model)
    if engine == "onnx":
        onnx_path = Path(cache_dir or ".") / (Path(ckpt.path).stem + ".onnx")
        if onnx_path.exists():
            try:
                return OnnxEngine(ckpt, str(onnx_path)), ckpt
            except CheckpointError:
                pass  # damaged (e.g. a killed copy) or exported from another model: exported anew
        export_onnx(ckpt, str(onnx_path))
        return OnnxEngine(ckpt, str(onnx_path)), ckpt
    return TorchEngine(ckpt, device, precision), ckpt


def with_tta(engine: Callable[[np.ndarray], np.ndarray], tta: bool) -> Callable[[np.ndarray], np.ndarray]:
    """``engine`` itself, or with ``tta`` the average of its eight D4 transforms (:func:`tta_call`)."""
    if not tta:
        return engine
    return lambda batch: tta_call(engine, batch)

"""Bundled data: the default model, its model card and sample images (see SOURCES.md here)."""

from __future__ import annotations

from pathlib import Path

from landseg.errors import CheckpointError

ASSETS = Path(__file__).resolve().parent
SAMPLES = ASSETS / "samples"
DEFAULT_MODEL = ASSETS / "default.safetensors"
MODEL_CARD = ASSETS / "MODEL_CARD.md"


def default_model_path() -> Path:
    """The bundled default model; :class:`CheckpointError` if the installation lacks it."""
    if not DEFAULT_MODEL.exists():
        raise CheckpointError(f"the bundled default model is missing ({DEFAULT_MODEL}); reinstall landseg or give a checkpoint")
    return DEFAULT_MODEL


def samples() -> list[Path]:
    """Bundled sample images (not label rasters)."""
    return sorted(p for p in SAMPLES.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif")
                  and "_label" not in p.stem and "_mask" not in p.stem)

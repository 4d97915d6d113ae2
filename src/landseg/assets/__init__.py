"""Bundled data: the models, their model cards and sample images (see SOURCES.md here)."""

from __future__ import annotations

from pathlib import Path

from landseg.errors import CheckpointError

ASSETS = Path(__file__).resolve().parent
SAMPLES = ASSETS / "samples"
# name -> (weights, model card); a name is what `landseg predict NAME`, `train --init NAME` and serve accept
BUNDLED_MODELS = {
    "default": ("default.safetensors", "MODEL_CARD.md"),
    "isprs-irrg": ("isprs-irrg.safetensors", "MODEL_CARD_isprs-irrg.md"),
}
DEFAULT_MODEL = ASSETS / BUNDLED_MODELS["default"][0]


def is_bundled_name(spec: object) -> bool:
    """Whether ``spec`` names a bundled model (``default``, ``isprs-irrg``) rather than a path."""
    return str(spec) in BUNDLED_MODELS


def bundled_model_path(name: str = "default") -> Path:
    """A bundled model's weights; :class:`CheckpointError` if the installation lacks them."""
    path = ASSETS / BUNDLED_MODELS[name][0]
    if not path.exists():
        raise CheckpointError(f"the bundled model {name!r} is missing ({path}); reinstall landseg or give a checkpoint")
    return path


def bundled_models() -> dict[str, Path]:
    """The bundled models this installation has: name -> weights."""
    return {name: ASSETS / w for name, (w, _) in BUNDLED_MODELS.items() if (ASSETS / w).exists()}


def model_card(name: str = "default") -> Path:
    """A bundled model's card (Markdown)."""
    return ASSETS / BUNDLED_MODELS[name][1]


def samples() -> list[Path]:
    """Bundled sample images (not label rasters)."""
    return sorted(p for p in SAMPLES.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".tif")
                  and "_label" not in p.stem and "_mask" not in p.stem)

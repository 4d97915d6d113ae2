"""Previews and overlays: shapes, colours, blending and its inverse, display RGB, the PNG pair."""

import numpy as np
from PIL import Image

from landseg.classes import ISPRS
from landseg.views import (
    OVERLAY_ALPHA,
    blend,
    class_layer,
    colorize,
    display_rgb,
    fit,
    preview_shape,
    unblend,
    write_previews,
)


def test_preview_shape_fits_and_never_grows():
    assert preview_shape(1000, 500, 100) == (100, 50)
    assert preview_shape(30, 40, 2048) == (30, 40)
    assert preview_shape(1, 5000, 100) == (1, 100)


def test_unblend_recovers_the_image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    cls = ISPRS.index_to_rgb(rng.integers(0, 6, (20, 30)))
    overlay = (img * 0.55 + cls * 0.45).astype(np.uint8)
    assert np.abs(unblend(overlay, cls).astype(int) - img).max() <= 2


def test_blend_keeps_the_image_on_nodata():
    img = np.full((2, 2, 3), 100, np.uint8)
    cls = np.full((2, 2, 3), 200, np.uint8)
    nodata = np.array([[True, False], [False, False]])
    out = blend(img, cls, nodata)
    assert out[0, 0].tolist() == [100] * 3
    assert out[1, 1].tolist() == [int(100 * (1 - OVERLAY_ALPHA) + 200 * OVERLAY_ALPHA)] * 3


def test_class_colours_and_layer():
    idx = np.array([[0, 1], [255, 5]], np.uint8)
    rgb = colorize(idx, ISPRS)
    assert rgb[0, 0].tolist() == list(ISPRS.colors[0]) and rgb[1, 0].tolist() == [0, 0, 0]
    rgba = class_layer(idx, ISPRS)
    assert rgba[..., 3].tolist() == [[255, 255], [0, 255]] and (rgba[..., :3] == rgb).all()


def test_display_rgb_follows_band_names():
    img = np.stack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3, 4)])
    assert display_rgb(img, ["nir", "red", "green", "blue"])[0, 0].tolist() == [2, 3, 4]
    assert display_rgb(img, ["a", "b", "c", "d"])[0, 0].tolist() == [1, 2, 3]
    assert display_rgb(img[:1], ["gray"])[0, 0].tolist() == [1, 1, 1]


def test_fit_shrinks_only():
    arr = np.zeros((40, 80, 3), np.uint8)
    assert fit(arr, 20, nearest=True).shape == (10, 20, 3)
    assert fit(arr, 100, nearest=False) is arr


def test_write_previews(tmp_path):
    cls = np.array([[0, 1], [2, 255]], np.uint8)
    image = np.full((3, 2, 2), 80, np.uint8)
    write_previews(cls, image, ISPRS, ["red", "green", "blue"], tmp_path / "p.png", tmp_path / "o.png")
    preview = np.asarray(Image.open(tmp_path / "p.png"))
    overlay = np.asarray(Image.open(tmp_path / "o.png"))
    assert (preview == colorize(cls, ISPRS)).all()
    assert overlay[1, 1].tolist() == [80, 80, 80]  # nodata: the image itself
    assert (overlay == blend(display_rgb(image, ["red", "green", "blue"]), preview, cls == 255)).all()

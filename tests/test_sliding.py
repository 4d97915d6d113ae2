import numpy as np
import pytest

from landseg.data.windows import axis_starts, grid_windows
from landseg.models.sliding import blend_weights, count_windows, predict_array, sliding_window, write_blocks


def colour_model(x: np.ndarray) -> np.ndarray:
    """Per-pixel: class = band with the largest value (softmax of scaled bands)."""
    e = np.exp(x.astype(np.float32) / 8)
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("h,w,window,overlap,chunk", [
    (100, 130, 32, 8, 8192), (64, 64, 32, 0, 8192), (96, 96, 32, 16, 8192),  # multiples and not
    (7, 300, 32, 16, 64), (257, 513, 64, 16, 100), (1, 1, 32, 8, 8192), (33, 31, 32, 30, 32),
])
def test_stitched_equals_direct_answer(h, w, window, overlap, chunk):
    rng = np.random.default_rng(h * w)
    classes = rng.integers(0, 3, (h, w))
    img = (np.eye(3, dtype=np.uint8)[classes] * 200 + rng.integers(0, 40, (h, w, 3))).astype(np.uint8)
    img = np.moveaxis(img, -1, 0)
    out = predict_array(img, colour_model, 3, window=window, overlap=overlap, batch_size=3, chunk_width=chunk)
    assert np.array_equal(out, classes)


def test_blocks_cover_each_pixel_once():
    seen = np.zeros((70, 90), int)
    img = np.zeros((3, 70, 90), np.uint8)
    for b in sliding_window(lambda r, c, h, w: img[:, r:r + h, c:c + w], 70, 90, colour_model, 3, window=32,
                            overlap=8, chunk_width=40):
        seen[b.row:b.row + b.classes.shape[0], b.col:b.col + b.classes.shape[1]] += 1
    assert (seen == 1).all()


def test_blending_is_smooth_and_positive():
    w = blend_weights(64)
    assert w.min() > 0 and w[32, 32] == w.max() and w[0, 0] < 0.01


def test_window_grid_covers_everything():
    assert axis_starts(100, 32, 24) == [0, 24, 48, 68]
    assert axis_starts(20, 32, 24) == [0]
    wins = grid_windows(50, 70, 32, 8)
    cov = np.zeros((50, 70), bool)
    for r, c in wins:
        cov[r:r + 32, c:c + 32] = True
    assert cov.all()
    assert count_windows(6000, 6000, 512, 128) == 16 * 16  # 6000 + 2 x 64 reflected margin, stride 384


def test_reader_errors_propagate():
    def bad(r, c, h, w):
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(sliding_window(bad, 64, 64, colour_model, 3, window=32, overlap=0))


def test_write_blocks_writes_every_block_in_order():
    img = np.zeros((3, 70, 90), np.uint8)
    blocks = sliding_window(lambda r, c, h, w: img[:, r:r + h, c:c + w], 70, 90, colour_model, 3, window=32,
                            overlap=8, chunk_width=40)
    seen = []
    write_blocks(blocks, lambda b: seen.append((b.row, b.col)))
    expected = [(b.row, b.col) for b in sliding_window(lambda r, c, h, w: img[:, r:r + h, c:c + w], 70, 90,
                                                       colour_model, 3, window=32, overlap=8, chunk_width=40)]
    assert seen == expected and len(seen) > 2


def test_write_blocks_reraises_a_writer_error():
    img = np.zeros((3, 200, 200), np.uint8)
    blocks = sliding_window(lambda r, c, h, w: img[:, r:r + h, c:c + w], 200, 200, colour_model, 3, window=32,
                            overlap=8)
    calls = []

    def write(b):
        calls.append(b)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_blocks(blocks, write)
    assert len(calls) == 1  # the writer stopped at its error; the remaining blocks were dropped

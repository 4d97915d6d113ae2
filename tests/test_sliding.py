import numpy as np
import pytest

from landseg.data.windows import axis_starts, grid_windows
from landseg.inference.sliding import (
    blend_weights,
    count_windows,
    fitted_window,
    predict_array,
    sliding_window,
    write_blocks,
)


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


@pytest.mark.parametrize("h,w,window,overlap,want", [
    (224, 224, 512, 64, (224, 0)), (224, 100, 512, 64, (224, 0)), (200, 150, 512, 64, (224, 24)),
    (480, 500, 512, 64, (512, 12)), (1000, 488, 512, 64, (512, 64)), (1, 1, 512, 0, (32, 31)),
    (10, 10, 64, 63, (32, 22)), (513, 5, 512, 100, (512, 100)),
])
def test_a_raster_that_one_window_holds_is_read_in_one_fitted_window(h, w, window, overlap, want):
    """The model sees the raster itself (its size rounded up to 32), not the raster mirrored out to the window."""
    assert fitted_window(h, w, window, overlap) == want
    seen = []

    def model(x):
        seen.append(x.shape)
        return colour_model(x)

    img = np.zeros((3, h, w), np.uint8)
    predict_array(img, model, 3, window=window, overlap=overlap, batch_size=64)
    assert {s[2:] for s in seen} == {(want[0], want[0])}
    assert sum(s[0] for s in seen) == count_windows(h, w, window, overlap)
    if want[0] < window or max(h, w) <= window:
        assert count_windows(h, w, window, overlap) == 1


def test_fitted_window_is_a_valid_window():
    for h in (1, 31, 32, 200, 480, 481, 600):
        for window in (32, 64, 256, 512):
            for overlap in (0, 1, 16, 31, window - 1):
                f, o = fitted_window(h, h + 7, window, overlap)
                assert f % 32 == 0 and 0 <= o < f <= window
                assert (f, o) == (window, overlap) or f >= h + 7 + 2 * (o // 2)


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


# -- issue #16: blending, column chunks and TTA with a model whose answer depends on context -----------
def context_model(num_classes=4, bands=3, seed=7):
    """logits = 3x3 convolution (zero padding) + a ramp over the window's rows and columns: the answer of a
    pixel depends on its neighbours and on where it sits in the window, and the model is not D4-invariant."""
    rng = np.random.default_rng(seed)
    kernel = rng.normal(0, 0.02, (num_classes, bands, 3, 3)).astype(np.float32)
    ramp_r = rng.normal(0, 1.5, num_classes).astype(np.float32)
    ramp_c = rng.normal(0, 1.5, num_classes).astype(np.float32)

    def model(batch):
        x = batch.astype(np.float32)
        n, _, h, w = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        logits = np.zeros((n, num_classes, h, w), np.float32)
        for dy in range(3):
            for dx in range(3):
                logits += np.einsum("kc,nchw->nkhw", kernel[:, :, dy, dx], xp[:, :, dy:dy + h, dx:dx + w])
        rr = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        cc = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        logits += ramp_r[None, :, None, None] * rr + ramp_c[None, :, None, None] * (cc * cc)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    return model


def dense_reference(img, model, num_classes, window, overlap):
    """The documented plan written out: reflect-pad by overlap//2, a window grid with stride window-overlap
    whose last row/column ends at the padded edge, raised-cosine weights, weighted mean of the probabilities."""
    _, h, w = img.shape
    m, stride = overlap // 2, window - overlap
    padded = np.pad(img, ((0, 0), (m, m), (m, m)), mode="reflect")
    acc = np.zeros((num_classes, h + 2 * m, w + 2 * m), np.float64)
    wsum = np.zeros((h + 2 * m, w + 2 * m), np.float64)
    wt = np.sin(np.pi * (np.arange(window) + 0.5) / window) ** 2
    wt = np.outer(np.maximum(wt, 1e-3), np.maximum(wt, 1e-3))
    rows = list(range(0, h + 2 * m - window, stride)) + [h + 2 * m - window]
    cols = list(range(0, w + 2 * m - window, stride)) + [w + 2 * m - window]
    for r in rows:
        for c in cols:
            p = model(padded[None, :, r:r + window, c:c + window])[0]
            acc[:, r:r + window, c:c + window] += p * wt
            wsum[r:r + window, c:c + window] += wt
    return (acc / wsum)[:, m:m + h, m:m + w]


def _stitch(img, model, nc, **kw):
    _, h, w = img.shape
    probs = np.full((nc, h, w), np.nan, np.float32)
    classes = np.full((h, w), 255, np.uint8)
    for b in sliding_window(lambda r, c, hh, ww: img[:, r:r + hh, c:c + ww], h, w, model, nc, want_probs=True, **kw):
        bh, bw = b.classes.shape
        probs[:, b.row:b.row + bh, b.col:b.col + bw] = b.probs
        classes[b.row:b.row + bh, b.col:b.col + bw] = b.classes
    return probs, classes


@pytest.mark.parametrize("h,w,window,overlap", [(100, 130, 32, 16), (70, 90, 64, 24), (64, 200, 32, 0)])
def test_blending_equals_dense_weighted_mean_of_all_windows(h, w, window, overlap):
    rng = np.random.default_rng(h + w)
    img = rng.integers(0, 256, (3, h, w)).astype(np.uint8)
    model = context_model()
    ref = dense_reference(img, model, 4, window, overlap)
    probs, classes = _stitch(img, model, 4, window=window, overlap=overlap, batch_size=3)
    np.testing.assert_allclose(probs, ref, atol=2e-6, rtol=0)
    top2 = np.sort(ref, 0)[-2:]
    clear = top2[1] - top2[0] > 1e-4  # away from float ties the class is the argmax of the blend
    assert clear.mean() > 0.99 and np.array_equal(classes[clear], ref.argmax(0)[clear])
    assert len(np.unique(classes)) >= 3  # a non-trivial answer


@pytest.mark.parametrize("chunk", [32, 48, 100, 130])
def test_column_chunks_equal_one_pass(chunk):
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (3, 90, 260)).astype(np.uint8)
    model = context_model(seed=3)
    one_probs, one_classes = _stitch(img, model, 4, window=32, overlap=12, batch_size=5, chunk_width=8192)
    probs, classes = _stitch(img, model, 4, window=32, overlap=12, batch_size=5, chunk_width=chunk)
    assert np.array_equal(classes, one_classes)
    np.testing.assert_array_equal(probs, one_probs)


def test_tta_is_the_mean_of_the_eight_d4_transforms():
    from landseg.inference.engine import tta_call

    model = context_model(seed=11)
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (2, 3, 32, 32)).astype(np.uint8)
    T = lambda a: a.swapaxes(-1, -2)  # noqa: E731
    pairs = [  # (forward, inverse) of the eight symmetries of the square, written out one by one
        (lambda a: a, lambda p: p),
        (lambda a: a[..., ::-1], lambda p: p[..., ::-1]),                        # mirror left-right
        (lambda a: a[..., ::-1, :], lambda p: p[..., ::-1, :]),                  # mirror up-down
        (lambda a: a[..., ::-1, ::-1], lambda p: p[..., ::-1, ::-1]),            # 180°
        (T, T),                                                                  # transpose
        (lambda a: a[..., ::-1, ::-1].swapaxes(-1, -2), lambda p: p[..., ::-1, ::-1].swapaxes(-1, -2)),  # anti-transpose
        (lambda a: T(a)[..., ::-1, :], lambda p: T(p[..., ::-1, :])),            # 90° counter-clockwise
        (lambda a: T(a)[..., :, ::-1], lambda p: T(p[..., :, ::-1])),            # 90° clockwise
    ]
    want = np.mean([inv(model(np.ascontiguousarray(fwd(batch)))) for fwd, inv in pairs], axis=0)
    got = tta_call(model, batch)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    assert np.abs(got - model(batch)).max() > 0.05  # the model is far from symmetric: TTA changes the answer
    assert np.abs(got - want).max() < np.abs(model(batch) - want).max() / 1000


# -- issue #24: the one driver (predict, evaluate, mosaics and training validation run through it) -------------
def test_run_windows_writes_every_block_and_reports_progress():
    from landseg.inference.driver import RunOptions, run_windows

    rng = np.random.default_rng(5)
    img = rng.integers(0, 255, (3, 70, 90)).astype(np.uint8)
    read = lambda r, c, h, w: img[:, r:r + h, c:c + w]  # noqa: E731
    want = predict_array(img, colour_model, 3, window=32, overlap=8)
    out = np.full((70, 90), 9, np.uint8)
    calls = []

    def write(b):
        assert b.probs is not None and np.allclose(b.probs.sum(axis=0), 1, atol=1e-5)
        out[b.row:b.row + b.classes.shape[0], b.col:b.col + b.classes.shape[1]] = b.classes

    n = run_windows(read, 70, 90, colour_model, 3, write,
                    RunOptions(window=32, overlap=8, chunk_width=40, want_probs=True,
                               on_progress=lambda done, total: calls.append((done, total))))
    assert np.array_equal(out, want)
    assert n == count_windows(70, 90, 32, 8, 40) and calls[0] == (0, n) and calls[-1] == (n, n) and len(calls) == n + 1
    part = np.full((70, 90), 9, np.uint8)  # a region: only its pixels, exactly as in the whole run

    def write_part(b):
        part[b.row:b.row + b.classes.shape[0], b.col:b.col + b.classes.shape[1]] = b.classes

    run_windows(read, 70, 90, colour_model, 3, write_part, RunOptions(window=32, overlap=8, region=(10, 20, 50, 61)))
    assert np.array_equal(part[10:50, 20:61], want[10:50, 20:61])
    assert (part[:10] == 9).all() and (part[:, :20] == 9).all() and (part[50:] == 9).all() and (part[:, 61:] == 9).all()

    def failing(b):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):  # a writer's error stops the run and is raised
        run_windows(read, 70, 90, colour_model, 3, failing, RunOptions(window=32, overlap=8))

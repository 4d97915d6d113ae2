"""Metrics: hand-computed confusion matrices, scikit-learn on random data, the four protocol variants."""

import numpy as np
import pytest

from landseg.classes import ClassTable
from landseg.metrics import VARIANTS, confusion_matrix, metrics_from_confusion, row_normalised, variant_metrics

ABC = ("a", "b", "c")


def test_confusion_matrix_hand_counted():
    truth = np.array([[0, 0, 1, 1], [2, 255, 1, 0]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [2, 0, 255, 2]], np.uint8)
    # ignore truth (255) and invalid predictions (255) are not counted
    assert confusion_matrix(truth, pred, 3).tolist() == [[1, 1, 1], [0, 2, 0], [0, 0, 1]]


def test_metrics_hand_computed():
    cm = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])  # rows reference, columns prediction
    m = metrics_from_confusion(cm, ABC)
    f1 = [10 / 13, 6 / 10, 8 / 9]  # 2 tp / (ref + pred): ref 6, 6, 4; pred 7, 4, 5
    iou = [5 / 8, 3 / 7, 4 / 5]  # tp / (ref + pred - tp)
    assert m["oa"] == pytest.approx(12 / 16)
    assert m["pixels"] == 16
    assert [m["per_class"][n]["precision"] for n in ABC] == pytest.approx([5 / 7, 3 / 4, 4 / 5])
    assert [m["per_class"][n]["recall"] for n in ABC] == pytest.approx([5 / 6, 3 / 6, 1.0])
    assert [m["per_class"][n]["f1"] for n in ABC] == pytest.approx(f1)
    assert [m["per_class"][n]["iou"] for n in ABC] == pytest.approx(iou)
    assert [m["per_class"][n]["support"] for n in ABC] == [6, 6, 4]
    assert m["mean_f1"] == pytest.approx(sum(f1) / 3)
    assert m["miou"] == pytest.approx(sum(iou) / 3)
    assert m["fwiou"] == pytest.approx(6 / 16 * iou[0] + 6 / 16 * iou[1] + 4 / 16 * iou[2])
    # leaving class c out of the means: OA unchanged, means over a and b, fwIoU renormalised
    x = metrics_from_confusion(cm, ABC, exclude=[2])
    assert x["oa"] == m["oa"] and x["excluded"] == ["c"]
    assert x["mean_f1"] == pytest.approx((f1[0] + f1[1]) / 2)
    assert x["miou"] == pytest.approx((iou[0] + iou[1]) / 2)
    assert x["fwiou"] == pytest.approx((6 * iou[0] + 6 * iou[1]) / 12)


def test_absent_class_skipped_in_means_and_empty_matrix():
    cm = np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]])  # class c neither in reference nor prediction
    m = metrics_from_confusion(cm, ABC)
    assert m["per_class"]["c"] == {"precision": None, "recall": None, "f1": None, "iou": None, "support": 0}
    assert m["mean_f1"] == pytest.approx((6 / 7 + 8 / 9) / 2)
    empty = metrics_from_confusion(np.zeros((3, 3)), ABC)
    assert np.isnan(empty["oa"]) and np.isnan(empty["mean_f1"]) and empty["pixels"] == 0


def test_row_normalised():
    n = row_normalised(np.array([[2, 2], [0, 0]]))
    assert n.tolist() == [[0.5, 0.5], [0.0, 0.0]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_data_matches_scikit_learn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    nc = 6
    truth = rng.integers(0, nc, 20000).astype(np.uint8)
    # a biased prediction: right 60 % of the time, else a random class
    pred = np.where(rng.random(truth.size) < 0.6, truth, rng.integers(0, nc, truth.size)).astype(np.uint8)
    truth[rng.random(truth.size) < 0.1] = 255  # ignored reference pixels
    valid = truth != 255
    labels = list(range(nc))
    cm = confusion_matrix(truth, pred, nc)
    assert np.array_equal(cm, sk.confusion_matrix(truth[valid], pred[valid], labels=labels))
    names = [f"c{i}" for i in labels]
    m = metrics_from_confusion(cm, names)
    p, r, f, s = sk.precision_recall_fscore_support(truth[valid], pred[valid], labels=labels, zero_division=0)
    iou = sk.jaccard_score(truth[valid], pred[valid], labels=labels, average=None)
    assert m["oa"] == pytest.approx(sk.accuracy_score(truth[valid], pred[valid]))
    assert [m["per_class"][n]["precision"] for n in names] == pytest.approx(p)
    assert [m["per_class"][n]["recall"] for n in names] == pytest.approx(r)
    assert [m["per_class"][n]["f1"] for n in names] == pytest.approx(f)
    assert [m["per_class"][n]["iou"] for n in names] == pytest.approx(iou)
    assert [m["per_class"][n]["support"] for n in names] == s.tolist()
    assert m["mean_f1"] == pytest.approx(sk.f1_score(truth[valid], pred[valid], labels=labels, average="macro"))
    assert m["miou"] == pytest.approx(sk.jaccard_score(truth[valid], pred[valid], labels=labels, average="macro"))
    # frequency-weighted IoU = IoU weighted by reference support
    assert m["fwiou"] == pytest.approx(sk.jaccard_score(truth[valid], pred[valid], labels=labels, average="weighted"))
    # without class 5: the macro means over the other five
    x = metrics_from_confusion(cm, names, exclude=[5])
    assert x["mean_f1"] == pytest.approx(sk.f1_score(truth[valid], pred[valid], labels=labels[:5], average="macro"))
    assert x["miou"] == pytest.approx(sk.jaccard_score(truth[valid], pred[valid], labels=labels[:5], average="macro"))


TABLE = ClassTable("t3", ("a", "b", "clutter"), ((255, 0, 0), (0, 255, 0), (0, 0, 255)))


def test_four_variants_on_a_crafted_case():
    full = np.array([0, 0, 1, 1, 2, 2], np.uint8)
    eroded = np.array([0, 255, 1, 1, 255, 2], np.uint8)  # boundaries ignored
    pred = np.array([0, 1, 1, 1, 2, 0], np.uint8)
    cms = {"full": confusion_matrix(full, pred, 3), "eroded": confusion_matrix(eroded, pred, 3)}
    assert cms["full"].tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert cms["eroded"].tolist() == [[1, 0, 0], [0, 2, 0], [1, 0, 0]]
    v = variant_metrics(cms, TABLE)
    assert list(v) == list(VARIANTS)
    # full: F1 a = 2/4, b = 4/5, clutter = 2/3; eroded: a = 2/3, b = 1, clutter = 0
    expected = {
        "full_with_clutter": (4 / 6, (1 / 2 + 4 / 5 + 2 / 3) / 3),
        "full_without_clutter": (4 / 6, (1 / 2 + 4 / 5) / 2),
        "eroded_with_clutter": (3 / 4, (2 / 3 + 1 + 0) / 3),
        "eroded_without_clutter": (3 / 4, (2 / 3 + 1) / 2),
    }
    for name, (oa, mf1) in expected.items():
        assert v[name]["oa"] == pytest.approx(oa), name
        assert v[name]["mean_f1"] == pytest.approx(mf1), name
    assert len({round(x["mean_f1"], 9) for x in v.values()}) == 4  # every variant differs
    assert v["eroded_without_clutter"]["excluded"] == ["clutter"] and v["full_with_clutter"]["excluded"] == []
    assert v["full_with_clutter"]["title"] == "full reference, with clutter"
    assert v["eroded_without_clutter"]["title"] == "eroded reference (noBoundary), without clutter"


def test_variants_without_clutter_class_are_identical():
    t = ClassTable("two", ("a", "b"), ((255, 0, 0), (0, 255, 0)))
    v = variant_metrics({"full": np.array([[3, 1], [2, 4]])}, t)
    assert set(v) == {"full_with_clutter", "full_without_clutter"}
    a, b = v["full_with_clutter"], v["full_without_clutter"]
    assert {k: a[k] for k in ("oa", "mean_f1", "miou", "fwiou")} == {k: b[k] for k in ("oa", "mean_f1", "miou", "fwiou")}

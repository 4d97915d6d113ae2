"""Stratified estimators of accuracy and area (Olofsson et al. 2013, 2014), pure numpy.

Strata are the mapped classes; a reference sample drawn at random within each stratum gives the
counts ``n[i, j]`` (map stratum i, reference class j). With stratum weights ``W_i`` (the share of the
mapped area in stratum i) and ``n_i = sum_j n[i, j]``:

* error matrix in area proportions ``p_ij = W_i n_ij / n_i`` (Olofsson 2014 eq. 4);
* overall accuracy ``O = sum_j p_jj`` (eq. 1), user's ``U_i = p_ii / p_i.`` (eq. 2), producer's
  ``P_j = p_jj / p_.j`` (eq. 3), with the variances of eqs. 5-7;
* the error-adjusted area of class j ``A_tot p_.j`` with ``S(p_.j) = sqrt(sum_i W_i^2 (n_ij/n_i)
  (1 - n_ij/n_i) / (n_i - 1))`` (eq. 10) and the 95 % interval ``± 1.96 S A_tot`` (eq. 11).

Within a stratum the sample is drawn per pixel, so the proportions are pixel proportions; the
weights are area shares. Both agree on projected grids (every pixel has the same area).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile; the paper rounds it to 1.96


@dataclass
class StratifiedEstimate:
    """Estimates from one stratified sample. Arrays are indexed by class (K classes).

    ``se_*`` are standard errors; NaN where undefined (a stratum with fewer than 2 sample units, or a
    class with no estimated area). Areas are in the unit of ``total_area``.
    """

    counts: np.ndarray  # (K, K) sample counts, rows = map strata, cols = reference classes
    weights: np.ndarray  # (K,) W_i
    total_area: float
    proportions: np.ndarray  # (K, K) p_ij
    overall: float
    se_overall: float
    users: np.ndarray
    se_users: np.ndarray
    producers: np.ndarray
    se_producers: np.ndarray
    mapped_area: np.ndarray  # W_i A_tot
    adjusted_area: np.ndarray  # p_.j A_tot
    se_area: np.ndarray  # S(p_.j) A_tot
    notes: list[str] = field(default_factory=list)

    @property
    def ci_area(self) -> np.ndarray:
        """Half-width of the 95 % interval of the adjusted areas (1.96 S A_tot)."""
        return 1.96 * self.se_area

    @property
    def ci_overall(self) -> float:
        return 1.96 * self.se_overall

    @property
    def ci_users(self) -> np.ndarray:
        return 1.96 * self.se_users

    @property
    def ci_producers(self) -> np.ndarray:
        return 1.96 * self.se_producers


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def stratified_estimate(counts: np.ndarray, weights: np.ndarray, total_area: float = 1.0) -> StratifiedEstimate:
    """Accuracy and error-adjusted areas from sample ``counts`` (K x K) and stratum ``weights``.

    ``weights`` are stratum areas or pixel counts (normalised here); ``total_area`` is the mapped
    area the weights share (1.0 gives proportions). A stratum with weight > 0 must hold at least one
    sample unit (else ValueError); one with a single unit makes the standard errors that need its
    variance NaN (``n_i - 1 = 0``), noted in ``notes``.
    """
    n = np.asarray(counts, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if n.ndim != 2 or n.shape[0] != n.shape[1] or w.shape != (n.shape[0],):
        raise ValueError(f"counts must be K x K and weights K long, got {n.shape} and {w.shape}")
    if (n < 0).any() or (w < 0).any() or w.sum() <= 0:
        raise ValueError("counts and weights must be non-negative, with some weight")
    w = w / w.sum()
    n_i = n.sum(axis=1)
    empty = np.nonzero((w > 0) & (n_i == 0))[0]
    if empty.size:
        raise ValueError(f"strata {empty.tolist()} have mapped area but no sample units")
    q = _ratio(n, n_i[:, None])  # n_ij / n_i (NaN rows for unsampled, zero-weight strata)
    q = np.nan_to_num(q)
    p = w[:, None] * q
    p_col = p.sum(axis=0)
    diag = np.diag(p)
    users = _ratio(diag, w)
    producers = _ratio(diag, p_col)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = np.where(n_i > 1, n_i - 1, np.nan)  # NaN: variance undefined with one unit
        var_q = np.where(w[:, None] > 0, q * (1 - q) / dof[:, None], 0.0)  # (K, K) per stratum and class
    var_users = np.where(w > 0, np.diag(var_q), np.nan)
    var_overall = float(np.sum(w**2 * np.diag(var_q)))
    var_pcol = np.sum(w[:, None] ** 2 * var_q, axis=0)
    var_prod = _producers_variance(n, n_i, w, q, users, producers, var_q)
    notes = []
    single = np.nonzero((w > 0) & (n_i == 1))[0]
    if single.size:
        notes.append(f"strata {single.tolist()} hold one sample unit: their variance is undefined, so the "
                     "standard errors that sum over every stratum (overall, producer's, areas) are n/a")
    return StratifiedEstimate(
        counts=n, weights=w, total_area=float(total_area), proportions=p,
        overall=float(diag.sum()), se_overall=float(np.sqrt(var_overall)),
        users=users, se_users=np.sqrt(var_users), producers=producers, se_producers=np.sqrt(var_prod),
        mapped_area=w * total_area, adjusted_area=p_col * total_area, se_area=np.sqrt(var_pcol) * total_area,
        notes=notes,
    )


def _producers_variance(n: np.ndarray, n_i: np.ndarray, w: np.ndarray, q: np.ndarray, users: np.ndarray,
                        producers: np.ndarray, var_q: np.ndarray) -> np.ndarray:
    """Olofsson 2014 eq. 7 with strata sizes N_i. = W_i (any common scale cancels)."""
    k = n.shape[0]
    n_col = (w[:, None] * q).sum(axis=0)  # estimated N_.j on the W scale
    out = np.full(k, np.nan)
    for j in range(k):
        if not n_col[j] > 0:
            continue
        others = [i for i in range(k) if i != j]
        term1 = w[j] ** 2 * (1 - producers[j]) ** 2 * (var_q[j, j] if w[j] > 0 else 0.0)
        term2 = producers[j] ** 2 * float(np.sum(w[others] ** 2 * var_q[others, j]))
        out[j] = (term1 + term2) / n_col[j] ** 2
    return out


@dataclass
class StratifiedTotal:
    """A stratified estimate of a total ``sum_h A_h mean_h(y)`` with its standard error (``se``); NaN where a
    stratum with area holds fewer than the points needed (``short`` lists those strata)."""

    value: float
    se: float
    short: list[int] = field(default_factory=list)

    @property
    def ci(self) -> float:
        return 1.96 * self.se

    @property
    def low(self) -> float:
        return self.value - self.ci

    @property
    def high(self) -> float:
        return self.value + self.ci


def stratified_total(y: np.ndarray, stratum: np.ndarray, stratum_area: np.ndarray) -> StratifiedTotal:
    """Estimate ``sum_h A_h mean_h(y)`` from points drawn at random within strata (the Olofsson et al. 2014
    estimators are this with ``y`` a class indicator and ``A_h`` the mapped stratum areas).

    ``y`` is any per-point value (1 if the point is truly sealed; after - before of a green indicator; ...),
    ``stratum`` each point's stratum index, ``stratum_area`` the area ``A_h`` each stratum has in the domain
    estimated (the whole map, or one zone's share of each stratum: points of a stratum that fall in a zone are
    a random sample of the stratum's part in it). Variance ``sum_h A_h^2 s_h^2 / n_h`` (sample variance
    ``s_h^2`` with ``n_h - 1``; no finite-population correction, as in the paper). A stratum with area and no
    point makes the estimate NaN; one with a single point makes the SE NaN (both listed in ``short``).
    """
    y = np.asarray(y, dtype=np.float64)
    h = np.asarray(stratum, dtype=np.int64)
    area = np.asarray(stratum_area, dtype=np.float64)
    k = area.size
    n = np.bincount(h, minlength=k)[:k].astype(np.float64)
    s1 = np.bincount(h, weights=y, minlength=k)[:k]
    s2 = np.bincount(h, weights=y * y, minlength=k)[:k]
    live = area > 0
    short = [int(i) for i in np.nonzero(live & (n < 2))[0]]
    if (live & (n == 0)).any():
        return StratifiedTotal(math.nan, math.nan, short)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s1 / np.where(n > 0, n, 1), 0.0)
        var = np.where(n > 1, np.maximum(s2 - n * mean * mean, 0.0) / np.where(n > 1, n - 1, 1), np.nan)
    value = float(np.sum(area[live] * mean[live]))
    variance = float(np.sum(area[live] ** 2 * var[live] / n[live]))
    return StratifiedTotal(value, math.sqrt(variance) if math.isfinite(variance) else math.nan, short)

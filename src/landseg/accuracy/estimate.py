"""Stratified estimators of accuracy and area (Olofsson et al. 2013, 2014), pure numpy.

Strata are the mapped classes; a reference sample drawn at random within each stratum gives the
counts ``n[i, j]`` (map stratum i, reference class j). With stratum weights ``W_i`` (the share of the
mapped area in stratum i) and ``n_i = sum_j n[i, j]``:

* error matrix in area proportions ``p_ij = W_i n_ij / n_i`` (Olofsson 2014 eq. 4);
* overall accuracy ``O = sum_j p_jj`` (eq. 1), user's ``U_i = p_ii / p_i.`` (eq. 2), producer's
  ``P_j = p_jj / p_.j`` (eq. 3), with the variances of eqs. 5-7;
* the error-adjusted area of class j ``A_tot p_.j`` with ``S(p_.j) = sqrt(sum_i W_i^2 (n_ij/n_i)
  (1 - n_ij/n_i) / (n_i - 1))`` (eq. 10) and the 95 % interval ``± 1.96 S A_tot`` (eq. 11).

95 % intervals of the accuracies (overall, user's, producer's) are the normal intervals
``estimate ± 1.96 S`` of the paper, clipped to [0, 1], except where that interval degenerates: an
estimate of 0 or 1 has a stratified variance of 0 (and a stratum with one unit none), which would
claim certainty from a handful of points ("0.00 % ± 0.00 %" for 10 points all wrong). There the
interval is the Wilson score interval of the sample counts (Wilson 1927; Agresti & Coull 1998):
user's accuracy of class i from the ``n_ii`` correct of the ``n_i`` points in stratum i, producer's of
class j from the ``n_jj`` correct of the ``n_.j`` points whose reference is j, overall from the diagonal
of all points. It is never of zero width (10 of 10 correct: 72.2-100 %). ``*_method`` says which was used.

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
    # 95 % intervals of the accuracies, (low, high) and the method per value: "normal" (± 1.96 S, clipped to
    # [0, 1]) or "wilson" (where the normal one degenerates; see the module docstring)
    users_interval: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    users_method: list[str] = field(default_factory=list)
    producers_interval: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    producers_method: list[str] = field(default_factory=list)
    overall_interval: tuple[float, float] = (np.nan, np.nan)
    overall_method: str = "normal"

    @property
    def ci_area(self) -> np.ndarray:
        """Half-width of the 95 % interval of the adjusted areas (1.96 S A_tot)."""
        return 1.96 * self.se_area

    @property
    def ci_overall(self) -> float:
        """Half-width of the overall accuracy's 95 % interval (1.96 standard errors)."""
        return 1.96 * self.se_overall

    @property
    def ci_users(self) -> np.ndarray:
        """Half-widths of the user's accuracies' 95 % intervals."""
        return 1.96 * self.se_users

    @property
    def ci_producers(self) -> np.ndarray:
        """Half-widths of the producer's accuracies' 95 % intervals."""
        return 1.96 * self.se_producers


def wilson_interval(successes: np.ndarray | float, n: np.ndarray | float, z: float = Z95) -> np.ndarray:
    """Wilson score interval(s) of a binomial proportion: shape (..., 2) of (low, high); NaN where n = 0."""
    x = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / m
        denom = 1 + z * z / m
        centre = (p + z * z / (2 * m)) / denom
        half = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / denom
    lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    lo = np.where(x <= 0, 0.0, lo)  # exact ends where the estimate sits on them
    hi = np.where(x >= m, 1.0, hi)
    return np.where((m > 0)[..., None], np.stack([lo, hi], axis=-1), np.nan)


def _intervals(est: np.ndarray, se: np.ndarray, x: np.ndarray, n: np.ndarray,
               degenerate: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Normal intervals est ± 1.96 se clipped to [0, 1], Wilson's from (x of n) where ``degenerate``."""
    normal = np.clip(np.stack([est - 1.96 * se, est + 1.96 * se], axis=-1), 0, 1)
    use = degenerate & (n > 0) & np.isfinite(est)
    out = np.where(use[..., None], wilson_interval(x, n), normal)
    return out, ["wilson" if u else "normal" for u in np.atleast_1d(use)]


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def stratified_estimate(counts: np.ndarray, weights: np.ndarray, total_area: float = 1.0,
                        names: list[str] | tuple[str, ...] | None = None) -> StratifiedEstimate:
    """Accuracy and error-adjusted areas from sample ``counts`` (K x K) and stratum ``weights``.

    ``weights`` are stratum areas or pixel counts (normalised here); ``total_area`` is the mapped
    area the weights share (1.0 gives proportions). A stratum with weight > 0 must hold at least one
    sample unit (else ValueError); one with a single unit makes the standard errors that need its
    variance NaN (``n_i - 1 = 0``), noted in ``notes``. ``names`` (class names) are used in the notes.
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
    se_users, se_prod, se_overall = np.sqrt(var_users), np.sqrt(var_prod), float(np.sqrt(var_overall))
    overall = float(diag.sum())
    nd = np.diag(n)
    u_int, u_how = _intervals(users, se_users, nd, n_i, (se_users == 0) | (n_i == 1))
    p_int, p_how = _intervals(producers, se_prod, nd, n.sum(axis=0), se_prod == 0)
    o_int, o_how = _intervals(np.array([overall]), np.array([se_overall]), np.array([nd.sum()]),
                              np.array([n.sum()]), np.array([se_overall == 0]))
    label = list(names) if names is not None else [str(k) for k in range(len(w))]
    wil = [f"user's {label[k]}" for k in range(len(u_how)) if u_how[k] == "wilson" and w[k] > 0]
    wil += [f"producer's {label[k]}" for k in range(len(p_how)) if p_how[k] == "wilson"]
    wil += ["overall"] if o_how[0] == "wilson" else []
    if wil:
        notes.append(f"accuracies estimated at 0 or 100 % (or from one point) have a stratified variance of 0, which "
                     f"would give an interval of zero width; their 95 % intervals are Wilson score intervals of the "
                     f"sample counts instead ({', '.join(wil)})")
    return StratifiedEstimate(
        counts=n, weights=w, total_area=float(total_area), proportions=p,
        overall=overall, se_overall=se_overall,
        users=users, se_users=se_users, producers=producers, se_producers=se_prod,
        mapped_area=w * total_area, adjusted_area=p_col * total_area, se_area=np.sqrt(var_pcol) * total_area,
        notes=notes, users_interval=u_int, users_method=u_how, producers_interval=p_int, producers_method=p_how,
        overall_interval=(float(o_int[0, 0]), float(o_int[0, 1])), overall_method=o_how[0],
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
        """Half-width of the 95 % interval (1.96 standard errors)."""
        return 1.96 * self.se

    @property
    def low(self) -> float:
        """Lower 95 % bound."""
        return self.value - self.ci

    @property
    def high(self) -> float:
        """Upper 95 % bound."""
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

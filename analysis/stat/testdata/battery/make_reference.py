#!/usr/bin/python3
"""Generate reference values for driftwatch's second battery of statistics
(package analysis: anderson.go, energy.go, hellinger.go, mmd.go,
mahalanobis.go, fdr.go).

Run with Debian's python3 (numpy 1.24 + scipy 1.10):

    /usr/bin/python3 analysis/stat/testdata/battery/make_reference.py > analysis/stat/testdata/battery/reference.json

Every expected value is computed here by scipy or, where scipy has no such
statistic, by numpy straight from the definition; never by driftwatch.
Samples are drawn with fixed seeds and rounded (to 4 decimals, or coarser to
create ties), so the JSON holds exactly the doubles both sides read. NaN is
written as null.
"""
import json
import math
import sys
import warnings

import numpy as np
import scipy
from scipy import stats
from scipy.spatial.distance import chebyshev, euclidean
from scipy.special import rel_entr

PSI_EPSILON = 1e-4


def floats(a, decimals=4):
    return [float(v) for v in np.round(np.asarray(a, dtype=float), decimals)]


def nullable(a):
    return [None if math.isnan(v) else float(v) for v in a]


# ---------------------------------------------------------------- Anderson–Darling


def anderson_cases(rng):
    sets = [
        ("k2_shift", [floats(rng.normal(0, 1, 100)), floats(rng.normal(0.35, 1, 120))]),
        ("k2_same_capped", [floats(rng.normal(0, 1, 200)), floats(rng.normal(0, 1, 150))]),
        ("k2_far_floored", [floats(rng.normal(0, 1, 80)), floats(rng.normal(1.5, 1, 90))]),
        ("k2_ties_1decimal", [floats(rng.normal(0, 1, 150), 1), floats(rng.normal(0.2, 1.2, 110), 1)]),
        ("k2_poisson_heavy_ties", [[float(v) for v in rng.poisson(3.0, 300)],
                                   [float(v) for v in rng.poisson(3.3, 250)]]),
        ("k3_unequal", [floats(rng.normal(0, 1, 50)), floats(rng.normal(0, 1, 80)),
                        floats(rng.normal(0.4, 1, 65))]),
        ("k3_ties_unequal", [floats(rng.exponential(1, 40), 1), floats(rng.exponential(1.2, 75), 1),
                             floats(rng.exponential(1, 33), 1)]),
        ("k4_same", [floats(rng.normal(0, 1, n)) for n in (30, 45, 60, 25)]),
        ("k2_binary", [[0.0] * 30 + [1.0] * 20, [0.0] * 20 + [1.0] * 30]),
        ("k2_tiny_4", [[1.0, 2.0], [3.0, 4.0]]),
        ("k2_tiny_1_3", [[1.0], [2.0, 3.0, 4.0]]),
        ("k2_large_2decimals", [floats(rng.normal(0, 1, 2000), 2), floats(rng.normal(0.05, 1, 2500), 2)]),
    ]
    out = []
    kinds = set()
    for name, samples in sets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = stats.anderson_ksamp(samples)  # midrank=True
        crit = [float(v) for v in r.critical_values]
        if r.statistic < min(crit):
            kinds.add("capped")
        elif r.statistic > max(crit):
            kinds.add("floored")
        else:
            kinds.add("interpolated")
        out.append({"name": name, "samples": samples, "statistic": float(r.statistic),
                    "pvalue": float(r.pvalue), "critical_values": crit})
    assert kinds == {"capped", "floored", "interpolated"}, kinds
    return out


# ------------------------------------------------------------------------ energy


def energy_cases(rng):
    pairs = [
        ("normal_shift", floats(rng.normal(0, 1, 500)), floats(rng.normal(0.3, 1, 400))),
        ("scale", floats(rng.normal(0, 1, 300)), floats(rng.normal(0, 2, 350))),
        ("ties_poisson", [float(v) for v in rng.poisson(2, 200)], [float(v) for v in rng.poisson(2.5, 150)]),
        ("identical", [1.0, 2.0, 2.0, 5.0], [5.0, 2.0, 1.0, 2.0]),
        ("one_each", [0.5], [2.0]),
        ("disjoint", [0.0, 0.1, 0.2, 0.3], [10.0, 10.5, 11.0]),
        ("large_unequal", floats(rng.normal(0, 1, 3000)), floats(rng.normal(0.02, 1.05, 2500))),
    ]
    return [{"name": n, "x": x, "y": y, "distance": float(stats.energy_distance(x, y))}
            for n, x, y in pairs]


# ------------------------------------------------------ Hellinger, KL, L-infinity


def histogram_cases(rng):
    base = rng.multinomial(1000, [0.1] * 10)
    cases = [
        ("multinomial_null", base, rng.multinomial(800, [0.1] * 10)),
        ("multinomial_shift", base, rng.multinomial(800, [0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.15])),
        ("empty_current_bin", [30, 40, 50, 60], [35, 0, 45, 70]),
        ("empty_reference_bin", [30, 0, 50, 60], [35, 5, 45, 70]),
        ("identical", [3, 1, 4, 1, 5], [3, 1, 4, 1, 5]),
        ("proportional", [3, 1, 4, 1, 5], [6, 2, 8, 2, 10]),
        ("disjoint", [10, 0, 0], [0, 4, 6]),
        ("near_identical", [100000, 200000, 300000], [100001, 200000, 299999]),
        ("categories_new_value", [500, 300, 200, 0], [450, 320, 180, 50]),
    ]
    out = []
    for name, r, c in cases:
        r = np.asarray(r, dtype=float)
        c = np.asarray(c, dtype=float)
        p, q = r / r.sum(), c / c.sum()
        hell = euclidean(np.sqrt(p), np.sqrt(q)) / math.sqrt(2)
        bc = math.sqrt(max(0.0, 1 - np.sum(np.sqrt(p * q))))
        assert abs(hell - bc) < 1e-6, (name, hell, bc)  # same quantity, two forms
        pf, qf = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
        kl_cr = float(np.sum(rel_entr(qf, pf)))  # KL(current‖reference)
        kl_rc = float(np.sum(rel_entr(pf, qf)))
        psi = float(np.sum((qf - pf) * np.log(qf / pf)))
        out.append({"name": name, "reference": [float(v) for v in r], "current": [float(v) for v in c],
                    "hellinger": float(hell), "kl_current_reference": kl_cr,
                    "kl_reference_current": kl_rc, "psi": psi, "linf": float(chebyshev(p, q))})
    return out


# -------------------------------------------------------------------------- MMD


def mmd_reference(x, y):
    """Alibi Detect's median heuristic on x vs x and the unbiased MMD², by numpy."""
    x, y = np.asarray(x), np.asarray(y)
    n, m = len(x), len(y)
    z = np.vstack([x, y])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    dxx = d2[:n, :n]
    iu = np.triu_indices(n, 1)
    med = np.sort(dxx[iu])[(len(iu[0]) - 1) // 2]  # lower median of i < j
    # Alibi's sigma_median on x vs x: n_median = n + (n·n − n)//2 − 1 over all
    # n² clamped squared distances; the same element.
    full = np.sort(np.maximum(dxx, 1e-30).ravel())
    assert full[n + (n * n - n) // 2 - 1] == max(med, 1e-30)
    sigma = math.sqrt(0.5 * max(med, 1e-30))
    k = np.exp(-d2 / (2 * sigma ** 2))
    np.fill_diagonal(k, 0)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    mmd2 = kxx.sum() / (n * (n - 1)) + kyy.sum() / (m * (m - 1)) - 2 * kxy.mean()
    return float(mmd2), sigma


def mmd_cases(rng):
    def rows(a, decimals=4):
        return [floats(r, decimals) for r in a]

    sets = [
        ("null_3d", rows(rng.normal(0, 1, (60, 3))), rows(rng.normal(0, 1, (50, 3)))),
        ("shift_5d", rows(rng.normal(0, 1, (80, 5))), rows(rng.normal(0.5, 1, (70, 5)))),
        ("ties_2d", rows(rng.poisson(3, (40, 2)), 0), rows(rng.poisson(3, (45, 2)), 0)),
        ("scale_15d", rows(rng.normal(0, 1, (200, 15))), rows(rng.normal(0, 1.2, (150, 15)))),
        ("smaller_x", rows(rng.normal(0, 1, (30, 4))), rows(rng.normal(0.2, 1, (90, 4)))),
    ]
    out = []
    for name, x, y in sets:
        mmd2, sigma = mmd_reference(x, y)
        out.append({"name": name, "x": x, "y": y, "statistic": mmd2, "sigma": sigma})
    return out


# ------------------------------------------------------------------ Mahalanobis


def mahalanobis_cases(rng):
    def case(name, ref, cur_mean):
        ref = np.asarray(ref)
        mu = ref.mean(axis=0)
        s = np.atleast_2d(np.cov(ref, rowvar=False))
        diff = np.asarray(cur_mean) - mu
        d = math.sqrt(float(diff @ np.linalg.solve(s, diff)))
        return {"name": name, "reference": [floats(r) for r in ref], "current_mean": [float(v) for v in cur_mean],
                "distance": d}

    a = np.array([[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 0.0], [0.3, -0.2, 0.9, 0.0], [0.1, 0.4, 0.2, 0.5]])
    ref4 = np.round(rng.normal(0, 1, (300, 4)) @ a.T + [1, 2, 3, 4], 4)
    scales = np.array([1e-3, 1, 10, 1e4, 0.5, 2, 100, 7])
    ref8 = np.round(rng.normal(0, 1, (100, 8)) * scales + 5, 4)
    ref3 = np.round(rng.normal(0, 1, (20, 3)), 4)
    return [
        case("correlated_4d", ref4, floats(ref4.mean(axis=0) + [0.1, -0.05, 0.2, 0.0])),
        case("scales_8d", ref8, floats(ref8.mean(axis=0) + scales * 0.3)),
        case("small_3d", ref3, [0.5, -0.25, 1.0]),
        case("one_feature", np.round(rng.normal(0, 2, (10, 1)), 4), [0.0]),
    ]


# ---------------------------------------------------------- Benjamini–Hochberg


def bh_numpy(p, q):
    """Benjamini–Hochberg as statsmodels' multipletests(method='fdr_bh') computes
    it, in plain numpy, with NaN marking untested hypotheses."""
    p = np.asarray(p, dtype=float)
    rejected = np.zeros(len(p), dtype=bool)
    adjusted = np.full(len(p), np.nan)
    idx = np.flatnonzero(~np.isnan(p))
    if len(idx) == 0:
        return rejected, adjusted
    order = idx[np.argsort(p[idx], kind="mergesort")]
    ps = p[order]
    m = len(ps)
    ecdf = np.arange(1, m + 1) / m
    below = ps <= ecdf * q
    rej = np.zeros(m, dtype=bool)
    if below.any():
        rej[: np.nonzero(below)[0].max() + 1] = True
    adj = np.minimum.accumulate((ps / ecdf)[::-1])[::-1]
    adj = np.minimum(adj, 1)
    rejected[order] = rej
    adjusted[order] = adj
    return rejected, adjusted


BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
           0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000]


def bh_cases(rng):
    mixed = np.concatenate([rng.uniform(0, 1, 40), rng.uniform(0, 1e-3, 8)])
    rng.shuffle(mixed)
    with_nan = rng.uniform(0, 0.2, 20)
    with_nan[[2, 7, 11]] = np.nan
    sets = [
        ("bh1995", BH_1995, 0.05),
        ("bh1995_q10", BH_1995, 0.10),
        ("uniform_and_signals", [float(v) for v in mixed], 0.05),
        ("with_untested", [float(v) for v in with_nan], 0.1),
        ("ties", [0.01, 0.04, 0.01, 0.03, 0.04, 0.5, 0.03], 0.05),
        ("single", [0.03], 0.05),
        ("none_rejected", [0.2, 0.6, 0.9, 0.04], 0.05),
    ]
    out = []
    for name, p, q in sets:
        rej, adj = bh_numpy(p, q)
        out.append({"name": name, "p": nullable(p), "q": q, "rejected": [bool(v) for v in rej],
                    "adjusted": nullable(adj)})
    assert sum(out[0]["rejected"]) == 4  # Benjamini & Hochberg (1995), §4
    return out


def main():
    rng = np.random.default_rng(20261126)
    ref = {
        "generator": "analysis/stat/testdata/battery/make_reference.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "psi_epsilon": PSI_EPSILON,
        "anderson": anderson_cases(rng),
        "energy": energy_cases(rng),
        "histograms": histogram_cases(rng),
        "mmd": mmd_cases(rng),
        "mahalanobis": mahalanobis_cases(rng),
        "benjamini_hochberg": bh_cases(rng),
    }
    json.dump(ref, sys.stdout, allow_nan=False, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generate reference values for driftwatch's drift statistics (package analysis).

Run with Debian's python3 (numpy + scipy 1.10):

    /usr/bin/python3 analysis/stat/testdata/stats/make_reference.py > analysis/stat/testdata/stats/reference.json

Every expected value below is computed by numpy / scipy, never by driftwatch.
Samples are drawn with fixed seeds and rounded to 4 decimals, so the JSON holds
exactly the doubles both sides read (rounding also creates ties, which the
statistics must handle).
"""
import json
import sys
import warnings

import numpy as np
import scipy
from scipy import stats
from scipy.spatial.distance import jensenshannon

PSI_EPSILON = 1e-4


def rounded(a):
    return [float(v) for v in np.round(np.asarray(a, dtype=float), 4)]


def make_samples():
    rng = np.random.default_rng(20240601)
    s = {}
    s["normal_1000_a"] = rounded(rng.normal(0, 1, 1000))
    s["normal_1000_b"] = rounded(rng.normal(0, 1, 1000))
    s["shift_500_a"] = rounded(rng.normal(0, 1, 500))
    s["shift_500_b"] = rounded(rng.normal(0.3, 1, 500))
    s["scale_800"] = rounded(rng.normal(0, 1, 800))
    s["scale_600"] = rounded(rng.normal(0, 1.5, 600))
    s["poisson_300"] = [float(v) for v in rng.poisson(3.0, 300)]
    s["poisson_400"] = [float(v) for v in rng.poisson(3.5, 400)]
    s["small_5"] = rounded(rng.normal(0, 1, 5))
    s["small_7"] = rounded(rng.normal(0.5, 1, 7))
    s["small_5_b"] = rounded(rng.normal(0.2, 1, 5))
    s["unequal_100"] = rounded(rng.exponential(1.0, 100))
    s["unequal_250"] = rounded(rng.exponential(1.3, 250))
    s["large_10000_a"] = rounded(rng.normal(0, 1, 10000))
    s["large_10000_b"] = rounded(rng.normal(0.02, 1, 10000))
    s["large_9000"] = rounded(rng.normal(0, 1.05, 9000))
    s["large_10001"] = rounded(rng.normal(0, 1, 10001))
    s["asymp_60_same"] = rounded(rng.normal(0, 1, 60))
    s["asymp_60_shift"] = rounded(rng.normal(0.8, 1, 60))
    s["asymp_300_same"] = rounded(rng.normal(0, 1, 300))
    s["asymp_300_shift"] = rounded(rng.normal(0.3, 1, 300))
    s["one"] = [0.5]
    s["two"] = [1.0, -2.0]
    s["constant_20"] = [3.0] * 20
    s["twovalues_40"] = [0.0] * 30 + [1.0] * 10
    s["disjoint_low"] = [0.0, 0.1, 0.2, 0.3]
    s["disjoint_high"] = [10.0, 10.5, 11.0]
    return {k: sorted(v) for k, v in s.items()}


QUANTILE_PS = [0.0, 0.01, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0]


def quantile_cases(s):
    out = []
    for name in ["one", "two", "small_5", "small_7", "poisson_300", "normal_1000_a",
                 "constant_20", "twovalues_40", "large_9000"]:
        x = np.asarray(s[name])
        out.append({"sample": name, "p": QUANTILE_PS,
                    "want": [float(v) for v in np.quantile(x, QUANTILE_PS)]})
    return out


def edges(x, bins):
    ps = [j / bins for j in range(1, bins)]
    return np.unique(np.quantile(np.asarray(x), ps))


def edge_cases(s):
    out = []
    for name in ["one", "two", "small_7", "poisson_300", "normal_1000_a", "constant_20",
                 "twovalues_40", "large_9000"]:
        for bins in [2, 4, 10, 20]:
            e = edges(s[name], bins)
            # Probe values: every edge, midpoints, and values outside the range.
            probe = list(e) + [float(e[0]) - 1.0, float(e[-1]) + 1.0]
            probe += [float((a + b) / 2) for a, b in zip(e[:-1], e[1:])]
            probe += s["small_7"]
            out.append({"sample": name, "bins": bins, "edges": [float(v) for v in e],
                        "probe": [float(v) for v in probe],
                        "bin": [int(i) for i in np.searchsorted(e, probe, side="left")]})
    return out


def bin_counts(ref, cur, bins):
    e = edges(ref, bins)
    k = len(e) + 1
    rc = np.bincount(np.searchsorted(e, ref, side="left"), minlength=k)
    cc = np.bincount(np.searchsorted(e, cur, side="left"), minlength=k)
    return [float(v) for v in rc], [float(v) for v in cc]


def psi(ref, cur):
    r = np.asarray(ref, dtype=float)
    c = np.asarray(cur, dtype=float)
    r = np.maximum(r / r.sum(), PSI_EPSILON)
    c = np.maximum(c / c.sum(), PSI_EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def histogram_cases(s):
    """Reference/current count vectors shared by PSI, JS and chi-square."""
    pairs = [
        ("normal_1000_a", "normal_1000_b", 10),
        ("shift_500_a", "shift_500_b", 10),
        ("scale_800", "scale_600", 10),
        ("scale_800", "scale_600", 20),
        ("unequal_100", "unequal_250", 10),
        ("large_10000_a", "large_10000_b", 20),
        ("poisson_300", "poisson_400", 10),
    ]
    cases = []
    for a, b, bins in pairs:
        r, c = bin_counts(s[a], s[b], bins)
        cases.append({"name": f"{a}|{b}|{bins}bins", "reference": r, "current": c})
    hand = {
        "identical": ([10, 20, 30, 40], [10, 20, 30, 40]),
        "proportional": ([10, 20, 30, 40], [1, 2, 3, 4]),
        "empty_current_bin": ([25, 25, 25, 25], [40, 0, 30, 30]),
        "empty_reference_bin": ([50, 0, 25, 25], [20, 10, 30, 40]),
        "tiny_proportion": ([100000, 3, 5, 7], [90000, 9000, 4, 6]),
        "disjoint": ([5, 5, 0, 0], [0, 0, 7, 3]),
        "two_bins": ([60, 40], [45, 55]),
        "new_category": ([30, 70, 0], [25, 60, 15]),
        "zero_column": ([12, 0, 30, 8], [9, 0, 41, 2]),
        "big_counts": ([400000, 300000, 200000, 100000], [390000, 310000, 205000, 95000]),
    }
    for name, (r, c) in hand.items():
        cases.append({"name": name, "reference": [float(v) for v in r],
                      "current": [float(v) for v in c]})
    for cse in cases:
        r, c = cse["reference"], cse["current"]
        cse["psi"] = psi(r, c)
        cse["js"] = float(jensenshannon(r, c, base=2))
    return cases


def chi2(ref, cur):
    table = np.array([ref, cur], dtype=float)
    keep = table.sum(axis=0) > 0
    table = table[:, keep]
    if table.shape[1] < 2:
        return 0.0, 1.0, 0
    res = stats.chi2_contingency(table)
    return float(res[0]), float(res[1]), int(res[2])


def chi2_cases(hist):
    out = []
    for cse in hist:
        stat, p, dof = chi2(cse["reference"], cse["current"])
        out.append({"name": cse["name"], "reference": cse["reference"], "current": cse["current"],
                    "statistic": stat, "pvalue": p, "dof": dof})
    extra = {
        "yates_2x2": ([30, 10], [18, 22]),
        "yates_small_diff": ([10, 10], [10, 11]),
        "yates_2x2_zero_column": ([30, 0, 10], [18, 0, 22]),
        "single_column": ([5, 0], [7, 0]),
        "all_zero_but_one": ([0, 4, 0], [0, 9, 0]),
        "tiny_pvalue": ([5000, 100, 20], [100, 5000, 30]),
    }
    for name, (r, c) in extra.items():
        stat, p, dof = chi2(r, c)
        out.append({"name": name, "reference": [float(v) for v in r],
                    "current": [float(v) for v in c],
                    "statistic": stat, "pvalue": p, "dof": dof})
    return out


def ks_case(x, y):
    n, m = len(x), len(y)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = stats.ks_2samp(x, y, alternative="two-sided", method="auto")
    method = "exact" if max(n, m) <= 10000 else "asymp"
    if any("Switching to" in str(i.message) for i in w):
        method = "asymp"
    return float(res.statistic), float(res.pvalue), method


KS_PAIRS = [
    ("normal_1000_a", "normal_1000_b"),
    ("shift_500_a", "shift_500_b"),
    ("scale_800", "scale_600"),
    ("poisson_300", "poisson_400"),
    ("small_5", "small_7"),
    ("small_5", "small_5_b"),
    ("small_5", "small_5"),
    ("unequal_100", "unequal_250"),
    ("unequal_250", "unequal_100"),
    ("disjoint_low", "disjoint_high"),
    ("one", "two"),
    ("constant_20", "twovalues_40"),
    ("large_10000_a", "large_10000_b"),
    ("large_10000_a", "large_9000"),
    ("large_10001", "asymp_60_same"),
    ("large_10001", "asymp_60_shift"),
    ("large_10001", "asymp_300_same"),
    ("large_10001", "asymp_300_shift"),
    ("asymp_300_shift", "large_10001"),
]


def ks_cases(s):
    out = []
    for a, b in KS_PAIRS:
        d, p, method = ks_case(s[a], s[b])
        out.append({"x": a, "y": b, "statistic": d, "pvalue": p, "method": method})
    return out


def wasserstein_cases(s):
    out = []
    for a, b in KS_PAIRS:
        out.append({"x": a, "y": b, "want": float(stats.wasserstein_distance(s[a], s[b]))})
    return out


def kstwo_cases():
    """kstwo.sf(x, n) at points chosen to reach every branch of scipy's _kolmogn."""
    pts = []
    for n in [1, 2, 5, 10, 40, 100, 140, 141, 290, 1000, 5000, 100000, 150000]:
        for t in [0.3, 0.6, 0.9, 1.0, 1.5, 3.0]:  # t = n*x (Ruben-Gambino, small x)
            pts.append((n, t / n))
        for nx2 in [0.2, 0.5, 0.75, 0.76, 1.0, 2.0, 2.19, 2.21, 3.9, 4.1, 10, 17.9, 18.1, 50, 369, 371]:
            x = (nx2 / n) ** 0.5
            if x < 1:
                pts.append((n, x))
        for x in [0.05, 0.2, 0.45, 0.5, 0.51, 0.7, 0.95, 1 - 0.5 / n, 1.0]:
            pts.append((n, x))
    pts.append((100000, (1.4 / 100000) ** (2 / 3) * 0.99))
    pts.append((100000, (1.4 / 100000) ** (2 / 3) * 1.01))
    out = []
    for n, x in pts:
        out.append({"n": n, "x": float(x), "sf": float(stats.kstwo.sf(x, n))})
    return out


def smirnov_cases():
    """scipy.special.smirnov(n, x), the one-sided sum kstwo uses for large n*x**2."""
    from scipy import special
    out = []
    for n, x in [(2, 0.7), (10, 0.05), (10, 0.3), (10, 0.95), (50, 0.2), (50, 0.5), (141, 0.15),
                 (500, 0.1), (1000, 0.04), (5000, 0.02), (20000, 0.01), (2000000, 0.0005),
                 (2000000, 0.002), (7, 1 / 7), (7, 6 / 7), (1, 0.25)]:
        out.append({"n": n, "x": float(x), "sf": float(special.smirnov(n, x))})
    return out


def main():
    s = make_samples()
    hist = histogram_cases(s)
    doc = {
        "generator": "make_reference.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "psi_epsilon": PSI_EPSILON,
        "samples": s,
        "quantile": quantile_cases(s),
        "edges": edge_cases(s),
        "histograms": hist,
        "chisquare": chi2_cases(hist),
        "ks": ks_cases(s),
        "wasserstein": wasserstein_cases(s),
        "kstwo_sf": kstwo_cases(),
        "smirnov_sf": smirnov_cases(),
    }
    json.dump(doc, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Generate reference values for the poisoning signals (package analysis/signal/poisoning).

Run with Debian's python3 (numpy + scipy 1.10):

    /usr/bin/python3 analysis/signal/poisoning/testdata/make_reference.py > analysis/signal/poisoning/testdata/reference.json

Every expected value below is computed by numpy / scipy, never by driftwatch.
The spectral data are drawn with a fixed seed and rounded to 4 decimals, so the
JSON holds exactly the doubles both sides read.
"""
import json
import sys

import numpy as np
import scipy
from scipy import stats

# One-sided ("greater") Fisher exact tests on [[a, b], [c, d]]: small tables,
# a source flipping labels against a large population, and tails far from
# the mode in both directions.
FISHER = [
    [3, 1, 1, 3],
    [8, 2, 1, 5],
    [0, 10, 5, 5],
    [10, 0, 0, 10],
    [12, 488, 100, 9400],
    [120, 80, 100, 1900],
    [30, 70, 300, 700],
    [20, 80, 300, 700],
    [60, 940, 500, 98500],
    [5, 0, 995, 99000],
    [400, 600, 40000, 60000],
]

# Binomial upper tails P(X >= k) for X ~ Binomial(n, p).
BINOMIAL = [
    [0, 10, 0.3],
    [1, 10, 0.3],
    [30, 100, 0.1],
    [12, 200, 0.05],
    [812, 5000, 0.05],
    [260, 5000, 0.05],
    [5, 1000, 1e-4],
]

# Proposed-label counts of a reference and a window (2 x K homogeneity).
CHI_REF = [700.0, 200.0, 100.0]
CHI_CUR = [520.0, 180.0, 300.0]


def spectral():
    """200 x 8 standard-normal representations of one label, the last 10 shifted
    by 6 along (1, 1, 1, 1, 0, 0, 0, 0)/2 (a planted 5% cluster; with a shift of 3 only
    6 of the 10 reach the top 15, 1.5·ε·n: the cluster is not yet spectrally separable). Scores as the
    package defines them: each column divided by its standard deviation (ddof 0),
    centred, tau_i = ((m_i) . v)^2 with v the top right singular vector."""
    rng = np.random.default_rng(20181103)
    x = rng.normal(0.0, 1.0, (200, 8))
    shift = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float) / 2.0 * 6.0
    x[190:] += shift
    x = np.round(x, 4)
    m = (x - x.mean(axis=0)) / x.std(axis=0)
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    scores = (m @ vt[0]) ** 2
    top = np.argsort(-scores, kind="stable")[:15]
    return {
        "rows": x.tolist(),
        "poisoned": list(range(190, 200)),
        "singular": s.tolist(),
        "scores": scores.tolist(),
        "top15": sorted(int(i) for i in top),
    }


def main():
    out = {
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "fisher_greater": [
            {"table": t, "p": float(stats.fisher_exact([[t[0], t[1]], [t[2], t[3]]], alternative="greater")[1])}
            for t in FISHER
        ],
        "binomial_sf": [
            {"k": k, "n": n, "p": p, "sf": float(stats.binom.sf(k - 1, n, p))} for k, n, p in BINOMIAL
        ],
        "normal_sf": [{"z": z, "sf": float(stats.norm.sf(z))} for z in [-1.0, 0.0, 1.6448536269514722, 3.0, 8.0]],
        "chi2_labels": {
            "reference": CHI_REF,
            "current": CHI_CUR,
            "statistic": float(stats.chi2_contingency([CHI_REF, CHI_CUR])[0]),
            "p": float(stats.chi2_contingency([CHI_REF, CHI_CUR])[1]),
        },
        "chi2_median_1": float(stats.chi2.median(1)),
        "spectral": spectral(),
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Test inputs and scipy reference values for `driftwatch compare`.

Run with Debian's python3 (numpy + scipy 1.10) from the repository root:

    /usr/bin/python3 cmd/driftwatch/testdata/compare/make_expected.py

It writes, next to itself, ref.csv and cur.csv (fixed seed), the same rows as
ref.jsonl and cur.jsonl, and expected.json: every statistic of every column
computed by numpy / scipy from the CSV files, never by driftwatch, plus the
decision of docs/compare.md re-implemented here. The Go test compares
`driftwatch compare --format json` with it.
"""
import csv
import json
import math
import os

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon, pdist, cdist

HERE = os.path.dirname(os.path.abspath(__file__))
EPS = 1e-4
FDR = 0.05
MIN_COUNT = 100


def make_data():
    rng = np.random.default_rng(20261126)

    def table(n, shift):
        amount = np.round(rng.lognormal(3 + 0.3 * shift, 0.5, n), 2)
        age = np.round(rng.normal(40, 10, n)).astype(int)
        score = np.round(rng.normal(0.1 * shift, 1, n), 3).astype(object)
        score[rng.random(n) < 0.05] = ""
        rare = np.round(rng.normal(2 * shift, 1, n), 2).astype(object)
        keep = 0.8 if shift == 0 else 80 / n
        rare[rng.random(n) >= keep] = ""
        countries = ["DE", "FR", "US", "GB", "BR"]
        p = [0.4, 0.3, 0.2, 0.1, 0.0] if shift == 0 else [0.25, 0.25, 0.3, 0.1, 0.1]
        country = rng.choice(countries, n, p=p)
        channel = rng.choice(["web", "app", "partner"], n, p=[0.5, 0.4, 0.1])
        return {"amount": amount, "age": age, "score": score, "rare_metric": rare,
                "country": country, "channel": channel}

    return table(400, 0), table(300, 1)


def write(name, cols):
    names = list(cols)
    n = len(cols[names[0]])
    with open(os.path.join(HERE, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for i in range(n):
            w.writerow([cols[c][i] for c in names])
    with open(os.path.join(HERE, name + ".jsonl"), "w") as f:
        for i in range(n):
            obj = {}
            for c in names:
                v = cols[c][i]
                if isinstance(v, str) and v == "":
                    obj[c] = None
                elif c in ("country", "channel"):
                    obj[c] = str(v)
                else:
                    # The CSV text, as a JSON number.
                    obj[c] = json.loads(str(v))
            f.write(json.dumps(obj) + "\n")


def read(name):
    with open(os.path.join(HERE, name + ".csv")) as f:
        rows = list(csv.DictReader(f))
    return {c: [r[c] for r in rows if r[c] != ""] for c in rows[0]}


def bins(x, y):
    edges = np.unique(np.quantile(x, np.arange(1, 10) / 10))
    r = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(edges) + 1)
    c = np.bincount(np.searchsorted(edges, y, side="left"), minlength=len(edges) + 1)
    return r.astype(float), c.astype(float)


def binned(r, c):
    p, q = r / r.sum(), c / c.sum()
    pe, qe = np.maximum(p, EPS), np.maximum(q, EPS)
    return {
        "psi": float(np.sum((qe - pe) * np.log(qe / pe))),
        "js": float(jensenshannon(r, c, base=2)),
        "hellinger": float(np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2) / 2)),
        "kl": float(np.sum(qe * np.log(qe / pe))),
        "linf": float(np.max(np.abs(p - q))),
    }


def level(v, warning, critical):
    return 2 if v >= critical else 1 if v >= warning else 0


def numeric(xs, ys):
    x, y = np.array(xs, dtype=float), np.array(ys, dtype=float)
    ks = stats.ks_2samp(x, y)
    ad = stats.anderson_ksamp([x, y])
    w1 = stats.wasserstein_distance(x, y)
    wn = w1 / max(np.std(x), 0.001)
    r, c = bins(x, y)
    b = binned(r, c)
    tests = {
        "ks": {"statistic": float(ks.statistic), "p_value": float(ks.pvalue),
               "method": "exact" if max(len(x), len(y)) <= 10000 else "asymp"},
        "anderson_darling": {"statistic": float(ad.statistic), "p_value": float(ad.significance_level)},
        "wasserstein": {"statistic": float(w1), "normalized": float(wn)},
        "energy": {"statistic": float(stats.energy_distance(x, y))},
        "psi": {"statistic": b["psi"]},
        "js": {"statistic": b["js"]},
        "hellinger": {"statistic": b["hellinger"]},
        "kl": {"statistic": b["kl"]},
    }
    null = (1 / len(x) + 1 / len(y)) * stats.chi2.ppf(0.99, len(r) - 1)
    effect = max(level(b["psi"], max(0.1, null), max(0.25, null)),
                 level(b["js"], 0.1, 0.2), level(wn, 0.1, 0.2))
    return tests, float(ks.pvalue), effect


def categorical(xs, ys):
    cats = sorted(set(xs) | set(ys))
    r = np.array([xs.count(k) for k in cats], dtype=float)
    c = np.array([ys.count(k) for k in cats], dtype=float)
    chi = stats.chi2_contingency([r, c])
    b = binned(r, c)
    unseen = sum(ys.count(k) for k in cats if k not in xs) / len(ys)
    tests = {
        "chi2": {"statistic": float(chi[0]), "p_value": float(chi[1]), "dof": int(chi[2])},
        "psi": {"statistic": b["psi"]},
        "js": {"statistic": b["js"]},
        "hellinger": {"statistic": b["hellinger"]},
        "linf": {"statistic": b["linf"]},
        "unseen": {"statistic": float(unseen)},
    }
    effect = max(level(b["js"], 0.1, 0.2), level(b["linf"], 0.1, 0.2))
    return tests, float(chi[1]), effect


def benjamini_hochberg(p, q):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    k = 0
    for rank, i in enumerate(order, 1):
        if p[i] <= rank / m * q:
            k = rank
    rejected = [False] * m
    for i in order[:k]:
        rejected[i] = True
    return rejected


def multivariate(ref, cur, names):
    x = np.array([[float(v) for v in ref[c]] for c in names]).T
    y = np.array([[float(v) for v in cur[c]] for c in names]).T
    cov = np.cov(x, rowvar=False, ddof=1)
    diff = y.mean(axis=0) - x.mean(axis=0)
    maha = float(np.sqrt(diff @ np.linalg.solve(cov, diff)))
    # MMD² (unbiased, RBF, median heuristic on the reference) on columns
    # standardised by the reference mean and ddof-0 standard deviation.
    mu, sd = x.mean(axis=0), x.std(axis=0)
    xs, ys = (x - mu) / sd, (y - mu) / sd
    d = np.sort(pdist(xs, "sqeuclidean"))
    sigma2 = 0.5 * max(d[(len(d) - 1) // 2], 1e-30)
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * sigma2))
    kxx, kyy, kxy = k(xs, xs), k(ys, ys), k(xs, ys)
    n, m = len(xs), len(ys)
    mmd2 = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.mean())
    return {"mmd": {"statistic": float(mmd2)}, "mahalanobis": {"statistic": maha}}


def main():
    ref_cols, cur_cols = make_data()
    write("ref", ref_cols)
    write("cur", cur_cols)
    ref, cur = read("ref"), read("cur")
    features, pvalues, effects = [], [], []
    for name in ref:
        kind = "categorical" if name in ("country", "channel") else "numeric"
        if kind == "numeric":
            tests, p, effect = numeric([float(v) for v in ref[name]], [float(v) for v in cur[name]])
        else:
            tests, p, effect = categorical(ref[name], cur[name])
        features.append({"name": name, "type": kind, "n_reference": len(ref[name]),
                         "n_current": len(cur[name]), "tests": tests})
        pvalues.append(p)
        effects.append(effect)
    rejected = benjamini_hochberg(pvalues, FDR)
    for f, rej, effect in zip(features, rejected, effects):
        drift = rej and effect > 0 and f["n_reference"] >= MIN_COUNT and f["n_current"] >= MIN_COUNT
        f["drift"] = bool(drift)
        f["severity"] = ["ok", "warning", "critical"][effect] if drift else "ok"
    complete = [c for c in ref if c not in ("country", "channel")
                and len(ref[c]) == len(ref_cols[c]) and len(cur[c]) == len(cur_cols[c])]
    out = {"features": features, "multivariate": multivariate(ref, cur, complete),
           "multivariate_columns": complete}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

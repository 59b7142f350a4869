#!/usr/bin/python3
"""Test inputs and numpy reference values for `driftwatch baseline` and
analysis.ReferenceFromTable.

Run with Debian's python3 (numpy) from the repository root:

    /usr/bin/python3 cmd/driftwatch/testdata/baseline/make_expected.py

It writes, next to itself (fixed seed):

* ref.csv and ref.jsonl: the same 600 rows in two formats;
* other.csv: rows of the same columns with shifted distributions;
* expected.json: for ref.csv, computed by numpy from the parsed CSV values,
  never by driftwatch: per numeric column and bin count the inner edges
  (numpy.quantile at j/bins, default method, duplicates removed), the number
  of values per right-closed bin (numpy.searchsorted side="left"), n, mean,
  population variance, min and max; per categorical column the counts sorted
  by count descending then name. row_id (an identifier) is left out, as the
  import does with --exclude row_id.
"""
import csv
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BINS = [10, 7, 4]


def make(n, shift, rng):
    amount = np.round(rng.lognormal(3 + 0.4 * shift, 0.5, n), 2)
    age = np.round(rng.normal(40 + 5 * shift, 10, n)).astype(int)  # many ties
    score = np.round(rng.normal(0.2 * shift, 1, n), 4).astype(object)
    score[rng.random(n) < 0.1] = ""  # missing values
    level = rng.choice([1, 2, 3], n, p=[0.7, 0.2, 0.1])  # three values: duplicate edges
    country = rng.choice(["DE", "FR", "US", "GB", "BR", "IT"], n,
                         p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05] if shift == 0 else [0.1, 0.1, 0.4, 0.2, 0.1, 0.1])
    channel = rng.choice(["web", "app", "partner"], n, p=[0.5, 0.4, 0.1])
    row_id = np.array(["r%05d" % i for i in range(n)])
    return {"row_id": row_id, "amount": amount, "age": age, "score": score, "level": level,
            "country": country, "channel": channel}


def write_csv(path, cols):
    names = list(cols)
    n = len(cols[names[0]])
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for i in range(n):
            w.writerow([cols[c][i] for c in names])


def write_jsonl(path, cols):
    names = list(cols)
    n = len(cols[names[0]])
    with open(path, "w") as f:
        for i in range(n):
            obj = {}
            for c in names:
                v = cols[c][i]
                if v == "":
                    obj[c] = None
                elif isinstance(v, (np.integer,)):
                    obj[c] = int(v)
                elif isinstance(v, (float, np.floating)):
                    obj[c] = float(v)
                else:
                    obj[c] = str(v)
            f.write(json.dumps(obj) + "\n")


def expected(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {"rows": len(rows), "numeric": {}, "categorical": {}}
    for name in rows[0]:
        if name == "row_id":  # an identifier: imports leave it out with --exclude row_id
            continue
        vals = [r[name] for r in rows if r[name] != ""]
        try:
            x = np.array([float(v) for v in vals])
        except ValueError:
            counts = {}
            for v in vals:
                counts[v] = counts.get(v, 0) + 1
            order = sorted(counts, key=lambda k: (-counts[k], k))
            out["categorical"][name] = {"categories": order, "counts": [counts[k] for k in order], "n": len(vals)}
            continue
        col = {"n": int(x.size), "mean": float(np.mean(x)), "variance": float(np.var(x)),
               "min": float(np.min(x)), "max": float(np.max(x)), "bins": {}}
        for bins in BINS:
            q = np.quantile(x, [j / bins for j in range(1, bins)])
            edges = np.unique(q)
            idx = np.searchsorted(edges, x, side="left")
            counts = np.bincount(idx, minlength=edges.size + 1)
            col["bins"][str(bins)] = {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
        out["numeric"][name] = col
    return out


def main():
    rng = np.random.default_rng(20261201)
    ref = make(600, 0, rng)
    other = make(500, 1, rng)
    write_csv(os.path.join(HERE, "ref.csv"), ref)
    write_jsonl(os.path.join(HERE, "ref.jsonl"), ref)
    write_csv(os.path.join(HERE, "other.csv"), other)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected(os.path.join(HERE, "ref.csv")), f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()

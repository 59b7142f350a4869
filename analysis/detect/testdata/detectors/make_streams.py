#!/usr/bin/python3
"""Rebuild the input streams of River's drift-detector docstring examples.

Run with any CPython 3 (standard library only):

    /usr/bin/python3 analysis/detect/testdata/detectors/make_streams.py > analysis/detect/testdata/detectors/river_streams.json

Each stream is drawn exactly as the docstring in online-ml/river draws it, with a
fresh random.Random(12345) per example, so the values are bit-identical to the
ones River's doctests see. Floats are written with repr(), which round-trips
exactly through Go's strconv.ParseFloat.

The expected detection indices are copied from the docstrings, not computed
here: River itself cannot be installed in the build environment. Sources
(online-ml/river, main branch):
  river/drift/page_hinkley.py  "Change detected at index 1006, input value: 5"
  river/drift/adwin.py         "Change detected at index 1023, input value: 4"
  river/drift/cusum.py         "Change detected at index 201" and "... 251"
  river/drift/ewma.py          "Change detected at index 1010"
  river/drift/binary/ddm.py    "Warning detected at index 1084", "Change detected at
                               index 1334", "Warning detected at index 1492"
"""
import json
import random
import sys


def two_distributions():
    # page_hinkley.py and adwin.py
    rng = random.Random(12345)
    return rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)


def cusum_stream():
    # cusum.py
    rng = random.Random(12345)
    stable = [rng.gauss(0, 1) for _ in range(200)]
    shifted = [rng.gauss(3, 1) for _ in range(200)]
    return stable + shifted


def ewma_stream():
    # ewma.py
    rng = random.Random(12345)
    return [rng.gauss(0, 1) if i < 1000 else rng.gauss(3, 1) for i in range(2000)]


def ddm_stream():
    # binary/ddm.py (its own seed, 42)
    rng = random.Random(42)
    stream = rng.choices([0, 1], k=1000)
    return stream + rng.choices([0, 1], k=1000, weights=[0.3, 0.7])


def main():
    two = [float(v) for v in two_distributions()]
    out = {
        "python": sys.version.split()[0],
        "examples": [
            {
                "name": "PageHinkley",
                "source": "river/drift/page_hinkley.py",
                "config": "drift.PageHinkley()",
                "stream": two,
                "detections": [1006],
                "values": [5],
            },
            {
                "name": "ADWIN",
                "source": "river/drift/adwin.py",
                "config": "drift.ADWIN()",
                "stream": two,
                "detections": [1023],
                "values": [4],
            },
            {
                "name": "CUSUM",
                "source": "river/drift/cusum.py",
                "config": "drift.CUSUM()",
                "stream": cusum_stream(),
                "detections": [201, 251],
            },
            {
                "name": "EWMA",
                "source": "river/drift/ewma.py",
                "config": "drift.EWMA(alpha=0.1, threshold=4, min_instances=50)",
                "stream": ewma_stream(),
                "detections": [1010],
            },
            {
                "name": "DDM",
                "source": "river/drift/binary/ddm.py",
                "config": "drift.binary.DDM()",
                "stream": [float(v) for v in ddm_stream()],
                "detections": [1334],
                "warnings": [1084, 1492],
            },
        ],
    }
    # json.dumps writes floats with repr(), the shortest exact form.
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

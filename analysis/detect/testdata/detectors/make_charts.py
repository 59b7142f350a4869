#!/usr/bin/python3
"""Reference values for driftwatch's CUSUM and EWMA charts (package analysis/detect).

Run with Debian's python3 (numpy + scipy):

    /usr/bin/python3 analysis/detect/testdata/detectors/make_charts.py > analysis/detect/testdata/detectors/charts.json

Two kinds of values, none computed by driftwatch:

* "cases": small streams with the chart statistics written out step by step
  from the textbook recursions (Montgomery, Introduction to Statistical Quality
  Control, §9.1 tabular CUSUM and §9.2 EWMA), so every number can be checked by
  hand.
* "arl": average run lengths of the charts with known in-control N(0, 1)
  parameters, by the Markov-chain method (Brook & Evans 1972 for CUSUM; Lucas &
  Saccucci 1990 for EWMA, here also with time-varying limits by propagating the
  state distribution). The tests compare driftwatch's simulated run lengths
  with these and with the published table values.
"""
import json
import sys

import numpy as np
from scipy.stats import norm


def cusum_case(xs, mu0, sigma, k, h, min_instances=None):
    """Tabular CUSUM. With min_instances, mu0 and sigma (ddof=1) are estimated
    from the first min_instances values after each reset, the sums starting at
    the last of them. After an alarm the next value starts afresh (River)."""
    steps, warm, up, lo, alarm = [], [], 0.0, 0.0, False
    ref, sd = mu0, sigma
    for x in xs:
        if alarm:
            warm, up, lo, alarm = [], 0.0, 0.0, False
            ref, sd = mu0, sigma
        if min_instances is not None and len(warm) < min_instances:
            warm.append(x)
            if len(warm) < min_instances:
                steps.append({"upper": 0.0, "lower": 0.0, "alarm": False})
                continue
            ref, sd = float(np.mean(warm)), float(np.std(warm, ddof=1))
        K, H = k * sd, h * sd
        up = max(0.0, up + (x - ref) - K)
        lo = max(0.0, lo - (x - ref) - K)
        alarm = bool(up > H or lo > H)
        steps.append({"upper": up, "lower": lo, "alarm": alarm})
    return steps


def ewma_case(xs, mu0, sigma, lam, L):
    """Roberts' EWMA chart with known mu0 and sigma and time-varying limits;
    after an alarm the next value starts afresh (z = mu0, i = 1)."""
    steps, z, i, alarm = [], mu0, 0, False
    for x in xs:
        if alarm:
            z, i, alarm = mu0, 0, False
        i += 1
        z = lam * x + (1 - lam) * z
        half = L * sigma * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
        alarm = bool(abs(z - mu0) > half)
        steps.append({"z": z, "limit": float(half), "alarm": alarm})
    return steps


def ewma_estimated_case(xs, lam, L, min_instances):
    """River's EWMA: z1 = x1; the reference is the running mean and sigma^2
    the exponentially weighted variance E_w[x^2] - E_w[x]^2 (weight lam, both
    started at the first value), all including x."""
    steps, alarm, seen = [], False, []
    for x in xs:
        if alarm:
            seen, alarm = [], False
        seen.append(x)
        n = len(seen)
        z, m, sq = seen[0], seen[0], seen[0] ** 2
        for v in seen[1:]:
            z = lam * v + (1 - lam) * z
            m = lam * v + (1 - lam) * m
            sq = lam * v * v + (1 - lam) * sq
        if n < min_instances:
            steps.append({"z": z, "limit": 0.0, "alarm": False})
            continue
        sd = np.sqrt(max(sq - m * m, 0.0))
        half = L * sd * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * n)))
        alarm = bool(abs(z - np.mean(seen)) > half)
        steps.append({"z": z, "limit": float(half), "alarm": alarm})
    return steps


def cusum_arl_one_sided(k, h, shift, m=2000):
    """Brook & Evans: states are S in [0, h) split in m cells, S=0 its own state."""
    w = h / m
    # cell j (j>=1) covers ((j-0.5)w, (j+0.5)w), centre j*w; state 0 is S = 0
    centres = np.arange(m) * w
    P = np.zeros((m, m))
    for i, s in enumerate(centres):
        # S' = max(0, s + x - k) with x ~ N(shift, 1)
        P[i, 0] = norm.cdf(k - s + 0.5 * w - shift)
        lo = (np.arange(1, m) - 0.5) * w
        hi = (np.arange(1, m) + 0.5) * w
        P[i, 1:] = norm.cdf(hi + k - s - shift) - norm.cdf(lo + k - s - shift)
    arl = np.linalg.solve(np.eye(m) - P, np.ones(m))
    return float(arl[0])


def cusum_arl_two_sided(k, h, shift):
    up = cusum_arl_one_sided(k, h, shift)
    down = cusum_arl_one_sided(k, h, -shift)
    return 1.0 / (1.0 / up + 1.0 / down)


def ewma_arl(lam, L, shift, time_varying, m=801, max_steps=200000):
    """Markov chain on the chart statistic with cells of the widest limits."""
    sd_inf = np.sqrt(lam / (2 - lam))
    ucl = L * sd_inf
    w = 2 * ucl / m
    centres = -ucl + (np.arange(m) + 0.5) * w
    # z' = (1-lam) z + lam x, x ~ N(shift, 1)
    mean_next = (1 - lam) * centres[:, None] + lam * shift
    edges_lo = centres[None, :] - 0.5 * w
    edges_hi = centres[None, :] + 0.5 * w
    P = norm.cdf((edges_hi - mean_next) / lam) - norm.cdf((edges_lo - mean_next) / lam)
    if not time_varying:
        arl = np.linalg.solve(np.eye(m) - P, np.ones(m))
        return float(np.interp(0.0, centres, arl))
    p = np.zeros(m)
    p[np.argmin(np.abs(centres))] = 1.0  # z0 = mu0
    arl, i = 0.0, 0
    while i < max_steps:
        i += 1
        p = p @ P
        limit = L * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))
        p[np.abs(centres) > limit] = 0.0
        s = p.sum()
        arl += s  # P(RL > i)
        if s < 1e-12:
            break
    return 1.0 + arl


def main():
    xs = [10.5, 13.0, 9.0, 14.0, 15.5, 16.0, 12.0, 17.0, 6.0, 4.0, 3.5, 2.0]
    out = {
        "cases": {
            "cusum_known": {
                "mean": 10.0, "sigma": 2.0, "slack": 0.5, "threshold": 5.0,
                "stream": xs, "steps": cusum_case(xs, 10.0, 2.0, 0.5, 5.0),
            },
            "cusum_estimated": {
                "min_instances": 5, "slack": 0.5, "threshold": 5.0,
                "stream": xs, "steps": cusum_case(xs, 0.0, 0.0, 0.5, 5.0, min_instances=5),
            },
            "ewma_known": {
                "mean": 10.0, "sigma": 2.0, "alpha": 0.2, "threshold": 3.0,
                "stream": xs, "steps": ewma_case(xs, 10.0, 2.0, 0.2, 3.0),
            },
            "ewma_estimated": {
                "min_instances": 3, "alpha": 0.2, "threshold": 3.0,
                "stream": xs, "steps": ewma_estimated_case(xs, 0.2, 3.0, 3),
            },
        },
        "arl": {
            "cusum_k0.5_h5": {
                "arl0": cusum_arl_two_sided(0.5, 5.0, 0.0),
                "arl1_shift1": cusum_arl_two_sided(0.5, 5.0, 1.0),
            },
            "ewma_l0.2_L3": {
                "arl0_asymptotic_limits": ewma_arl(0.2, 3.0, 0.0, False),
                "arl0_time_varying_limits": ewma_arl(0.2, 3.0, 0.0, True),
                "arl1_shift1_time_varying_limits": ewma_arl(0.2, 3.0, 1.0, True),
            },
        },
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

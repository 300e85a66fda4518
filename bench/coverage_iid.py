"""How often today's 95% intervals hold on load-test-like series that are dependent in time (issue 13).

Synthetic series with a known truth, so coverage can be counted: latencies whose log follows an AR(1)
process (correlation time `tau` seconds at `rate` requests per second; tau 0 is independent), and errors
from a two-state Markov chain (bursts). For each case, `--reps` replications; each prints the share of
runs whose interval contains the truth, for the judge's current intervals (order-statistic p95,
Student-t mean, Wilson error rate, all assuming independent requests) beside a plain non-overlapping
batch-means interval over `--batches` batches (the reference the issue asks the new method to beat).

This is the baseline for issue 13: it measures the problem, it does not fix it.

    .venv/bin/python bench/coverage_iid.py --reps 300
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
from scipy import stats as scipy_stats

from reports.stats import mean_ci, percentile, percentile_ci, wilson_ci

Z95 = scipy_stats.norm.ppf(0.95)


def ar1_log_latency(rng: np.random.Generator, n: int, phi: float, mu: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) on the log scale with marginal N(mu, sigma^2): latencies in ms."""
    noise = rng.normal(0.0, sigma * math.sqrt(1 - phi**2), n)
    x = np.empty(n)
    x[0] = rng.normal(0.0, sigma)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + noise[i]
    return np.exp(mu + x)


def markov_errors(
    rng: np.random.Generator, n: int, p_bad: float, stay_bad: float
) -> tuple[np.ndarray, float]:
    """A two-state chain (good: no errors, bad: every request fails); the stationary share is the truth."""
    enter_bad = p_bad * (1 - stay_bad) / (1 - p_bad)
    bad = np.empty(n, dtype=bool)
    bad[0] = rng.random() < p_bad
    draws = rng.random(n)
    for i in range(1, n):
        bad[i] = draws[i] < (stay_bad if bad[i - 1] else enter_bad)
    return bad, p_bad


def batch_ci(values: np.ndarray, batches: int, statistic) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Non-overlapping batch means: the statistic per batch, a t interval over the batches."""
    per_batch = np.array([statistic(chunk) for chunk in np.array_split(values, batches)])
    half = scipy_stats.t.ppf(0.975, batches - 1) * per_batch.std(ddof=1) / math.sqrt(batches)
    centre = float(per_batch.mean())
    return centre - half, centre + half


def covered(interval: tuple[float, float] | None, truth: float) -> bool:
    return interval is not None and interval[0] <= truth <= interval[1]


def run_case(rng: np.random.Generator, tau_s: float, args: argparse.Namespace) -> dict[str, float]:
    n = int(args.rate * args.seconds)
    phi = 0.0 if tau_s == 0 else math.exp(-1.0 / (tau_s * args.rate))
    mu, sigma = math.log(50.0), 0.5
    true_p95 = math.exp(mu + Z95 * sigma)
    true_mean = math.exp(mu + sigma**2 / 2)
    hits = dict.fromkeys(("p95_iid", "p95_batch", "mean_iid", "mean_batch", "err_iid", "err_batch"), 0)
    stay_bad = 0.0 if tau_s == 0 else math.exp(-1.0 / (max(tau_s, 0.05) * args.rate))
    for _ in range(args.reps):
        latency = ar1_log_latency(rng, n, phi, mu, sigma)
        hits["p95_iid"] += covered(percentile_ci(latency, 0.95), true_p95)
        hits["p95_batch"] += covered(batch_ci(latency, args.batches, lambda c: percentile(c, 0.95)), true_p95)
        hits["mean_iid"] += covered(mean_ci(latency), true_mean)
        hits["mean_batch"] += covered(batch_ci(latency, args.batches, np.mean), true_mean)
        errors, truth = markov_errors(rng, n, 0.02, stay_bad) if tau_s else (rng.random(n) < 0.02, 0.02)
        hits["err_iid"] += covered(wilson_ci(int(errors.sum()), n), truth)
        hits["err_batch"] += covered(batch_ci(errors.astype(float), args.batches, np.mean), truth)
    return {name: count / args.reps for name, count in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each synthetic run")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--taus", type=float, nargs="+", default=[0.0, 1.0, 5.0, 20.0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    began = time.monotonic()
    rows = {f"tau {tau:g} s": run_case(rng, tau, args) for tau in args.taus}
    if args.json:
        print(json.dumps({"settings": vars(args), "coverage": rows}, indent=2))
        return
    names = list(next(iter(rows.values())))
    print(f"95% interval coverage, {args.reps} runs of {args.seconds:g} s at {args.rate:g} req/s per case")
    print(f"{'case':<12}" + "".join(f"{name:>12}" for name in names))
    for case, row in rows.items():
        print(f"{case:<12}" + "".join(f"{row[name]:>12.1%}" for name in names))
    print(f"({time.monotonic() - began:.0f} s; target 92-98% for every case)")


if __name__ == "__main__":
    main()

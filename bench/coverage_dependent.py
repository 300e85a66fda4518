"""How often the dependence-aware 95% intervals hold on time-dependent series (issue 13), beside the old ones.

The follow-up to `coverage_iid.py`: the same synthetic series with a known truth (log latency an AR(1)
process with correlation time `tau`, errors from a two-state Markov chain), now judged by the harness's
batch-means intervals (`reports.batching`) and, beside them, by the independence-assuming intervals of
`reports.stats` (order-statistic p95, Student-t mean, Wilson error rate, MOVER difference). Requests
arrive at `--rate` per second (times i / rate) and the window is the whole run, as the judge sees it.

Cases: latency p95 and mean (tau 0, 1, 5 s at 300 s, tau 20 s at 1200 s, two short windows); error
rate with bursts; a canary's paired p95 difference (both sides share one AR(1) state, truth 0); and the
`--until-decided` procedure (looks at doubling times, Bonferroni confidence per look, stop at the first
look whose p95 interval is wholly on one side of a threshold), whose old column is the same procedure at
95% per look with the order-statistic interval.

Each row: the new method's coverage among runs where it gave an interval, the share where it declined
(too few batches, or samples alike for longer than the window allows), the old method's coverage, and
the median effective sample size over n. Target 92-98%; rows outside are marked.

    .venv/bin/python bench/coverage_dependent.py                # 500 runs per case, a few minutes
    .venv/bin/python bench/coverage_dependent.py --quick        # 60 runs per case: a smoke run
    .venv/bin/python bench/coverage_dependent.py --only canary sequential --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

from reports.batching import Interval, mean_interval, paired_difference, quantile_interval, quantile_scores
from reports.sequential import look_confidence, look_times
from reports.stats import difference_ci, mean_ci, percentile, percentile_ci, wilson_ci

sys.path.insert(0, str(Path(__file__).resolve().parent))
from coverage_iid import Z95, markov_errors  # the baseline bench's generators

TARGET = (0.92, 0.98)
MU, SIGMA = math.log(50.0), 0.5
CANARY_SHARED, CANARY_NOISE = 0.4, 0.3  # log-scale sd of the shared state and of each request's own noise
GROUPS = ("latency", "errors", "canary", "sequential")
SEQUENTIAL_KEYS = ("new_early", "new_wrong", "old_early", "old_wrong")

Sample = tuple[bool | None, bool, float | None]  # new covered (None: declined), old covered, n_eff / n


def phi_of(tau_s: float, rate: float) -> float:
    """Lag-1 correlation between neighbouring requests for a correlation time of tau_s seconds."""
    return 0.0 if tau_s == 0 else math.exp(-1.0 / (tau_s * rate))


def ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) with marginal N(0, sigma^2); the draws of coverage_iid.ar1_log_latency, vectorised."""
    noise = rng.normal(0.0, sigma * math.sqrt(1 - phi**2), n)
    noise[0] = rng.normal(0.0, sigma)
    return signal.lfilter([1.0], [1.0, -phi], noise)


def bursty_errors(rng: np.random.Generator, n: int, p_bad: float, stay_bad: float) -> np.ndarray:
    """coverage_iid.markov_errors vectorised (same draws, same chain); its loop when stay_bad < entry."""
    enter_bad = p_bad * (1 - stay_bad) / (1 - p_bad)
    if stay_bad < enter_bad:
        return markov_errors(rng, n, p_bad, stay_bad)[0]
    first = rng.random() < p_bad
    draws = rng.random(n)
    draws[0] = 1.0  # unused by the chain: request 0 is `first`
    # each step either forces the state (both transitions agree) or keeps it (stay, no entry)
    forced = (draws < stay_bad) == (draws < enter_bad)
    last = np.maximum.accumulate(np.where(forced, np.arange(n), -1))
    last[0] = -1
    return np.where(last < 0, first, draws[np.maximum(last, 0)] < enter_bad)


def share(flags: list[bool]) -> float:
    return float(np.mean(flags)) if flags else math.nan


def covers(ci: tuple[float, float] | None, truth: float) -> bool:
    return ci is not None and ci[0] <= truth <= ci[1]


@dataclass(frozen=True)
class Case:
    """One row: a label and a function that runs one replication."""

    group: str
    label: str
    replicate: Callable[[np.random.Generator], dict[str, object]]


def summarise(samples: list[dict[str, object]]) -> dict[str, float]:
    """Coverage and decline shares over replications (new coverage among runs with an interval)."""
    new = [bool(s["new"]) for s in samples if s["new"] is not None]
    ratios = [float(s["ratio"]) for s in samples if s["ratio"] is not None]  # type: ignore[arg-type]
    row = {
        "new_coverage": share(new),
        "new_declined": 1 - len(new) / len(samples),
        "old_coverage": share([bool(s["old"]) for s in samples]),
        "n_eff_over_n": float(np.median(ratios)) if ratios else math.nan,
    }
    for key in SEQUENTIAL_KEYS:
        if key in samples[0]:
            row[key] = share([bool(s[key]) for s in samples])
    return row


def outcome(
    interval: Interval, n: int, truth: float, old_ci: tuple[float, float] | None
) -> dict[str, object]:
    ratio = None if interval.n_eff(n) is None else interval.n_eff(n) / n  # type: ignore[operator]
    new = None if interval.ci is None else covers(interval.ci, truth)
    return {"new": new, "old": covers(old_ci, truth), "ratio": ratio}


def latency_case(tau_s: float, seconds: float, statistic: str, rate: float, short: bool) -> Case:
    n = int(rate * seconds)
    times = np.arange(n) / rate
    phi = phi_of(tau_s, rate)
    truth = math.exp(MU + Z95 * SIGMA) if statistic == "p95" else math.exp(MU + SIGMA**2 / 2)

    def replicate(rng: np.random.Generator) -> dict[str, object]:
        latency = np.exp(MU + ar1(rng, n, phi, SIGMA))
        if statistic == "p95":
            iid = percentile_ci(latency, 0.95)
            interval = quantile_interval(times, latency, 0.95, (0.0, seconds), 0.95, iid)
        else:
            iid = mean_ci(latency)
            interval = mean_interval(times, latency, (0.0, seconds), 0.95, iid)
        return outcome(interval, n, truth, iid)

    label = f"{statistic:<4} tau {tau_s:>2g} s, {seconds:>4g} s" + (" (short window)" if short else "")
    return Case("latency", label, replicate)


def error_case(p_bad: float, burst_s: float, seconds: float, rate: float) -> Case:
    n = int(rate * seconds)
    times = np.arange(n) / rate
    stay_bad = 1 - 1 / (burst_s * rate) if burst_s else 0.0  # mean bad run: burst_s * rate requests

    def replicate(rng: np.random.Generator) -> dict[str, object]:
        bad = bursty_errors(rng, n, p_bad, stay_bad) if burst_s else rng.random(n) < p_bad
        flags = bad.astype(float)
        iid = wilson_ci(int(bad.sum()), n)
        interval = mean_interval(times, flags, (0.0, seconds), 0.95, iid, bounds=(0.0, 1.0))
        return outcome(interval, n, p_bad, iid)

    bursts = f"bursts {burst_s:g} s" if burst_s else "independent"
    return Case("errors", f"error rate {p_bad:.0%}, {bursts}, {seconds:>4g} s", replicate)


def canary_case(tau_s: float, seconds: float, rate: float) -> Case:
    """Requests alternate between the sides; both see one shared AR(1) state plus their own noise."""
    n = int(rate * seconds)
    times = np.arange(n) / rate
    phi = phi_of(tau_s, rate)
    new_side, old_side = slice(0, None, 2), slice(1, None, 2)

    def replicate(rng: np.random.Generator) -> dict[str, object]:
        latency = np.exp(MU + ar1(rng, n, phi, CANARY_SHARED) + rng.normal(0.0, CANARY_NOISE, n))
        new, old = latency[new_side], latency[old_side]
        value_new, value_old = percentile(new, 0.95), percentile(old, 0.95)
        iid = difference_ci(value_new, percentile_ci(new, 0.95), value_old, percentile_ci(old, 0.95))
        (_, scores_new), (_, scores_old) = quantile_scores(new, 0.95), quantile_scores(old, 0.95)
        interval = paired_difference(
            (times[new_side], scores_new), (times[old_side], scores_old),
            value_new - value_old, (0.0, seconds), 0.95,
        )  # fmt: skip
        return outcome(interval, min(len(new), len(old)), 0.0, iid)

    return Case("canary", f"p95 diff tau {tau_s:>2g} s, {seconds:>4g} s", replicate)


def sequential_case(tau_s: float, max_s: float, margin: float, rate: float) -> Case:
    """--until-decided on the p95: stop at the first look whose interval is wholly on one side."""
    looks = look_times(60.0, max_s)
    per_look = look_confidence(len(looks))
    n = int(rate * max_s)
    times = np.arange(n) / rate
    phi = phi_of(tau_s, rate)
    truth = math.exp(MU + Z95 * SIGMA)
    threshold = truth * margin  # the truth passes: an interval wholly above it is a wrong decision

    def procedure(latency: np.ndarray, new: bool) -> tuple[Interval | None, tuple[float, float] | None, int]:
        interval = None
        for at, look in enumerate(looks):
            m = int(rate * look)
            iid = percentile_ci(latency[:m], 0.95, per_look if new else 0.95)
            if new:
                interval = quantile_interval(times[:m], latency[:m], 0.95, (0.0, look), per_look, iid)
            ci = interval.ci if interval is not None else iid
            if at == len(looks) - 1 or (ci is not None and (ci[1] < threshold or ci[0] > threshold)):
                return interval, ci, at
        raise AssertionError("look_times gives at least one look")

    def replicate(rng: np.random.Generator) -> dict[str, object]:
        latency = np.exp(MU + ar1(rng, n, phi, SIGMA))
        interval, new_ci, new_at = procedure(latency, new=True)
        _, old_ci, old_at = procedure(latency, new=False)
        assert interval is not None
        m = int(rate * looks[new_at])
        row = outcome(interval, m, truth, old_ci)
        return row | {
            "new_early": new_at < len(looks) - 1,
            "new_wrong": new_ci is not None and new_ci[0] > threshold,
            "old_early": old_at < len(looks) - 1,
            "old_wrong": old_ci is not None and old_ci[0] > threshold,
        }

    label = f"p95 tau {tau_s:>2g} s, to {max_s:>4g} s, threshold truth x{margin:g}"
    return Case("sequential", label, replicate)


def cases(rate: float) -> list[Case]:
    out: list[Case] = []
    for statistic in ("p95", "mean"):
        for tau_s, seconds, short in ((0, 300, False), (1, 300, False), (5, 300, False), (20, 1200, False),
                                      (5, 120, True), (20, 300, True)):  # fmt: skip
            out.append(latency_case(tau_s, seconds, statistic, rate, short))
    for p_bad, burst_s, seconds in (
        (0.05, 0.0, 1200),
        (0.05, 0.5, 1200),
        (0.05, 2.0, 1200),
        (0.01, 0.0, 300),
    ):
        out.append(error_case(p_bad, burst_s, seconds, rate))
    for tau_s, seconds in ((0, 300), (1, 300), (5, 300), (20, 1200)):
        out.append(canary_case(tau_s, seconds, rate))
    for margin in (1.15, 1.02):
        for tau_s, max_s in ((0, 480), (1, 480), (5, 480), (20, 1200)):
            out.append(sequential_case(tau_s, max_s, margin, rate))
    return out


def cell(value: float, coverage: bool = False) -> str:
    """A share, 10 wide; coverages outside the target marked < or >."""
    if math.isnan(value):
        return f"{'-':>8}  "
    mark = ("<" if value < TARGET[0] else ">" if value > TARGET[1] else "") if coverage else ""
    return f"{value:>8.1%} {mark:<1}"


def format_row(row: dict[str, Any], extra: tuple[str, ...]) -> str:
    line = f"{row['case']:<52}" + cell(row["new_coverage"], True) + cell(row["new_declined"])
    line += cell(row["old_coverage"], True) + f"{row['n_eff_over_n']:>8.3f}  "
    return line + "".join(cell(row[key]) for key in extra)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=500, help="replications per case")
    parser.add_argument("--quick", action="store_true", help="60 replications per case: a smoke run")
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="case groups to run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reps = 60 if args.quick else args.reps
    began = time.monotonic()
    rows: list[dict[str, Any]] = []
    for number, case in enumerate(cases(args.rate)):
        if case.group not in args.only:
            continue
        rng = np.random.default_rng([args.seed, number])  # per case, so a subset reruns identically
        started = time.monotonic()
        samples = [case.replicate(rng) for _ in range(reps)]
        row = {"group": case.group, "case": case.label, **summarise(samples)}
        rows.append(row | {"seconds": round(time.monotonic() - started, 2)})
    elapsed = time.monotonic() - began
    if args.json:
        settings = vars(args) | {"reps": reps}
        print(
            json.dumps(
                {"settings": settings, "target": TARGET, "elapsed_s": elapsed, "cases": rows}, indent=2
            )
        )
        return
    print(f"95% interval coverage on dependent series, {reps} runs per case at {args.rate:g} req/s")
    for group in args.only:
        extra = SEQUENTIAL_KEYS if group == "sequential" else ()
        heads = ("new cov", "declined", "old cov", "neff/n", *(key.replace("_", " ") for key in extra))
        print(f"\n{group:<52}" + "".join(f"{head:>10}" for head in heads))
        for row in rows:
            if row["group"] == group:
                print(format_row(row, extra))
    se = math.sqrt(0.95 * 0.05 / reps)
    print(
        f"\ntarget {TARGET[0]:.0%}-{TARGET[1]:.0%} coverage (< below, > above); the Monte Carlo standard "
        f"error of a coverage near 95% over {reps} runs is {se:.1%}.\n"
        "new cov: among runs where the new method gave an interval; declined: share of runs with none; "
        "neff/n: median effective sample size over n (new method).\n"
        "sequential: coverage of the interval at the stopping look (new: Bonferroni confidence per look, "
        "old: 95% per look); early: stopped before the last look; wrong: interval wholly above the "
        "threshold (the truth passes); early and wrong are shares of all runs.\n"
        f"({elapsed:.0f} s)"
    )


if __name__ == "__main__":
    main()

"""Repeated-runs coverage of the load intervals on real runs (issue 13): old method beside new.

Runs `pavi-validate load` `--runs` times with identical settings against the local stand-in stack
(one stack, started once for all runs and stopped at the end), then for each load metric asks: how
often does a run's 95% interval contain the median of the OTHER runs' point estimates? A run's
interval that misses what its identical siblings measured claims more precision than it has.

Intervals come from the raw samples, not from the CLI's text: each run folder is read with
`reports.rundata.load_run_data` and measured with `reports.metrics.measure` on a gate mirroring
scenarios.yaml's (steady window). `measurement.ci` is the current ("new") method; the old,
independence-assuming interval is `measurement.facts["iid_ci"]` when the metrics give it, else it is
recomputed here from the steady-window samples with reports.stats (order-statistic p95, Student-t
mean, Wilson error rate; throughput had none).

For reference, `ideal` is the containment a perfectly calibrated interval would get in this design
(normal estimates, equal spread, reference = median of the N-1 others): below 95% (about 92% at N=8)
because the reference is itself noisy. With 8 runs a count is coarse: 8/8 and 6/8 are both plausible.

    .venv/bin/python bench/coverage_runs.py                       # 8 runs x 200 users x 60 s, ~11 min
    .venv/bin/python bench/coverage_runs.py --keep --runs-from ID1,ID2,...   # judge again, no new load
    .venv/bin/python bench/coverage_runs.py --keep                # judge again the runs in --out

Load goes only to a `kind: local` target (127.0.0.1). Writes a JSON summary to --out
(default /tmp/coverage_runs.json) and prints it after the table; the CLI's output of each run goes to
--log-dir.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.config import Gate, load_scenarios  # noqa: E402
from harness.runstore import open_run, runs_dir  # noqa: E402
from harness.units import parse_duration_s  # noqa: E402
from reports.metrics import failed_mask, in_window, load_window, measure  # noqa: E402
from reports.rundata import RunData, load_run_data  # noqa: E402
from reports.stats import mean_ci, percentile, percentile_ci, wilson_ci  # noqa: E402

# The judged load metrics, steady window as in scenarios.yaml's phase-2 / canary gates (the
# thresholds only make the gates valid; nothing here is judged against them).
GATES: dict[str, Gate] = {
    "p95_latency_ms": Gate(metric="load.latency_ms", stat="p95", below="500ms", window="steady"),
    "mean_latency_ms": Gate(metric="load.latency_ms", stat="mean", below="500ms", window="steady"),
    "error_rate": Gate(metric="load.error_rate", at_most="1%", window="steady"),
    "throughput_rps": Gate(metric="load.throughput_rps", at_least=1, window="steady"),
}
JUDGED_EXIT_CODES = {0, 1, 3, 4}  # pass, fail, invalid, inconclusive: the run was measured and judged
RUN_ID = re.compile(r"^run (\S+): ", re.MULTILINE)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "pavi-validate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def cli(args: list[str], log: Path | None = None, timeout_s: float = 120.0) -> tuple[int, str]:
    """Run the CLI from the project root in its own process group; (exit code, stdout+stderr)."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    process = subprocess.Popen(
        [*cli_command(), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)  # our own child's group only
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, _ = process.communicate()
        out += f"\n[coverage_runs: killed after {timeout_s:.0f} s]"
    except BaseException:  # Ctrl-C: interrupt the child the way a terminal would, then re-raise
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        raise
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ pavi-validate {' '.join(args)}\n{out}\n[exit {process.returncode}]\n")
    return process.returncode, out


def local_target(target_name: str) -> tuple[str, Any]:
    """The scenarios.yaml target, refused unless it is the local stack on 127.0.0.1."""
    scenarios = load_scenarios(ROOT / "scenarios.yaml")
    name, target = scenarios.target(target_name)
    api_url, web_url = target.urls()
    hosts = {urlsplit(api_url).hostname, urlsplit(web_url).hostname}
    if target.kind != "local" or not hosts <= LOOPBACK:
        raise SystemExit(f"refusing target {name!r}: load goes only to the local stack on 127.0.0.1")
    return name, target


def stack_state(name: str) -> Any:
    from harness import stack

    state = stack.read_state(name)
    if state is not None and stack.healthy(state.url):
        return state
    return None


def new_run_id(output: str, before: set[str]) -> str | None:
    """The run id the CLI printed, checked against the run store; else the one new load run folder."""
    root = runs_dir() if runs_dir().is_absolute() else ROOT / runs_dir()
    for match in RUN_ID.finditer(output):
        if (root / match.group(1) / "run.json").exists():
            return match.group(1)
    fresh = [p.name for p in root.iterdir() if p.name not in before and (p / "load").is_dir()]
    return fresh[0] if len(fresh) == 1 else None


def existing_runs() -> set[str]:
    root = runs_dir() if runs_dir().is_absolute() else ROOT / runs_dir()
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def do_runs(args: argparse.Namespace, notes: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """`--runs` identical load runs on one local stack; returns run ids and how each CLI call ended."""
    name, _ = local_target(args.target)
    log_dir = Path(args.log_dir)
    started_here = False
    ids: list[str] = []
    calls: list[dict[str, Any]] = []
    state = stack_state(name)
    if state is not None:
        active = {key: value for key, value in state.faults.items() if value}
        notes.append(
            f"reused the already running stack {name!r} (pid {state.pid}); left running at the end"
            + (f"; its faults: {active}" if active else "")
        )
    elif not args.fresh_stack:
        code, out = cli(["stack", "up", "--target", name], log_dir / "stack-up.log", timeout_s=180)
        state = stack_state(name)
        if code != 0 or state is None:
            raise SystemExit(f"`pavi-validate stack up --target {name}` failed (exit {code}):\n{out}")
        started_here = True
        print(f"stack {name!r} up at {state.url} (pid {state.pid})", flush=True)
    if state is not None and urlsplit(state.url).hostname not in LOOPBACK:
        raise SystemExit(f"refusing: stack {name!r} answers at {state.url}, not on 127.0.0.1")
    duration_s = parse_duration_s(args.duration)
    try:
        for number in range(1, args.runs + 1):
            if not args.fresh_stack and stack_state(name) is None:
                notes.append(f"the shared stack was down before run {number}: stopped there")
                print(notes[-1], flush=True)
                break
            before = existing_runs()
            began = time.monotonic()
            command = ["load", "--target", name, "--users", str(args.users), "--duration", args.duration]
            command += ["--gates", args.gates]
            code, out = cli(command, log_dir / f"run-{number}.log", timeout_s=duration_s + 600)
            seconds = time.monotonic() - began
            run_id = new_run_id(out, before)
            calls.append({"run": number, "id": run_id, "exit_code": code, "cli_wall_s": round(seconds, 1)})
            print(f"run {number}/{args.runs}: {run_id} exit {code} in {seconds:.0f} s", flush=True)
            if code not in JUDGED_EXIT_CODES:
                tail = "\n".join(out.strip().splitlines()[-6:])
                notes.append(f"run {number} ({run_id}): CLI exit {code}: {tail}")
                print(f"  {notes[-1]}", flush=True)
            if run_id is None or not (open_run(run_id).path / "load").is_dir():
                notes.append(f"run {number} recorded no load samples: stopped there")
                print(notes[-1], flush=True)
                break
            ids.append(run_id)
    finally:
        if started_here:
            code, out = cli(["stack", "down", "--name", name], log_dir / "stack-down.log")
            print(out.strip(), flush=True)
    return ids, calls


def _as_interval(value: Any) -> tuple[float, float] | None:
    """An interval stored as a pair, a JSON/tuple string or a {low, high} mapping."""
    if isinstance(value, str):
        try:
            value = json.loads(value.replace("(", "[").replace(")", "]"))
        except json.JSONDecodeError:
            return None
    if isinstance(value, dict):
        value = (value.get("low", value.get("lo")), value.get("high", value.get("hi")))
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    return None


def old_interval(key: str, gate: Gate, data: RunData) -> tuple[tuple[float, float] | None, float | None]:
    """The independence-assuming interval and point estimate, recomputed from the window's samples."""
    window = load_window(data, gate.window)
    if isinstance(window, str) or data.requests is None:
        return None, None
    rows = in_window(data.requests, "start", window)
    if not len(rows):
        return None, None
    latencies = rows["latency_ms"].to_numpy(dtype=float)
    if key == "p95_latency_ms":
        return percentile_ci(latencies, 0.95), percentile(latencies, 0.95)
    if key == "mean_latency_ms":
        return mean_ci(latencies), float(latencies.mean())
    if key == "error_rate":
        failures = int(failed_mask(rows).sum())
        return wilson_ci(failures, len(rows)), failures / len(rows)
    return None, len(rows) / (window.seconds or 1.0)  # throughput: the old method gave no interval


def judge_run(run_id: str) -> dict[str, Any]:
    """One run's estimates and intervals for every metric, read from its raw samples."""
    run = open_run(run_id)
    data = load_run_data(run)
    part = data.part("load")
    row: dict[str, Any] = {
        "id": run.id,
        "status": run.meta.get("status"),
        "started": run.meta.get("started"),
        "target_url": part.get("target_url"),
        "users": part.get("users"),
        "duration_s": part.get("duration_s"),
        "load_average_at_start": run.meta.get("host", {}).get("load_average"),
        "metrics": {},
    }
    if data.unreadable:
        row["unreadable_chunks"] = len(data.unreadable)
    if data.target is not None and len(data.target) and "pending" in data.target:
        jobs = data.target.sort_values("time")
        row["stack_jobs"] = {
            "pending_first": int(jobs["pending"].iloc[0]),
            "pending_last": int(jobs["pending"].iloc[-1]),
            "pending_max": int(jobs["pending"].max()),
            "completed_first": int(jobs["completed"].iloc[0]) if "completed" in jobs else None,
            "completed_last": int(jobs["completed"].iloc[-1]) if "completed" in jobs else None,
        }
    for key, gate in GATES.items():
        try:
            measured = measure(gate, data)
        except Exception as error:  # the metrics may be mid-change: record, go on
            row["metrics"][key] = {"error": f"{type(error).__name__}: {error}"}
            continue
        if measured is None:
            row["metrics"][key] = {"error": "no load part in this run"}
            continue
        facts = dict(measured.facts)
        recomputed, estimate_here = old_interval(key, gate, data)
        from_facts, source = _as_interval(facts.get("iid_ci")), "facts.iid_ci"
        if from_facts is None and "iid_ci_low" in facts:
            from_facts = _as_interval((facts.get("iid_ci_low"), facts.get("iid_ci_high")))
            source = "facts.iid_ci_low/high"
        entry: dict[str, Any] = {
            "estimate": measured.value,
            "old_ci": list(from_facts or recomputed) if (from_facts or recomputed) else None,
            "new_ci": list(measured.ci) if measured.ci else None,
            "old_ci_source": source if from_facts else "recomputed (reports.stats)",
            "n": measured.n,
            "n_eff": getattr(measured, "n_eff", None),
        }
        if from_facts and recomputed and not np.allclose(from_facts, recomputed, rtol=1e-9):
            entry["old_ci_recomputed"] = list(recomputed)
        value = measured.value
        if value is not None and estimate_here is not None and not math.isclose(value, estimate_here):
            entry["estimate_recomputed"] = estimate_here  # the window or statistic changed
        kept = ("empty_reason", "no_interval_reason", "window_s", "generator_cpu_max", "host_busy_p90")
        kept += ("failures", "batches", "batch_length", "batch_lag1", "trend_p")
        for fact in kept:
            if fact in facts:
                entry[fact] = facts[fact]
        row["metrics"][key] = entry
    return row


def ideal_containment(runs: int, reps: int = 100_000, seed: int = 13) -> float | None:
    """Containment of calibrated normal 95% intervals of equal width when the reference is the median
    of the other runs' estimates: the best this design can show."""
    if runs < 2:
        return None
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((reps, runs))
    hits = 0
    for i in range(runs):
        reference = np.median(np.delete(x, i, axis=1), axis=1)
        hits += int((np.abs(x[:, i] - reference) <= 1.959964).sum())
    return hits / (reps * runs)


def contains(interval: list[float] | None, value: float) -> bool | None:
    return None if interval is None else interval[0] <= value <= interval[1]


def coverage(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per metric: each run's reference (median of the others), containment counts, spreads."""
    summary: dict[str, Any] = {}
    for key in GATES:
        usable = [r for r in rows if r["metrics"].get(key, {}).get("estimate") is not None]
        estimates = np.array([r["metrics"][key]["estimate"] for r in usable], dtype=float)
        n = len(usable)
        result: dict[str, Any] = {"runs_with_estimate": n}
        if n >= 2:
            result["estimate_median"] = float(np.median(estimates))
            result["estimate_min"] = float(estimates.min())
            result["estimate_max"] = float(estimates.max())
            result["between_run_sd"] = float(estimates.std(ddof=1))
        for method in ("old", "new"):
            k = with_interval = 0
            half_widths = []
            for i, run in enumerate(usable):
                entry = run["metrics"][key]
                interval = entry[f"{method}_ci"]
                if n < 2:
                    continue
                reference = float(np.median(np.delete(estimates, i)))
                entry["reference_median_of_others"] = reference
                hit = contains(interval, reference)
                entry[f"{method}_contains"] = hit
                if hit is not None:
                    with_interval += 1
                    k += int(hit)
                    if math.isfinite(interval[1] - interval[0]):
                        half_widths.append((interval[1] - interval[0]) / 2)
            result[method] = f"{k} of {with_interval}" if with_interval else "no interval"
            result[f"{method}_k"] = k
            result[f"{method}_n"] = with_interval
            result[f"{method}_open_ended"] = with_interval - len(half_widths)  # an end at +-inf
            result[f"{method}_no_interval"] = n - with_interval if n >= 2 else n
            if half_widths:
                median_half = float(np.median(half_widths))
                result[f"{method}_median_half_width"] = median_half
                if n >= 2 and median_half > 0:
                    # > 1: runs differ by more than the intervals claim a run's estimate could
                    result[f"{method}_spread_ratio"] = result["between_run_sd"] / (median_half / 1.959964)
        summary[key] = result
    return summary


def _fmt(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    if key == "error_rate":
        return f"{value:.4%}"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"


def _ci(interval: list[float] | None, key: str) -> str:
    return "-" if interval is None else f"[{_fmt(interval[0], key)}, {_fmt(interval[1], key)}]"


def print_table(rows: list[dict[str, Any]], summary: dict[str, Any], ideal: float | None) -> None:
    for key in GATES:
        print(f"\n{key}")
        print(f"  {'run id':<24}{'estimate':>12}  {'old 95% CI':<26}{'new 95% CI':<26}{'ref':>10}  old new")
        for run in rows:
            entry = run["metrics"].get(key, {})
            if "error" in entry:
                print(f"  {run['id']:<24}  {entry['error']}")
                continue
            marks = [
                {True: "in", False: "OUT", None: "-"}[entry.get(f"{m}_contains")] for m in ("old", "new")
            ]
            estimate, reference = entry.get("estimate"), entry.get("reference_median_of_others")
            print(
                f"  {run['id']:<24}{_fmt(estimate, key):>12}  {_ci(entry.get('old_ci'), key):<26}"
                f"{_ci(entry.get('new_ci'), key):<26}{_fmt(reference, key):>10}  {marks[0]:<4}{marks[1]}"
            )
    print("\nrepeated-runs coverage: run's 95% interval contains the median of the other runs' estimates")
    heads = ("old", "new", "old ±(med)", "new ±(med)", "sd/se old", "new")
    widths = (10, 10, 13, 13, 11, 7)
    print(f"  {'metric':<17}" + "".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for key, result in summary.items():
        cells = [result["old"], result["new"]]
        cells += [_fmt(result.get(f"{m}_median_half_width"), key) for m in ("old", "new")]
        cells += [
            "-" if (r := result.get(f"{m}_spread_ratio")) is None else f"{r:.1f}" for m in ("old", "new")
        ]
        print(f"  {key:<17}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    for key, result in summary.items():
        for method in ("old", "new"):
            missing = result.get(f"{method}_no_interval")
            if missing and result[f"{method}_n"]:
                print(f"  {key} {method}: {missing} of {result['runs_with_estimate']} runs had no interval")
            if result.get(f"{method}_open_ended"):
                print(
                    f"  {key} {method}: {result[f'{method}_open_ended']} of {result[f'{method}_n']} "
                    "intervals open-ended (an end at inf), left out of ±(med) and sd/se"
                )
    if ideal is not None:
        print(f"  ideal for calibrated intervals in this design: {ideal:.1%} of each count")
    print("  sd/se: between-run sd of the estimates over the standard error the median interval implies")


def strict_json(value: Any) -> Any:
    """inf and nan (an interval with an open end) as strings: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=8, help="identical load runs (at least 3)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--duration", default="60s", help="each run's load time, e.g. 60s")
    parser.add_argument("--gates", default="phase-2", help="gate set the CLI judges each run with")
    parser.add_argument("--target", default="local", help="a kind: local target of scenarios.yaml")
    parser.add_argument("--keep", action="store_true", help="no new load: judge the runs of --runs-from")
    parser.add_argument("--runs-from", default="", help="comma-separated run ids (with --keep)")
    parser.add_argument(
        "--fresh-stack", action="store_true", help="let each CLI run start and stop its own stack"
    )
    parser.add_argument("--out", default="/tmp/coverage_runs.json")
    parser.add_argument("--log-dir", default="/tmp/coverage_runs_logs")
    args = parser.parse_args()
    try:
        parse_duration_s(args.duration)
    except ValueError as error:
        parser.error(f"--duration {args.duration!r}: {error}")
    if args.runs_from and not args.keep:
        parser.error("--runs-from reuses runs: give --keep with it")
    if not args.keep and args.runs < 3:
        parser.error("--runs: at least 3 (the reference is the median of the others)")

    os.chdir(ROOT)  # the harness's run store and data dir are relative to the project root
    began = time.monotonic()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    notes: list[str] = []
    calls: list[dict[str, Any]] = []
    if args.keep:
        ids = [i.strip() for i in args.runs_from.split(",") if i.strip()]
        previous = Path(args.out)
        earlier = json.loads(previous.read_text()) if previous.is_file() else {}
        if not ids:
            if not earlier:
                parser.error(f"--keep without --runs-from reads the run ids of {previous}, which is missing")
            ids = earlier["run_ids"]
            notes.append(f"run ids from {previous}")
        # how the CLI runs ended, from the summary that made them (a rejudge cannot know)
        calls = [call for call in earlier.get("cli_calls", []) if call.get("id") in ids]
    else:
        ids, calls = do_runs(args, notes)

    rows = []
    for run_id in ids:
        row = judge_run(run_id)
        url = row.get("target_url")
        if url and urlsplit(str(url)).hostname not in LOOPBACK:
            notes.append(f"run {run_id} was not a local-stack run ({url})")
        rows.append(row)
    for call in calls:
        for row in rows:
            if row["id"] == call["id"]:
                row["cli_exit_code"], row["cli_wall_s"] = call["exit_code"], call["cli_wall_s"]
    settings = {(r.get("users"), r.get("duration_s")) for r in rows}
    if len(settings) > 1:
        notes.append(f"the runs differ in (users, duration_s): {sorted(settings, key=str)}")
    summary = coverage(rows)
    ideal = ideal_containment(len(rows))
    new_active = any(
        str(r["metrics"].get(k, {}).get("old_ci_source")).startswith("facts") for r in rows for k in GATES
    )
    if not new_active:
        notes.append(
            "no measurement carried facts.iid_ci: the metrics still give the old intervals, so new == old "
            "(old recomputed independently here as a cross-check)"
        )
    result = {
        "bench": "coverage_runs",
        "started": started,
        "wall_s": round(time.monotonic() - began, 1),
        "settings": {k: v for k, v in vars(args).items()},
        "run_ids": ids,
        "runs_from": ",".join(ids),
        "new_method_in_metrics": new_active,
        "ideal_containment": ideal,
        "metrics": summary,
        "runs": rows,
        "cli_calls": calls,
        "notes": notes,
    }
    print_table(rows, summary, ideal)
    print(f"\nrun ids (rerun the judging: --keep --runs-from {result['runs_from']})")
    for note in notes:
        print(f"note: {note}")
    print(f"wall time {result['wall_s']:.0f} s")
    text = json.dumps(strict_json(result), indent=2, default=str, allow_nan=False)
    Path(args.out).write_text(text + "\n")
    print(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

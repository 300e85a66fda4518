"""Figures for the report: PNG bytes computed from a run's raw samples, never from Locust's summaries.

Every figure is drawn on its own `Figure` with an Agg canvas (no pyplot, so no global state and no
display needed) and binned with pandas before plotting, so a million requests cost about as much as a
thousand. Parts add figures with `@figure(name, part=...)`: the registry keeps display order and says
which report section a figure belongs to.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reports.judge import TrustRules
from reports.metrics import Window, failed_mask, load_window, running_streak
from reports.model import GateResult
from reports.rundata import RunData

BIN_S = 5.0
WIDTH_IN = 9.0
DPI = 100
MAX_ENDPOINT_LINES = 8  # more lines than this is a legend nobody can read

Draw = Callable[[RunData, Figure], bool]  # draws into the figure; False when there is nothing to show


@dataclass(frozen=True)
class FigureSpec:
    name: str
    part: str
    height_in: float
    draw: Draw


FIGURES: list[FigureSpec] = []


def figure(name: str, part: str, height_in: float = 4.0) -> Callable[[Draw], Draw]:
    """Register a figure; registration order is display order."""

    def register(draw: Draw) -> Draw:
        FIGURES.append(FigureSpec(name, part, height_in, draw))
        return draw

    return register


def part_of(name: str) -> str:
    """The report section a figure belongs to ("other" for a name no part registered)."""
    return next((spec.part for spec in FIGURES if spec.name == name), "other")


def figures_for(data: RunData) -> dict[str, bytes]:
    """Name -> PNG for every registered figure whose data exists, in display order."""
    out: dict[str, bytes] = {}
    for spec in FIGURES:
        fig = Figure(figsize=(WIDTH_IN, spec.height_in), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        try:
            if spec.draw(data, fig):
                out[spec.name] = _png(fig)
        finally:
            fig.clear()
    return out


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


# ---------------------------------------------------------------- shared helpers


def _requests(data: RunData) -> pd.DataFrame | None:
    frame = data.requests
    return frame if frame is not None and len(frame) else None


def _origin(data: RunData) -> float:
    """Time zero of every axis: the load test's start, so figures and windows line up."""
    window = load_window(data, "whole")
    if isinstance(window, Window):
        return window.start
    starts = [
        float(frame["time"].min())
        for frame in (data.host, data.target)
        if frame is not None and len(frame) and "time" in frame
    ]
    return min(starts) if starts else 0.0


def _bins(seconds: pd.Series | np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(seconds, dtype=float) / BIN_S).astype(np.int64)


def _bin_centres(index: pd.Index) -> np.ndarray:
    return (np.asarray(index, dtype=float) + 0.5) * BIN_S


def _shade_steady(ax: Axes, data: RunData, origin: float) -> None:
    window = load_window(data, "steady")
    if isinstance(window, Window):
        ax.axvspan(
            window.start - origin,
            window.end - origin,
            color="#2b8a3e",
            alpha=0.08,
            lw=0,
            label="steady window",
        )


def _style(ax: Axes, ylabel: str) -> None:
    ax.set_xlabel(f"seconds since the load test started ({BIN_S:g} s bins)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)


def _legend_below(fig: Figure, *axes: Axes) -> None:
    """One legend under the plot: inside it would hide the lines it explains."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)  # the steady window is shaded on every axis: list it once
    if entries:
        fig.legend(
            list(entries.values()),
            list(entries),
            loc="outside lower center",
            ncols=min(4, len(entries)),
            fontsize="small",
            frameon=False,
        )


def _finite(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce") if column in frame else pd.Series(dtype=float)


# ---------------------------------------------------------------- load


@figure("Latency percentiles over time", part="load")
def _latency_percentiles(data: RunData, fig: Figure) -> bool:
    requests = _requests(data)
    if requests is None:
        return False
    origin = _origin(data)
    bins = _bins(requests["start"].to_numpy(dtype=float) - origin)
    table = requests["latency_ms"].groupby(bins).quantile([0.5, 0.95, 0.99]).unstack()
    ax = fig.add_subplot()
    _shade_steady(ax, data, origin)
    x = _bin_centres(table.index)
    for q, colour in ((0.5, "#1c7ed6"), (0.95, "#f08c00"), (0.99, "#e03131")):
        ax.plot(x, table[q].to_numpy(), color=colour, lw=1.6, label=f"p{round(q * 100)}")
    ax.set_ylim(bottom=0)
    _style(ax, "latency (ms)")
    _legend_below(fig, ax)
    ax.set_title("Latency percentiles per bin (all requests)")
    return True


@figure("Throughput and errors over time", part="load")
def _throughput(data: RunData, fig: Figure) -> bool:
    requests = _requests(data)
    if requests is None:
        return False
    origin = _origin(data)
    elapsed = requests["start"].to_numpy(dtype=float) - origin
    bins = _bins(elapsed)
    failed = failed_mask(requests).to_numpy()
    full = pd.RangeIndex(int(bins.min()), int(bins.max()) + 1)  # empty bins are 0/s, not gaps
    total = pd.Series(1, index=bins).groupby(level=0).size().reindex(full, fill_value=0)
    errors = pd.Series(failed.astype(int), index=bins).groupby(level=0).sum().reindex(full, fill_value=0)
    # the last bin is usually partial: divide by the seconds it covers, or the rate seems to drop
    starts = np.asarray(full, dtype=float) * BIN_S
    seconds = np.clip(float(elapsed.max()) - starts, 1e-9, BIN_S)
    seconds[:-1] = BIN_S
    ax = fig.add_subplot()
    _shade_steady(ax, data, origin)
    x = _bin_centres(full)
    ax.plot(x, total.to_numpy() / seconds, color="#1c7ed6", lw=1.6, label="requests/s")
    ax.plot(x, errors.to_numpy() / seconds, color="#e03131", lw=1.6, label="failed requests/s")
    ax.set_ylim(bottom=0)
    _style(ax, "per second")
    _legend_below(fig, ax)
    ax.set_title("Throughput and failed requests (status >= 400, no answer, or an error)")
    return True


@figure("Latency histogram", part="load")
def _histogram(data: RunData, fig: Figure) -> bool:
    requests = _requests(data)
    if requests is None:
        return False
    latency = requests["latency_ms"].to_numpy(dtype=float)
    ok = np.isfinite(latency) & (latency > 0)
    latency = latency[ok]
    if not len(latency):
        return False
    failed = failed_mask(requests).to_numpy()[ok]
    low, high = float(latency.min()), float(latency.max())
    edges = np.logspace(np.log10(low), np.log10(high * 1.0001 if high > low else low * 10), 60)
    ax = fig.add_subplot()
    # failures are usually few: an outline on top stays visible where a filled area would vanish
    for mask, label, colour, fill in (
        (~failed, "succeeded", "#1c7ed6", True),
        (failed, "failed", "#e03131", False),
    ):
        if mask.any():
            counts, _ = np.histogram(latency[mask], bins=edges)
            ax.stairs(
                counts,
                edges,
                fill=fill,
                alpha=0.55 if fill else 1.0,
                lw=1.4,
                color=colour,
                label=f"{label} (n={mask.sum():,})",
            )
    for q, style in ((0.5, ":"), (0.95, "--"), (0.99, "-.")):
        value = float(np.quantile(latency, q))
        ax.axvline(value, color="#343a40", ls=style, lw=1, label=f"p{round(q * 100)} {value:,.1f} ms")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("requests")
    ax.grid(True, alpha=0.3, which="both")
    _legend_below(fig, ax)
    ax.set_title("Latency distribution, whole run")
    return True


def _top_names(requests: pd.DataFrame) -> list[str]:
    counts = requests["name"].value_counts()
    counts = counts[counts > 0]  # a category no row has any more
    return [str(name) for name in counts.index[:MAX_ENDPOINT_LINES]]


def endpoint_p95(requests: pd.DataFrame, origin: float) -> dict[str, pd.Series]:
    """p95 latency per bin of each of the busiest request names (bin index -> ms), busiest first.

    Grouped on one integer key (name code x bin), never on a column of 10 M name strings: five times
    faster than grouping on two keys, the same numbers.
    """
    names = _top_names(requests)
    chosen = requests["name"].isin(names).to_numpy()
    codes, labels = pd.factorize(requests["name"][chosen])  # categories when rundata read them: cheap
    bins = _bins(requests["start"].to_numpy(dtype=float)[chosen] - origin)
    if not len(bins):
        return {}
    first, span = int(bins.min()), int(bins.max() - bins.min()) + 1
    key = codes.astype(np.int64) * span + (bins - first)
    latency = pd.Series(requests["latency_ms"].to_numpy(dtype=float)[chosen])
    p95 = latency.groupby(key).quantile(0.95)
    keys = p95.index.to_numpy()
    lines = {}
    for code, label in enumerate(labels):
        mine = keys // span == code
        if mine.any():
            lines[str(label)] = pd.Series(p95.to_numpy()[mine], index=keys[mine] % span + first)
    return {name: lines[name] for name in names if name in lines}


@figure("Latency by endpoint over time against jobs in flight", part="load", height_in=4.8)
def _endpoints_vs_queue(data: RunData, fig: Figure) -> bool:
    return bool(_queue_lines(data)) and _endpoints(data, fig)


@figure("Latency by endpoint over time", part="load", height_in=4.8)
def _endpoints_alone(data: RunData, fig: Figure) -> bool:
    """The same chart where the target reported no job counts (a remote target): titled for what it shows."""
    return not _queue_lines(data) and _endpoints(data, fig)


def _endpoints(data: RunData, fig: Figure) -> bool:
    requests = _requests(data)
    if requests is None:
        return False
    origin = _origin(data)
    lines = endpoint_p95(requests, origin)
    ax = fig.add_subplot()
    _shade_steady(ax, data, origin)
    for name, series in lines.items():
        ax.plot(_bin_centres(series.index), series.to_numpy(), lw=1.3, label=_short(name))
    p95 = pd.concat(lines.values()) if lines else pd.Series(dtype=float)
    positive = p95[p95 > 0]
    if len(positive) and positive.max() / positive.min() > 50:  # one slow endpoint would flatten the rest
        ax.set_yscale("log")
    _style(ax, "p95 latency (ms)")
    queue = _draw_queue(ax, data, origin)
    _legend_below(fig, ax, *([queue] if queue else []))
    ax.set_title("p95 latency per endpoint" + (" vs. pipeline jobs in flight" if queue else ""))
    return True


def _short(name: str, limit: int = 48) -> str:
    flat = " ".join(name.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _queue_lines(data: RunData) -> dict[str, pd.Series]:
    """Label -> job counts the target reported; empty without target.parquet or its queue columns."""
    target = data.target
    if target is None or not len(target) or "time" not in target:
        return {}
    lines = {
        label: _finite(target, column)
        for column, label in (("in_flight", "jobs in flight"), ("pending", "jobs pending"))
    }
    return {label: values for label, values in lines.items() if values.notna().any()}


def _draw_queue(ax: Axes, data: RunData, origin: float) -> Axes | None:
    """Jobs in flight and pending on a twin axis: where latency turns up with the queue, it shows."""
    lines = _queue_lines(data)
    if not lines or data.target is None:
        return None
    twin = ax.twinx()
    elapsed = data.target["time"].to_numpy(dtype=float) - origin
    for (label, values), style in zip(lines.items(), ("-", "--"), strict=False):
        twin.plot(elapsed, values.to_numpy(), color="#495057", ls=style, lw=1.2, label=label)
    twin.set_ylabel("pipeline jobs")
    twin.set_ylim(bottom=0)
    return twin


@figure("Load generator and host CPU", part="load", height_in=5.4)
def _cpu(data: RunData, fig: Figure) -> bool:
    host = data.host
    if host is None or not len(host):
        return False
    origin = _origin(data)
    rules = TrustRules()
    generators, machine = fig.subplots(2, 1, sharex=True)
    processes = host[host["process"] != "host"]
    for name, rows in processes.groupby("process", sort=True):
        generators.plot(
            rows["time"].to_numpy(dtype=float) - origin, _finite(rows, "cpu") * 100, lw=1.2, label=str(name)
        )
    generators.axhline(
        rules.generator_cpu_max * 100, color="#e03131", ls="--", lw=1, label="generator trust limit"
    )
    generators.set_ylabel("% of one core")
    generators.set_title("Load generator processes (a saturated generator makes latencies untrustworthy)")
    rows = host[host["process"] == "host"]
    elapsed = rows["time"].to_numpy(dtype=float) - origin
    machine.plot(elapsed, _finite(rows, "cpu") * 100, color="#343a40", lw=1.2, label="host busy")
    if _finite(rows, "cpu_unniced").notna().any():
        machine.plot(
            elapsed,
            _finite(rows, "cpu_unniced") * 100,
            color="#f08c00",
            lw=1.2,
            label="host busy, un-niced (without the niced pipeline)",
        )
    machine.axhline(rules.host_busy_max * 100, color="#e03131", ls="--", lw=1, label="host trust limit")
    machine.set_ylabel("% of all cores")
    machine.set_title("Host")
    for ax in (generators, machine):
        _shade_steady(ax, data, origin)
        ax.set_ylim(0, max(105.0, ax.dataLim.y1 * 1.05))
        ax.grid(True, alpha=0.3)
        ax.set_xlim(left=0)
    _legend_below(fig, generators, machine)
    machine.set_xlabel("seconds since the load test started")
    return True


# ---------------------------------------------------------------- browser


def _frames(data: RunData) -> pd.DataFrame | None:
    frame = data.frames
    return frame if frame is not None and len(frame) else None


@figure("Frame-time histogram per interaction", part="browser")
def _frame_histogram(data: RunData, fig: Figure) -> bool:
    frames = _frames(data)
    if frames is None:
        return False
    ax = fig.add_subplot()
    longest = max(float(frames["frame_ms"].max()), 50.0)
    bins = np.geomspace(5.0, longest * 1.1, 60)
    for name, group in frames.groupby("interaction", sort=True):
        ax.hist(group["frame_ms"].clip(lower=5.0), bins=bins, histtype="step", linewidth=1.5, label=str(name))
    for limit, label in ((16.7, "60 Hz"), (25.0, "25 ms"), (33.4, "33.4 ms")):
        ax.axvline(limit, color="grey", linestyle=":", linewidth=1)
        ax.text(
            limit, 1.0, f" {label}", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="grey"
        )
    ax.set_xscale("log")
    ax.set_xlabel("frame time (ms, log scale)")
    ax.set_ylabel("frames")
    ax.grid(True, alpha=0.3)
    _legend_below(fig, ax)
    return True


@figure("Frame times over time per interaction", part="browser", height_in=5.0)
def _frames_over_time(data: RunData, fig: Figure) -> bool:
    frames = _frames(data)
    if frames is None:
        return False
    names = sorted(frames["interaction"].unique())
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=True):
        group = frames[frames["interaction"] == name]
        for repeat, rows in group.groupby("repeat"):
            ax.plot(rows["t_ms"] / 1000, rows["frame_ms"], linewidth=0.8, label=f"repeat {repeat}")
        redraws = group[group["redraw"]]
        ax.scatter(redraws["t_ms"] / 1000, redraws["frame_ms"], s=6, color="black", zorder=3, label="redraw")
        ax.axhline(16.7, color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_ylabel(f"{name}\nms", fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("seconds since the interaction started")
    _legend_below(fig, axes[0])
    return True


# ---------------------------------------------------------------- pipeline


def _jobs(data: RunData) -> pd.DataFrame | None:
    jobs = data.jobs
    return jobs.sort_values("seq") if jobs is not None and len(jobs) else None


@figure("Pipeline duration per job, failures marked", part="pipeline")
def _job_durations(data: RunData, fig: Figure) -> bool:
    jobs = _jobs(data)
    if jobs is None:
        return False
    ax = fig.add_subplot()
    ok = jobs["success"].astype(bool)
    ax.plot(jobs["seq"], jobs["duration_s"], color="#4c72b0", linewidth=1, label="duration")
    ax.scatter(jobs.loc[~ok, "seq"], jobs.loc[~ok, "duration_s"].fillna(0), color="#c44e52", marker="x", s=50,
               zorder=3, label="failed job")  # fmt: skip
    ax.set_xlabel("job (in the order run)")
    ax.set_ylabel("submit to completion (s)")
    ax.grid(True, alpha=0.3)
    _legend_below(fig, ax)
    return True


STAGES = ("seq_retrieval", "alignment", "seq_info", "callback")


@figure("Pipeline time per stage", part="pipeline")
def _job_stages(data: RunData, fig: Figure) -> bool:
    jobs = _jobs(data)
    columns = [f"stage_{stage}_s" for stage in STAGES]
    if jobs is None or not any(c in jobs and jobs[c].notna().any() for c in columns):
        return False
    ax = fig.add_subplot()
    bottom = np.zeros(len(jobs))
    for stage, column in zip(STAGES, columns, strict=True):
        if column in jobs and jobs[column].notna().any():
            values = jobs[column].fillna(0).to_numpy(dtype=float)
            ax.bar(jobs["seq"], values, bottom=bottom, width=0.9, label=stage)
            bottom += values
    ax.set_xlabel("job (in the order run)")
    ax.set_ylabel("seconds")
    ax.grid(True, axis="y", alpha=0.3)
    _legend_below(fig, ax)
    return True


@figure("Pipeline success streak", part="pipeline", height_in=3.0)
def _job_streak(data: RunData, fig: Figure) -> bool:
    jobs = _jobs(data)
    if jobs is None:
        return False
    ax = fig.add_subplot()
    ax.step(jobs["seq"], running_streak(jobs["success"]), where="post", color="#55a868")
    ax.set_xlabel("job (in the order run)")
    ax.set_ylabel("successes in a row")
    ax.grid(True, alpha=0.3)
    return True


# ---------------------------------------------------------------- per-gate batches

BATCH_PREFIX = "batches: "  # report.figures key of a gate's batch plot, shown by its gate, not in a part
BATCH_SIZE_IN = (3.2, 1.6)
ABSOLUTE_KINDS = ("below", "at_most", "above", "at_least")  # a relative gate has no line to draw
_SHOWN_AS = {"ratio": (100.0, "%"), "per_s": (1.0, "/s"), "usd": (1.0, "$"), "count": (1.0, "")}
_AXIS_LABELS = {"s": "s into the window", "job": "job"}


def batch_figure_name(gate_name: str) -> str:
    return BATCH_PREFIX + gate_name


def batch_caption(result: GateResult) -> str:
    """What the small plot shows, in words (the plot itself has no room for a legend)."""
    series = result.measurement.series if result.measurement else None
    if series is None:
        return ""
    unit = "s" if series.axis == "s" else "jobs"
    line = "; dashed: threshold" if result.gate.comparison[0] in ABSOLUTE_KINDS else ""
    band = "band: interval" if result.measurement and result.measurement.ci else "no trustworthy interval"
    return f"{result.gate.statistic} per batch of {series.length:g} {unit}; {band}{line}"


def batch_plot(result: GateResult) -> bytes | None:
    """The judged statistic batch by batch against the threshold and the interval, so a wide
    interval reads as batches that wander or trend; None when there is no series to draw."""
    m = result.measurement
    series = m.series if m is not None else None
    if m is None or series is None:
        return None
    scale, unit = _SHOWN_AS.get(m.unit, (1.0, m.unit))
    values = np.asarray(series.values, dtype=float) * scale
    if not np.isfinite(values).any():
        return None
    starts = np.asarray(series.starts, dtype=float)
    kind, threshold = result.gate.comparison
    line = threshold * scale if kind in ABSOLUTE_KINDS else math.nan
    estimate = m.value * scale if isinstance(m.value, int | float) else math.nan
    low, high = (math.nan if b is None else float(b) * scale for b in (m.ci or (None, None)))
    shown = [*values[np.isfinite(values)], *(v for v in (line, estimate, low, high) if math.isfinite(v))]
    bottom, top = min(shown), max(shown)
    pad = (top - bottom) * 0.1 or abs(top) * 0.1 or 1.0
    bottom, top = (max(bottom - pad, 0.0) if bottom >= 0 else bottom - pad), top + pad
    fig = Figure(figsize=BATCH_SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    try:
        ax = fig.add_subplot()
        if not (math.isnan(low) or math.isnan(high)):  # an infinite end is clipped to the axis
            ax.axhspan(max(low, bottom), min(high, top), color="#1c7ed6", alpha=0.15, lw=0)
        if math.isfinite(estimate):
            ax.axhline(estimate, color="#1c7ed6", lw=0.8, alpha=0.6)
        if math.isfinite(line):
            ax.axhline(line, color="#e03131", ls="--", lw=1)
        ax.plot(starts + series.length / 2, values, color="#1c7ed6", marker="o", ms=2.5, lw=0.8)
        ax.set_ylim(bottom, top)
        if len(starts):
            ax.set_xlim(float(starts[0]), float(starts[-1]) + series.length)
        ax.set_xlabel(_AXIS_LABELS.get(series.axis, series.axis), fontsize=7)
        ax.set_ylabel(f"{m.stat} ({unit})" if unit else m.stat, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(True, alpha=0.3)
        return _png(fig)
    finally:
        fig.clear()


def batch_figures(results: Iterable[GateResult]) -> dict[str, bytes]:
    """`batch_figure_name(gate)` -> PNG for every gate whose measurement has a batch series."""
    return {batch_figure_name(r.name): png for r in results if (png := batch_plot(r)) is not None}

"""Against a target whose latency wanders in time (the stand-in's latency fault moved every 0.4 s by a
random walk), the p95's reported interval is at least about as wide as a plain batch-means interval
computed from the same raw samples, and far wider than the interval that assumes independence."""

from __future__ import annotations

import math
import random
import threading

import numpy as np
import pytest
from scipy import stats as sps

from harness.config import Gate, LoadWorkload
from harness.runstore import create_run
from loadtests.runner import run_load
from reports.metrics import in_window, load_window, measure
from reports.rundata import load_run_data

pytestmark = pytest.mark.e2e

WORKLOAD = LoadWorkload(users=20, spawn_rate=20, duration="20s", settle="1s", think_time=("20ms", "60ms"))
GATE = Gate(metric="load.latency_ms", stat="p95", below="1s", window="steady")
LEVELS_MS = [0, 5, 10, 20, 40, 80]


def _wander(pavi, stop: threading.Event) -> None:
    """A bounded random walk over latency levels, one step every 0.4 s, until stopped."""
    rng, level = random.Random(7), 2
    while not stop.wait(0.4):
        level = min(len(LEVELS_MS) - 1, max(0, level + rng.choice((-1, 0, 1))))
        pavi.faults(latency_ms=LEVELS_MS[level])


def test_a_wandering_target_gets_an_interval_as_wide_as_batch_means(pavi, tmp_path) -> None:
    run = create_run("local", None, root=tmp_path / "runs")
    run.record_part("load", settle_s=WORKLOAD.settle)
    stop = threading.Event()
    walker = threading.Thread(target=_wander, args=(pavi, stop), daemon=True)
    walker.start()
    try:
        run_load(run, pavi.url, WORKLOAD, show_progress=False, seed_jobs=1)
    finally:
        stop.set()
        walker.join(timeout=5)
    run.finish()
    data = load_run_data(run)
    measured = measure(GATE, data)
    assert measured is not None and measured.value is not None
    window = load_window(data, "steady")
    assert not isinstance(window, str)
    rows = in_window(data.requests, "start", window).sort_values("start")
    latencies = rows["latency_ms"].to_numpy(dtype=float)
    per_batch = [np.quantile(chunk, 0.95) for chunk in np.array_split(latencies, 10)]
    batch_means = 2 * sps.t.ppf(0.975, 9) * np.std(per_batch, ddof=1) / math.sqrt(10)
    iid = (measured.facts["iid_ci_low"], measured.facts["iid_ci_high"])
    if measured.ci is None:  # too alike for the window: no interval at all, which is wider still
        assert "no_interval_reason" in measured.facts
        return
    width = measured.ci[1] - measured.ci[0]
    # 10 batches: the reference's own width is uncertain by about 25%
    assert width >= 0.5 * batch_means, (measured.ci, batch_means, per_batch)
    assert width > 2 * (iid[1] - iid[0])  # type: ignore[operator]
    assert measured.n_eff is not None and measured.n_eff < measured.n / 3

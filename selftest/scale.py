"""How big each self-test measurement is: `ci` (small, about three minutes on two cores) or `full`.

Only workloads shrink; gates never change. `full` measures with the workloads of scenarios.yaml (the
plan's sizes: 500 users for 5 minutes, 500 sequences), so it takes as long as `pavi-validate run`
for every part and trial.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import (
    BrowserWorkload,
    CanaryWorkload,
    LoadWorkload,
    PayloadSpec,
    PipelineWorkload,
    Scenarios,
)
from harness.errors import ConfigError

SCALES = ("ci", "full")
PIPELINE_ENTRIES = 3  # transcripts per pipeline job: 100 such jobs take 15-20 s on the local stack


@dataclass(frozen=True)
class Scale:
    name: str
    load: LoadWorkload  # single-target load trials
    canary_load: LoadWorkload  # blue and green together
    canary: CanaryWorkload
    saturated: LoadWorkload  # the trust check: one Locust process that cannot keep up
    browser: BrowserWorkload
    pipeline: PipelineWorkload  # jobs come from each gate (a streak of N needs N jobs)
    relative_jobs: int  # jobs per run of a relative pipeline gate (baseline and measured run)
    probe_interval_s: float
    probe_healthy_rounds: int
    probe_margin_rounds: int  # healthy rounds before and after an outage


_SATURATED = LoadWorkload(
    users=200,
    spawn_rate=200,
    duration="8s",
    settle="2s",
    think_time=("1ms", "1ms"),
    weights={"health": 1, "submit": 0, "poll": 0, "read_results": 0},
)


def scale_for(name: str, scenarios: Scenarios) -> Scale:
    if name not in SCALES:
        raise ConfigError(f"--scale {name!r} is not known", f"use one of: {', '.join(SCALES)}")
    payload = PayloadSpec(entries=PIPELINE_ENTRIES)
    if name == "full":
        workloads = scenarios.workloads
        return Scale(
            name=name,
            load=workloads.load,
            canary_load=workloads.load,
            canary=workloads.canary,
            saturated=_SATURATED,
            browser=workloads.browser,
            pipeline=workloads.pipeline,
            relative_jobs=20,
            probe_interval_s=1.0,
            probe_healthy_rounds=30,
            probe_margin_rounds=5,
        )
    # ci: about 250 requests/s for 10 s (1,500 samples in the steady window: a p95 interval and a 0%
    # error rate whose Wilson bound is under 1%), well below what one Locust process can send
    load = LoadWorkload(
        users=50,
        spawn_rate=50,
        duration="10s",
        settle="2s",
        think_time=("100ms", "300ms"),
        payload=payload,
    )
    # canary: each side needs ~800 requests for a healthy 0.5-point error difference to pass, and
    # ~100 under a 2-3 s latency fault for a p95; 80 users thinking 0.2-0.4 s give both
    canary_load = LoadWorkload(
        users=80,
        spawn_rate=80,
        duration="12s",
        settle="2s",
        think_time=("200ms", "400ms"),
        payload=payload,
    )
    return Scale(
        name=name,
        load=load,
        canary_load=canary_load,
        canary=scenarios.workloads.canary.model_copy(
            update={"consistency_jobs": 2, "payload": payload, "job_timeout": 60.0}
        ),
        saturated=_SATURATED,
        # 100 rows make the page scroll (30 fit in the viewport); vertical scrolling is the one
        # interaction this page draws at 60 FPS (docs/BROWSER.md); 4 repeats keep the t interval narrow
        browser=BrowserWorkload(
            sequences=100, repeats=4, interaction_time="1.5s", interactions=["scroll_vertical"]
        ),
        pipeline=PipelineWorkload(jobs=1, timeout="60s", payloads=[payload]),
        relative_jobs=5,
        probe_interval_s=0.25,
        probe_healthy_rounds=8,
        probe_margin_rounds=3,
    )

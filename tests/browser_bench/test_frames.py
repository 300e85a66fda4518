"""Probe data to rows and the convenience numbers, on constructed probe data (no browser)."""

from __future__ import annotations

import pytest

from browser_bench.frames import convenience, frame_rows
from browser_bench.runner import resolve_settings
from harness.config import BrowserWorkload
from harness.errors import ConfigError


def test_each_draw_lands_in_the_frame_interval_it_delayed() -> None:
    probe = {"frames": [100.0, 116.7, 133.3, 250.0, 266.7], "draws": [116.7, 120.0, 240.0, 250.0]}
    rows = frame_rows(3, "pan_horizontal", probe)
    assert [r["t_ms"] for r in rows] == pytest.approx([16.7, 33.3, 150.0, 166.7])
    assert [r["frame_ms"] for r in rows] == pytest.approx([16.7, 16.6, 116.7, 16.7])
    assert [r["draws"] for r in rows] == [1, 1, 2, 0]  # (t0, f1] holds 116.7; (f2, f3] holds 240 and 250
    assert [r["redraw"] for r in rows] == [True, True, True, False]
    assert {r["repeat"] for r in rows} == {3} and {r["interaction"] for r in rows} == {"pan_horizontal"}


def test_no_frame_interval_means_no_rows() -> None:
    assert frame_rows(0, "zoom", {"frames": [5.0], "draws": [6.0]}) == []
    assert frame_rows(0, "zoom", {"frames": [], "draws": []}) == []


def test_convenience_numbers() -> None:
    frames = [{"frame_ms": ms} for ms in [16.7] * 18 + [30.0, 40.0]]
    row = {
        "repeat": 0,
        "interaction": "zoom",
        "rendered": True,
        "duration_ms": 370.6,
        "redraws": 4,
        "task_duration_ms": 100.0,
        "metrics_window_ms": 400.0,
        "long_frames": 0,
        "steps": 3,
    }
    numbers = convenience(frames, row)
    assert numbers["fps_mean"] == pytest.approx(20 / 0.3706, abs=0.01)
    assert numbers["redraws_per_s"] == pytest.approx(4 / 0.3706, abs=0.01)
    assert (
        numbers["frame_ms_p50"] == 16.7
        and numbers["frame_ms_p95"] == 30.0
        and numbers["frame_ms_p99"] == 40.0
    )
    assert numbers["frames_over_25ms"] == 2 and numbers["frames_over_33_4ms"] == 1
    assert numbers["busy_share"] == 0.25


def test_overrides_and_unknown_interactions() -> None:
    workload = BrowserWorkload(sequences=100, repeats=5, interaction_time="3s", cpu_throttle=2)
    settings = resolve_settings(workload, 2, None, True, None, ["zoom"])
    assert (settings.repeats, settings.interaction_time_s, settings.uncapped) == (2, 3.0, True)
    assert settings.cpu_throttle == 2 and settings.interactions == ("zoom",)
    with pytest.raises(ConfigError, match="spin"):
        resolve_settings(workload, None, None, None, None, ["spin"])

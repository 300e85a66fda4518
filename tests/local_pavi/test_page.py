"""The alignment page renders a real job of the local stack in real Chromium (Playwright)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from local_pavi.payload import generate_payload

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    args = ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        chromium.close()


def _render(browser: Browser, url: str, timeout_ms: float = 60_000) -> tuple[dict, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function(
        "['rendered', 'error'].includes(document.body.dataset.paviState)", timeout=timeout_ms
    )
    state = page.evaluate("() => ({...window.__pavi})")
    page.close()
    return state, errors


def test_page_renders_every_sequence_of_a_job(pavi, browser) -> None:
    entries = 30
    uuid = pavi.submit(generate_payload(entries, fasta_file_url=pavi.fasta_url(), seed=5))
    assert pavi.wait(uuid)["status"] == "completed"
    state, errors = _render(browser, f"{pavi.url}/result?uuid={uuid}")
    assert state["state"] == "rendered", state
    assert state["sequences"] == entries
    assert state["length"] > 0
    assert state["drawCount"] >= 1
    assert errors == []


def test_page_reports_an_error_for_a_failed_job(pavi, browser) -> None:
    payload = generate_payload(2, fasta_file_url=pavi.fasta_url())
    payload[0]["seq_id"] = "chrUnknown"
    uuid = pavi.submit(payload)
    assert pavi.wait(uuid)["status"] == "failed"
    state, _ = _render(browser, f"{pavi.url}/result?uuid={uuid}")
    assert state["state"] == "error"
    assert "404" in state.get("error", "")


REDRAW_MS = """async () => {
    // change the colour scheme and time until the frame after the next alignment redraw
    const before = window.__pavi.drawCount;
    const select = document.querySelector('#dd-colorscheme');
    const start = performance.now();
    select.value = select.value === 'zappo' ? 'taylor' : 'zappo';
    select.dispatchEvent(new Event('change'));
    await new Promise((done) => {
        const check = () => window.__pavi.drawCount > before
            ? requestAnimationFrame(() => done())
            : requestAnimationFrame(check);
        check();
    });
    return performance.now() - start;
}"""


def _redraw_ms(browser: Browser, url: str) -> tuple[float, dict]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.wait_for_function("document.body.dataset.paviState === 'rendered'", timeout=60_000)
    page.wait_for_timeout(300)  # let the post-render redraws (conservation worker) settle
    elapsed = min(page.evaluate(REDRAW_MS) for _ in range(3))
    state = page.evaluate("() => ({...window.__pavi})")
    page.close()
    return elapsed, state


def test_slow_frame_fault_slows_every_redraw(pavi, browser) -> None:
    uuid = pavi.submit(generate_payload(4, fasta_file_url=pavi.fasta_url(), seed=2))
    assert pavi.wait(uuid)["status"] == "completed"
    url = f"{pavi.url}/result?uuid={uuid}"
    healthy_ms, healthy = _redraw_ms(browser, url)
    pavi.faults(slow_frame_ms=250)
    slowed_ms, slowed = _redraw_ms(browser, url)
    assert healthy["slowFrameMs"] == 0
    assert slowed["slowFrameMs"] == 250
    assert slowed_ms >= 250
    assert slowed_ms - healthy_ms > 150

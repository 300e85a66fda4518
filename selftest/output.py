"""The self-test's outputs: the terminal table (rich), selftest.json and junit.xml for CI.

JUnit: one test case per gate and case; a case that did not behave is a failure, a known exception
is `skipped` with its reason (visible in any CI, never a silent pass).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.runstore import write_json_atomic
from reports.render_console import COLOURS
from reports.render_junit import xml_text
from selftest.recipes import HEALTHY
from selftest.runner import Outcome, Row

JSON_FILE = "selftest.json"
JUNIT_FILE = "junit.xml"
REASON_CHARS = 220  # in the terminal; selftest.json keeps the whole reason


def case_text(row: Row) -> str:
    return HEALTHY if row.case.case == HEALTHY else f"{row.case.case}: {row.case.fault}"


def _mark(row: Row) -> str:
    if row.exception is not None:
        return f"[yellow]known ({row.exception.name})[/]"
    return "[green]yes[/]" if row.ok else "[bold red]NO[/]"


def _verdict(text: str) -> str:
    colour = next((colour for verdict, colour in COLOURS.items() if verdict.value == text), "red")
    return f"[{colour}]{text}[/]"


def print_table(outcome: Outcome, console: Console) -> None:
    table = Table(
        title=f"pavi-validate selftest ({outcome.scale} scale): gate x case x expected x got",
        title_justify="left",
    )
    table.add_column("gate", overflow="fold")
    table.add_column("case", overflow="fold", ratio=3)
    table.add_column("expected")
    table.add_column("got")
    table.add_column("ok")
    table.add_column("how", overflow="fold", ratio=2)
    table.add_column("reason", overflow="fold", ratio=4)
    last_set = None
    for row in outcome.rows:
        case = row.case
        if last_set is not None and case.gate_set != last_set:
            table.add_section()
        last_set = case.gate_set
        how = case.how + (f" [{case.scaled}]" if case.scaled else "")
        reason = row.reason if len(row.reason) <= REASON_CHARS else row.reason[: REASON_CHARS - 1] + "…"
        if row.first is not None:
            reason = f"2nd attempt (1st: {row.first[:100]}). {reason}"
        table.add_row(
            escape(f"{case.gate_set} / {case.gate}"),
            escape(case_text(row)),
            _verdict(case.expected.value),
            _verdict(row.got),
            _mark(row),
            escape(how),
            escape(reason),
        )
    for untestable in outcome.untestable:
        table.add_row(
            escape(f"{untestable.gate_set} / {untestable.gate}"), "-", "-", "[red]NO RECIPE[/]",
            "[bold red]NO[/]", "-", escape(untestable.reason),
        )  # fmt: skip
    console.print(table)
    bad = [row for row in outcome.rows if not row.ok]
    known = [row for row in outcome.rows if row.exception is not None]
    retried = [row for row in outcome.rows if row.attempts > 1]
    summary = f"{len(outcome.rows) - len(bad)}/{len(outcome.rows)} cases behaved"
    if retried:
        summary += f" ({len(retried)} on a second attempt of their trial)"
    if known:
        names = ", ".join(sorted({row.exception.name for row in known if row.exception is not None}))
        summary += f", {len(known)} of them by a known exception ({names})"
    if outcome.untestable:
        summary += f"; {len(outcome.untestable)} gate(s) without a recipe"
    colour = "green" if outcome.ok else "red"
    console.print(
        f"[bold {colour}]{'every gate behaved' if outcome.ok else 'NOT every gate behaved'}[/]: {summary}; "
        f"{len(outcome.trials)} trials in {outcome.wall_s:.0f} s",
        highlight=False,
    )
    console.print(f"selftest: {outcome.folder / JSON_FILE}", highlight=False)


def _row_json(row: Row) -> dict[str, Any]:
    case = row.case
    return {
        "gate_set": case.gate_set,
        "gate": case.gate,
        "case": case.case,
        "fault": case.fault,
        "expected": case.expected.value,
        "got": row.got,
        "ok": row.ok,
        "exception": None if row.exception is None else row.exception.name,
        "how": case.how,
        "scaled": case.scaled,
        "reason": row.reason,
        "trial": case.trial.label,
        "run": row.run,
        "baseline_run": row.baseline_run,
        "attempts": row.attempts,
        "first_attempt": row.first,
    }


def render_json(outcome: Outcome, host: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": outcome.ok,
        "scale": outcome.scale,
        "gate_sets": outcome.gate_sets,
        "started": outcome.started,
        "wall_s": outcome.wall_s,
        "host": host,
        "rows": [_row_json(row) for row in outcome.rows],
        "untestable": [vars(item) for item in outcome.untestable],
        "trials": [
            {
                "trial": record.trial.label,
                "kind": record.trial.kind,
                "params": dict(record.trial.params),
                "run": record.run.path.name,
                "seconds": record.seconds,
                "error": record.error,
            }
            for record in outcome.trials
        ],
        "exceptions": {
            row.exception.name: row.exception.why for row in outcome.rows if row.exception is not None
        },
    }


def render_junit(outcome: Outcome) -> str:
    suite = ET.Element(
        "testsuite",
        name="pavi-validate selftest",
        tests=str(len(outcome.rows) + len(outcome.untestable)),
        failures=str(sum(not row.ok for row in outcome.rows) + len(outcome.untestable)),
        skipped=str(sum(row.exception is not None for row in outcome.rows)),
        time=f"{outcome.wall_s:.1f}",
    )
    for row in outcome.rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=xml_text(f"selftest.{row.case.gate_set}"),
            name=xml_text(f"{row.case.gate} [{case_text(row)}]"),
            time="0",
        )
        message = f"expected {row.case.expected.value}, got {row.got}: {row.reason}"
        if row.exception is not None:
            ET.SubElement(
                case, "skipped", message=xml_text(f"known exception {row.exception.name}: {message}")
            )
        elif not row.ok:
            failure = ET.SubElement(case, "failure", message=xml_text(message), type=row.got)
            failure.text = xml_text(f"{message}\nhow: {row.case.how}\nrun: {row.run}")
        if row.first is not None:
            ET.SubElement(case, "system-out").text = xml_text(f"first attempt: {row.first}")
    for untestable in outcome.untestable:
        case = ET.SubElement(
            suite, "testcase", classname=xml_text(f"selftest.{untestable.gate_set}"),
            name=xml_text(untestable.gate), time="0",
        )  # fmt: skip
        ET.SubElement(case, "failure", message=xml_text(f"no recipe: {untestable.reason}"), type="NO RECIPE")
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_outputs(outcome: Outcome, host: dict[str, Any]) -> None:
    write_json_atomic(outcome.folder / JSON_FILE, render_json(outcome, host))
    (outcome.folder / JUNIT_FILE).write_text(render_junit(outcome))

"""junit.xml: one test case per gate, so any CI shows the gates next to its other tests.

INCONCLUSIVE and PENDING are failures, not passes: a pipeline must not go green on "can't tell".
Built with ElementTree so every attribute and text is escaped; characters XML 1.0 cannot hold at all
(control characters in a server's error text) are replaced first, or the file would not parse.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reports.model import GateResult, Report, Verdict
from reports.render_markdown import (
    MISSING,
    format_ci,
    format_count,
    format_threshold,
    gate_label,
    value_text,
)

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

_FAILURE_KINDS = (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.PENDING)


def xml_text(value: object) -> str:
    return _NOT_XML.sub("\ufffd", str(value))


def _details(result: GateResult) -> str:
    m = result.measurement
    lines = [
        f"value: {value_text(result)}",
        f"95% CI: {format_ci(m.ci if m else None, m.unit if m else None)}",
        f"threshold: {format_threshold(result.gate)}",
        f"n: {format_count(m.n) if m else MISSING}",
    ]
    if m and m.facts:
        lines.append("facts: " + ", ".join(f"{key}={value}" for key, value in sorted(m.facts.items())))
    return "\n".join(lines)


def _testcase(suite: ET.Element, result: GateResult) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=xml_text(result.gate_set), name=xml_text(result.name), time="0"
    )
    verdict = Verdict(result.verdict)
    reason = xml_text(result.reason)
    if verdict in _FAILURE_KINDS:
        ET.SubElement(case, "failure", message=reason, type=str(verdict)).text = xml_text(_details(result))
    elif verdict is Verdict.INVALID:
        ET.SubElement(case, "error", message=reason, type=str(verdict)).text = xml_text(_details(result))
    elif verdict is Verdict.SKIPPED:
        ET.SubElement(case, "skipped", message=reason)
    plan = result.gate.plan or "(no plan line given)"
    ET.SubElement(case, "system-out").text = xml_text(
        f"checks: {gate_label(result)} {format_threshold(result.gate)}, window {result.gate.window}\n"
        f"plan: {plan}\nverdict: {verdict}: {result.reason}"
    )


def render_junit(report: Report) -> str:
    verdicts = [Verdict(result.verdict) for result in report.results]
    suite = ET.Element(
        "testsuite",
        name=xml_text(f"pavi-validate {report.gate_set}"),
        tests=str(len(verdicts)),
        failures=str(sum(v in _FAILURE_KINDS for v in verdicts)),
        errors=str(verdicts.count(Verdict.INVALID)),
        skipped=str(verdicts.count(Verdict.SKIPPED)),
        time="0",
    )
    properties = ET.SubElement(suite, "properties")
    run = report.run
    for name, value in (
        ("run_id", run.get("id")),
        ("target", run.get("target")),
        ("run_status", run.get("status")),
        ("overall", report.overall),
        ("exit_code", report.exit_code),
        ("baseline_run", report.baseline_run),
    ):
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=xml_text(value))
    for result in report.results:
        _testcase(suite, result)
    if report.notes:
        ET.SubElement(suite, "system-out").text = xml_text(
            "\n".join(f"note: {note}" for note in report.notes)
        )
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"

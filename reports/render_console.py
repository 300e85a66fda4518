"""The verdict table in the terminal, for people watching a run (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reports.model import Report, Verdict
from reports.render_markdown import canary_headline

COLOURS = {
    Verdict.PASS: "green",
    Verdict.FAIL: "red",
    Verdict.INVALID: "magenta",
    Verdict.INCONCLUSIVE: "yellow",
    Verdict.PENDING: "yellow",
    Verdict.SKIPPED: "dim",
}


def print_verdicts(report: Report, console: Console) -> None:
    table = Table(title=f"gate set {report.gate_set}", title_justify="left", show_lines=False)
    table.add_column("gate")
    table.add_column("verdict")
    table.add_column("why", overflow="fold")
    for result in report.results:
        colour = COLOURS[result.verdict]
        # names and reasons carry server and config text: literal, never rich markup ("[uuid]", "[/x]")
        table.add_row(escape(result.name), f"[{colour}]{result.verdict.value}[/]", escape(result.reason))
    console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    for line in report.jobs.lines():
        console.print(f"[cyan]jobs:[/] {escape(line)}", highlight=False)
    colour = COLOURS[report.overall]
    console.print(f"overall: [bold {colour}]{report.overall.value}[/] (exit code {report.exit_code})")
    if report.canary is not None:
        console.print(f"canary: [bold {colour}]{escape(canary_headline(report.canary))}[/]")

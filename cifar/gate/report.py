"""The gate's report as a terminal table (rich) and as Markdown (a CI job summary, a pull-request comment).

Benchmark ids are shown literally: rich would read ``[matmul-default]`` in a test id as markup and drop it,
so every id goes in as `rich.text.Text`; Markdown escapes the characters that would break a table cell.
"""

from __future__ import annotations

import io
import math

from cifar.gate.decide import DETECTION_POWER, VERDICTS, Comparison
from cifar.gate.stored import GateReport

ORDER = {verdict: i for i, verdict in enumerate(VERDICTS)}


def _percent(fraction: float | None) -> str:
    if fraction is None:
        return "-"
    return "never" if math.isinf(fraction) else f"{fraction:.1%}"


def _verdict(c: Comparison) -> str:
    text = c.verdict.upper() if c.verdict in ("regression", "inconclusive", "unresolved") else c.verdict
    if c.verdict == "unresolved":
        text += f" (~{c.to_resolve}/side)" if c.to_resolve else " (above tolerance)"
    if c.verdict == "inconclusive" and c.needed:
        text += f" (needs >= {c.needed} per side)"
    if c.remeasured:
        text += " (re-measured)" if c.verdict == "regression" else " (re-measured; first run failed)"
    elif c.unconfirmed:
        text += " (NOT CONFIRMED)"
    return text


def _ratio(c: Comparison) -> str:
    if c.ratio is None:
        return "-"
    if c.ratio.low == c.ratio.high:  # one process a side (runs that did not record processes): no spread to show
        return f"{c.ratio.ratio:.3f} (no interval)"
    return f"{c.ratio.ratio:.3f} [{c.ratio.low:.3f}, {c.ratio.high:.3f}]"


def rows(report: GateReport) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows, worst first (regressions, then inconclusive, …)."""
    header = ["benchmark", "baseline /round", "current /round", "ratio [95 % CI]", "p slower", "rules out"]
    detectable = any(c.detectable is not None for c in report.comparisons)
    if detectable:
        header.append(f"detects >= ({DETECTION_POWER:.0%})")
    header.append("verdict")
    body = []
    for c in sorted(report.comparisons, key=lambda c: (ORDER[c.verdict], c.name)):
        body.append([c.short_name,
                     "-" if c.baseline_seconds is None else f"{c.baseline_seconds * 1000:.2f} ms",
                     "-" if c.current_seconds is None else f"{c.current_seconds * 1000:.2f} ms",
                     _ratio(c),
                     "-" if c.p_slower is None else f"{c.p_slower:.2g}",
                     c.rules_out_text,
                     *([_percent(c.detectable)] if detectable else []),
                     _verdict(c)])
    return header, body


def summary_line(report: GateReport) -> str:
    counts = {v: sum(c.verdict == v for c in report.comparisons) for v in VERDICTS}
    line = f"{report.verdict}: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    if report.verdict == "passed":
        tolerances = sorted({c.policy.tolerance for c in report.comparisons if c.verdict == "unchanged"})
        if tolerances:
            line += (" (each gated benchmark ruled out a slowdown above "
                     + "/".join(f"{t:.0%}" for t in tolerances) + " at 95 %)")
    return line


def render(report: GateReport, width: int = 190) -> str:
    """The report for a terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    table = Table(title=Text(f"Regression gate against {report.baseline_label}"))
    header, body = rows(report)
    for i, column in enumerate(header):
        # The id whole on one line (folding cut "test_epoch[…-intra1-i" / "nter1]"); the ratio and the verdict too.
        table.add_column(Text(column), no_wrap=i == 0 or column.startswith(("ratio", "rules", "detects", "verdict")),
                         min_width=max((len(row[0]) for row in body), default=10) if i == 0 else None)
    for row in body:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
    for note in report.notes:
        console.print(Text(note))
    console.print(Text(summary_line(report)))
    return buffer.getvalue()


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown(report: GateReport, title: str = "Regression gate") -> str:
    """The report as GitHub-flavoured Markdown: the verdict first, then the table and the notes."""
    header, body = rows(report)
    icon = {"FAILED": "❌", "UNCONFIRMED": "⛔", "INCONCLUSIVE": "⚠️", "passed": "✅"}[report.verdict]
    lines = [f"### {icon} {_cell(title)}: {_cell(summary_line(report))}", "",
             f"Against {_cell(report.baseline_label)}.", "",
             "| " + " | ".join(_cell(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    for row in body:
        lines.append("| " + " | ".join([f"`{_cell(row[0])}`", *(_cell(cell) for cell in row[1:])]) + " |")
    if report.notes:
        lines += [""] + [f"- {_cell(note)}" for note in report.notes]
    return "\n".join(lines) + "\n"

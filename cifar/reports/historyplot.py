"""Histories drawn: PNG pages and one self-contained HTML page (matplotlib).

One panel per case and machine (e.g. ``epoch-seed_cnn-arrays`` on the AMD EPYC), one line per thread
configuration; the x axis is the machine's runs in order, labelled by commit (``+``: a dirty tree) with the date
under the first run of each day; throughput (images/s) where the workload has one, else seconds per round, on a
y axis that starts at zero (so a 10 % dip looks like 10 %). Each run is its value (the line's marker) and its
processes (small dots: the spread the value is the centre of); where a stretch between change points has
`cifar.reports.history.BAND_RUNS` runs or more, a shaded band shows how far this machine's runs spread while
nothing changed (a 95 % t prediction interval of the runs). A change point is a dashed line before its first run,
labelled with its size and p-value; a contended measurement is a hollow marker. No benchmark is left out: PNGs
are paged, 12 panels a page.

>>> python -m cifar history --plot reports/history.png --html reports/history.html    # doctest: +SKIP
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from cifar.reports.history import Series, bands, describe

PANELS_PER_PAGE = 12


def groups(series: list[Series]) -> list[tuple[str, str, list[Series]]]:
    """(case, fingerprint, its series) in the order cases first appear; one unit per panel (its y axis)."""
    out: dict[tuple[str, str, str], list[Series]] = {}
    for s in series:
        out.setdefault((s.case, s.fingerprint, s.unit), []).append(s)
    return [(case, fp, members) for (case, fp, _), members in out.items()]


def _axis(members: list[Series]) -> tuple[list[int], list[str]]:
    """The runs on a panel's x axis and their tick labels (commit, and the date where it changes)."""
    seen: dict[int, tuple[str, str]] = {}
    for s in members:
        for p in s.points:
            seen.setdefault(p.position, (p.commit, p.date))
    positions = sorted(seen)
    labels, last_date = [], None
    for pos in positions:
        commit, date = seen[pos]
        labels.append(commit if date == last_date else f"{commit}\n{date}")
        last_date = date
    return positions, labels


def _draw(ax, case: str, fingerprint: str, members: list[Series]) -> None:
    positions, labels = _axis(members)
    top = 0.0
    for s in members:
        xs = [p.position for p in s.points]
        line, = ax.plot(xs, s.values(), marker="o", markersize=4, label=s.threads or s.short_name, zorder=2)
        color = line.get_color()
        dots = [(p.position, v) for p in s.points for v in p.processes]
        if dots:
            spread = ax.scatter([x for x, _ in dots], [v for _, v in dots], s=7, color=color, alpha=0.45,
                                linewidths=0, zorder=1, label="its processes")
            spread.set_gid(f"processes-{s.short_name}")
        for band in bands(s):
            shade = ax.fill_between([band.first - 0.4, band.last + 0.4], band.low, band.high, color=color, alpha=0.12,
                                    linewidth=0, zorder=0, label="run-to-run band")
            shade.set_gid(f"band-{s.short_name}-{band.first}")
            top = max(top, band.high)
        top = max([top, *s.values(), *(v for _, v in dots)])
        hollow = [p for p in s.points if p.contended]
        if hollow:
            ax.scatter([p.position for p in hollow], [p.value for p in hollow], s=60, facecolors="white",
                       edgecolors=line.get_color(), zorder=3, label="contended")
        for cp in s.change_points:
            x = s.points[cp.index].position - 0.5
            ax.axvline(x, color=line.get_color(), linestyle="--", linewidth=1)
            ax.annotate(f"{cp.change:+.0%} p={cp.p_value:.2g}", (x, cp.after), color=line.get_color(), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xticks(positions, labels, fontsize=6, rotation=90)
    ax.set_title(f"{case} ({fingerprint})", fontsize=8)
    ax.set_ylim(0, top * 1.1 if top > 0 else 1)  # zero-based: a dip's height is its size
    ax.set_ylabel(f"{members[0].unit} (axis from 0)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3)
    handles = dict(zip(*reversed(ax.get_legend_handles_labels())))  # one entry per label
    ax.legend(handles.values(), handles.keys(), fontsize=6, loc="lower left")


def plot(series: list[Series], path: Path, per_page: int = PANELS_PER_PAGE) -> list[Path]:
    """PNG pages of every group: `path`, then ``stem-2.png``, … Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cifar.errors import GateError

    panels = groups(series)
    if not panels:
        raise GateError("nothing to plot: no benchmark matched")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for page, start in enumerate(range(0, len(panels), per_page)):
        chunk = panels[start:start + per_page]
        cols = min(3, len(chunk))
        rows = (len(chunk) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
        for ax, (case, fp, members) in zip(axes.flat, chunk):
            _draw(ax, case, fp, members)
        for ax in list(axes.flat)[len(chunk):]:
            ax.set_visible(False)
        fig.tight_layout()
        target = path if page == 0 else path.with_name(f"{path.stem}-{page + 1}{path.suffix}")
        fig.savefig(target, dpi=100)
        plt.close(fig)
        written.append(target)
    return written


def _svg(case: str, fp: str, members: list[Series]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    _draw(ax, case, fp, members)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG goes inline


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}
code{font-size:12px}
section{margin-bottom:2em}.cp{color:#b00}svg{max-width:100%;height:auto}"""
_SCRIPT = """document.addEventListener('DOMContentLoaded',function(){
var n=document.querySelectorAll('figure svg').length;
document.body.setAttribute('data-plots',n);document.getElementById('status').textContent=n+' plots';});"""


def html_page(series: list[Series], path: Path, title: str = "cifar thread benchmarks: history") -> Path:
    """One self-contained HTML file: per case and machine a plot (inline SVG) and its change points, then a
    table of every benchmark's latest value. Opens from disk; nothing is fetched."""
    panels = groups(series)
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
           f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
           f"<h1>{html.escape(title)}</h1><p id='status'></p>",
           f"<p>{len(series)} benchmark series; runs placed by commit and date, on axes that start at zero. A marker"
           " is a run's value, the small dots its processes; a shaded band is how far this machine's runs spread"
           " while nothing changed (where 95 % of the next runs should fall: a t prediction interval of the "
           "stretch's runs, from 4 runs on); change points are marked with their size and p-value (binary "
           "segmentation + permutation test on per-run values).</p>"]
    for case, fp, members in panels:
        out.append(f"<section><h2>{html.escape(case)} <small>{html.escape(fp)}</small></h2>")
        out.append(f"<figure>{_svg(case, fp, members)}</figure>")
        changes = [(s, cp) for s in members for cp in s.change_points]
        if changes:
            out.append("<ul>" + "".join(f"<li class='cp'><code>{html.escape(s.short_name)}</code>: "
                                        f"{html.escape(describe(s, cp))}</li>" for s, cp in changes) + "</ul>")
        out.append("</section>")
    out.append("<h2>Latest values</h2><table><tr><th>benchmark</th><th>machine</th><th>latest</th><th>unit</th>"
               "<th>commit</th><th>date</th><th>runs</th><th>change points</th></tr>")
    for s in series:
        last = s.points[-1]
        value = f"{last.value:,.0f}" if s.throughput else f"{last.value:.4g}"  # in the unit column's unit
        cps = "; ".join(describe(s, cp) for cp in s.change_points) or "-"
        out.append(f"<tr><td><code>{html.escape(s.short_name)}</code></td><td>{html.escape(s.fingerprint)}</td>"
                   f"<td>{value}{' (contended)' if last.contended else ''}</td><td>{html.escape(s.unit)}</td>"
                   f"<td>{html.escape(last.commit)}</td><td>{html.escape(last.date)}</td><td>{len(s.points)}</td>"
                   f"<td>{html.escape(cps)}</td></tr>")
    out.append("</table></body></html>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out))
    return path

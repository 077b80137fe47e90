"""The gate's check as terminal tables and JSON."""

from __future__ import annotations

import json

import numpy as np

from cifar.gate.check.rates import ARMS, HETEROGENEITY_ALPHA, Rate


def _rates_table(title: str, rates: dict, effective: dict | None = None):
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title))
    table.add_column("benchmark", overflow="fold")
    for column in ("A/A false alarms", "A/B 10 % detected", "A/B 5 % detected"):
        table.add_column(column)
    paired = effective is not None and "process_cv" in next(iter(effective.values()), {})
    if effective is not None:
        table.add_column("measured effect (A/A, B10, B5)" if paired else "measured effect of the injection (B10, B5)")
    if paired:
        table.add_column("per-process CV, pair spread, A/A detects >=")
    for name in rates["A"]:
        # Text, not a str: rich would read "[seed-npc1-default]" in a test id as markup and drop it.
        row = [Text(name.split("::")[-1]), *(str(rates[arm].get(name, Rate(0, 0))) for arm in ("A", "B10", "B5"))]
        if paired:
            row += [f"{effective[name]['A']:+.1%}, {effective[name]['B10']:+.1%}, {effective[name]['B5']:+.1%}",
                    f"{effective[name]['process_cv']:.1%}, {effective[name]['pair_sd']:.1%}, "
                    f"{effective[name].get('detectable', float('nan')):.1%}"]
        elif effective is not None:
            row.append(f"{effective[name]['B10']:+.1%}, {effective[name]['B5']:+.1%}")
        table.add_row(*row)
    pooled = {arm: Rate(sum(r.hits for r in rates[arm].values()), sum(r.trials for r in rates[arm].values()))
              for arm in ("A", "B10", "B5")}
    table.add_row("all benchmarks", *(str(pooled[arm]) for arm in ("A", "B10", "B5")),
                  *([""] * ((effective is not None) + paired)))
    return table


#: What "passed" should do per arm (issue 40): A/A resolved as unchanged, slowdowns at the tolerance not passed.
PASSED_TARGETS = {"A": ">= 80 %", "B10": "0 %", "B5": "<= 5 %"}


def _passed_table(passed: dict, sessions: int, resamples: int):
    """Per benchmark and arm, how often the paired gate's final verdict was a pass, real and resampled."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text("Passed: final verdict unchanged (a slowdown above the tolerance ruled out) or "
                             f"improvement; real ({sessions} per arm) | resampled ({resamples})"))
    table.add_column("benchmark", overflow="fold")
    for arm, target in PASSED_TARGETS.items():
        table.add_column(f"{'A/A' if arm == 'A' else arm} passed (target {target})")
    for name in passed["real"]["A"]:
        table.add_row(Text(name.split("::")[-1]), *(
            f"{passed['real'][arm].get(name, Rate(0, 0))} | "
            + (str(passed["resampled"][arm][name]) if name in passed["resampled"].get(arm, {}) else "-")
            for arm in PASSED_TARGETS))
    return table


def _pool(rates: dict[str, Rate], names: list[str]) -> Rate:
    return Rate(sum(rates[n].hits for n in names), sum(rates[n].trials for n in names))


def render(report: dict) -> str:
    import io

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=170, color_system=None)
    policy = report["policy"]
    if report.get("paired"):
        others = [f"{v} for {name.split('[')[-1].rstrip(']')}"
                  for name, v in policy.get("per_process_overrides", {}).items()]
        values = f"per-process {policy.get('per_process', 'median')} of the rounds" + (
            f" ({', '.join(others)})" if others else "")
        rule = (f"paired: both arms in one session, {values}, {policy.get('test', 'mann-whitney')}; "
                f"alpha {policy['alpha']}, floor {policy['floor']:.0%}, re-measure on failure")
    else:
        rule = (f"alpha {policy['alpha']}, floor {policy['floor']:.0%}, baseline = "
                f"{report['pooled_baseline_sessions']} "
                "pooled sessions, re-measure on failure" + (", calibrated" if report.get("calibrated") else ""))
    console.print(_rates_table(f"Gate check on real sessions ({report['sessions_per_arm']} per arm; {rule})",
                               report["real"], report["effective_slowdown"]))
    how = "pairs pooled over each arm's sessions; " if report.get("paired") else ""
    console.print(_rates_table(f"Gate check, resampled from the real sessions ({report['resamples']} per figure; "
                               f"{how}{rule})", report["resampled"]["default"]))
    if "resampled_within_session" in report:
        console.print(_rates_table(f"The same, each synthetic session drawn from one real session (counts a session's "
                                   f"noise twice: lower bound near the floor; {rule})",
                                   report["resampled_within_session"]["default"]))
    # The same resampled trials judged with other floors, pooled by kind of benchmark: pipelines run
    # asynchronously (prefetch overlaps the consumer), so they vary more and absorb part of an injection.
    names = list(report["resampled"]["default"]["A"])
    groups = {"matmul, conv2d, train_step, epoch": [n for n in names if "test_pipeline" not in n],
              "pipeline": [n for n in names if "test_pipeline" in n]}
    table = Table(title=Text("Resampled, by policy (pooled per kind of benchmark)"))
    for column in ("policy", "benchmarks", "A/A false alarms", "A/B 10 % detected", "A/B 5 % detected"):
        table.add_column(column)
    for label, rates in report["resampled"].items():
        if label == "default":
            test = f", {policy['test']}" if "test" in policy else ""
            label = f"alpha {policy['alpha']}, floor {policy['floor']:.0%}{test} (default, with overrides)"
        for group, members in groups.items():
            if members:
                table.add_row(label, group, *(str(_pool(rates[arm], members)) for arm in ("A", "B10", "B5")))
    console.print(table)
    if "passed" in report:
        console.print(_passed_table(report["passed"], report["sessions_per_arm"], report["resamples"]))
    if "detectable_check" in report:
        check = Table(title=Text("The gate's 'detects >=' figure against its first verdict, A/B sessions x benchmarks"))
        for column in ("injected", "caught where the figure was <= the injection", "caught where it was above"):
            check.add_column(column)
        for arm, rates in report["detectable_check"].items():
            check.add_row(f"{ARMS[arm]:.0%}", *(str(rates[key]) if rates[key].trials else "-"
                                                for key in ("at or below", "above")))
        console.print(check)
    if report.get("paired"):
        uneven = [f"{name.split('::')[-1]} {arm} p {p:.2g}" for name, arms in report.get("session_heterogeneity",
                                                                                         {}).items()
                  for arm, p in arms.items() if p < HETEROGENEITY_ALPHA]
        untested = [("A/A" if arm == "A" else arm) for arm in report.get("session_heterogeneity_untested", [])]
        if "session_heterogeneity" in report:
            parts = []
            if untested:  # one session cannot centre apart from itself: say what could not be seen, not "none"
                parts.append(f"not tested for {', '.join(untested)} (one session each: its resampled figures redraw "
                             "that session's own pairs, so they keep its centre, and whether the code or the session "
                             "put it there cannot be told from one)")
            if len(untested) < len(ARMS):
                parts.append("; ".join(uneven) or ("none among the others" if untested else "none"))
            found = "; ".join(parts)
            console.print("Sessions of an arm centred apart (Kruskal-Wallis of the pairs' log ratios, p < "
                          f"{HETEROGENEITY_ALPHA}; pooled resampling flatters these): " + found,
                          markup=False, highlight=False)
        minutes = report.get("session_minutes")
        if minutes:
            console.print("Session wall time, minutes (A/A; B10; B5): " + "; ".join(
                ", ".join(f"{m:.1f}" for m in minutes.get(arm, [])) for arm in ("A", "B10", "B5")),
                markup=False, highlight=False)
        stopped = report.get("stopped_at_look")
        if stopped is not None:
            console.print("Stopped at a look (pairs; '-' ran every pair), per session (A/A; B10; B5): " + ("; ".join(
                f"{name.split('::')[-1]} " + "; ".join(",".join("-" if n is None else str(n) for n in counts.get(arm,
                                                                                                                 []))
                                                       for arm in ("A", "B10", "B5"))
                for name, counts in stopped.items()) or "no session made with looks"), markup=False, highlight=False)
        left_out = report.get("contended_pairs_left_out", {})
        console.print("Pairs left out as contended, per session (A/A; B10; B5): " + ("; ".join(
            f"{name.split('::')[-1]} " + "; ".join(",".join(map(str, counts.get(arm, []))) for arm in ("A", "B10",
                                                                                                       "B5"))
            for name, counts in left_out.items()) or "none"), markup=False, highlight=False)
    return buffer.getvalue()


def to_json(report: dict) -> str:
    def encode(value):
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, Rate):
            low, high = value.wilson()
            return {"hits": value.hits, "trials": value.trials, "rate": value.rate, "wilson95": [low, high]}
        raise TypeError(type(value))

    return json.dumps(report, default=encode, indent=2)

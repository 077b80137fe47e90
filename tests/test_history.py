"""Histories: series per machine, placed by commit and date, change points, every id intact in every table,
the PNG pages and the HTML page (the real-browser check is in test_history_browser.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cifar.reports.history import build_series, history, read_runs, table
from cifar.reports.historyplot import groups, html_page, plot
from tests.runs import MACHINE, make_run, noisy, write

EPOCH = "benchmarks/test_epoch.py::test_epoch[seed_cnn-arrays-default]"
PIPE = "benchmarks/test_pipeline.py::test_pipeline[seed-npc1-intra1-inter1]"
OTHER_CPU = dict(MACHINE, cpu_model="Intel(R) Xeon(R) Processor")


def epoch_extra(name, case, threads, contended=False):
    return {name: {"unit": "images", "items_per_round": 1280, "case": case, "threads": threads,
                   "contended": contended}}


def series_runs(tmp_path, n=12, step_at=6, machine=None, prefix=""):
    paths = []
    for i in range(n):
        median = 0.25 if i < step_at else 0.30  # 5,120 -> 4,267 images/s: 17 % slower from run step_at
        extra = {**epoch_extra(EPOCH, "epoch-seed_cnn-arrays", "default", contended=(i == 2)),
                 **epoch_extra(PIPE, "pipeline-seed-npc1", "intra1-inter1")}
        run = make_run({EPOCH: noisy(median, cv=0.01, seed=i), PIPE: noisy(0.1, cv=0.01, seed=50 + i)},
                       machine=machine, extra=extra, datetime=f"2026-11-{10 + i:02d}T00:00:00",
                       commit=f"{prefix}{i:02d}c0ffee{i:02d}aa", dirty=(i == 4))
        paths.append(write(tmp_path / f"{prefix}{i:04d}_run.json", run))
    return paths


def test_points_carry_commit_date_dirty_and_contended(tmp_path):
    (epoch, pipe) = build_series(read_runs(series_runs(tmp_path)))
    assert epoch.name == EPOCH and epoch.unit == "images/s" and epoch.case == "epoch-seed_cnn-arrays"
    assert [p.commit for p in epoch.points[:5]] == ["00c0ffe", "01c0ffe", "02c0ffe", "03c0ffe", "04c0ffe+"]
    assert epoch.points[0].date == "2026-11-10" and epoch.points[0].value == pytest.approx(1280 / 0.25, rel=0.03)
    assert [p.contended for p in epoch.points[:4]] == [False, False, True, False]
    assert [p.position for p in epoch.points] == list(range(12))


def test_the_step_is_a_change_point_at_the_first_slowed_runs_commit(tmp_path):
    (epoch, pipe) = history(read_runs(series_runs(tmp_path)))
    (cp,) = epoch.change_points
    assert epoch.points[cp.index].commit == "06c0ffe" and cp.change == pytest.approx(0.25 / 0.30 - 1, abs=0.02)
    assert pipe.change_points == []


def test_runs_of_other_machines_are_other_series_never_one(tmp_path):
    runs = read_runs(series_runs(tmp_path) + series_runs(tmp_path, n=4, machine=OTHER_CPU, prefix="x"))
    series = build_series(runs)
    machines = {(s.name, s.fingerprint): len(s.points) for s in series}
    assert machines[(EPOCH, "amd-epyc-9b14-2c2t-tf2.21.0-py3.11")] == 12
    assert machines[(EPOCH, "intel-r-xeon-r-processor-2c2t-tf2.21.0-py3.11")] == 4
    assert len(groups(series)) == 4  # two cases on two machines: four panels, nothing merged


def test_every_id_is_shown_literally_in_the_history_table(tmp_path):
    text = table(history(read_runs(series_runs(tmp_path))))
    assert "test_epoch[seed_cnn-arrays-default]" in text and "test_pipeline[seed-npc1-intra1-inter1]" in text
    assert "06c0ffe" in text and "images/s" in text


def test_png_pages_hold_every_group_and_the_html_every_id(tmp_path):
    paths = []
    for k in range(14):  # 14 cases: more than one page of 12 panels
        name = f"benchmarks/test_micro.py::test_matmul[case{k}-default]"
        paths.append(name)
    runs = []
    for i in range(3):
        extra = {n: {"unit": "products", "items_per_round": 30, "case": f"matmul-{k}", "threads": "default"}
                 for k, n in enumerate(paths)}
        run = make_run({n: noisy(0.3, seed=i) for n in paths}, extra=extra, commit=f"{i}abcdef0",
                       datetime=f"2026-11-0{i + 1}T00:00:00")
        runs.append(write(tmp_path / f"{i:04d}_r.json", run))
    series = history(read_runs(runs))
    pages = plot(series, tmp_path / "h.png")
    assert [p.name for p in pages] == ["h.png", "h-2.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pages)
    page = html_page(series, tmp_path / "h.html").read_text()
    assert page.count("<svg") == 14 and all(f"test_matmul[case{k}-default]" in page for k in range(14))
    assert "http://" not in page.split("<svg", 1)[0] and "<script src" not in page  # self-contained


def test_history_cli_writes_the_table_png_html_and_json(tmp_path):
    paths = series_runs(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "cifar", "history", *map(str, paths), "--plot",
                           str(tmp_path / "h.png"), "--html", str(tmp_path / "h.html"), "--json",
                           str(tmp_path / "h.json")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "test_epoch[seed_cnn-arrays-default]" in proc.stdout and "at 06c0ffe" in proc.stdout
    saved = {s["name"]: s for s in json.loads((tmp_path / "h.json").read_text())}
    assert saved[EPOCH]["change_points"][0]["commit"] == "06c0ffe"
    assert "06c0ffe" in (tmp_path / "h.html").read_text()
    bad = subprocess.run([sys.executable, "-m", "cifar", "history", str(paths[0])], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "history needs at least 2 saved runs, found 1" in bad.stderr


def test_ids_with_brackets_survive_every_table():
    """Issue 15, item 1: the gate, gate-check and summary tables too (history's is above)."""
    from cifar.gate.decide import Comparison
    from cifar.gate.stored import GateReport
    from cifar.gate.check import Rate, render as render_check
    from cifar.gate.report import markdown, render
    from cifar.reports.summary import render_summary

    name = "benchmarks/test_pipeline.py::test_pipeline[seed-npc1-default]"
    report = GateReport([Comparison(name, "unchanged", 0.1, 0.1)], "base [x]")
    assert "test_pipeline[seed-npc1-default]" in render(report) and "base [x]" in render(report)
    assert "test_pipeline[seed-npc1-default]" in markdown(report)
    rates = {arm: {name: Rate(0, 10)} for arm in ("A", "B10", "B5")}
    check = {"policy": {"alpha": 0.01, "floor": 0.02}, "sessions_per_arm": 1, "resamples": 10,
             "pooled_baseline_sessions": 3, "real": rates, "resampled": {"default": rates},
             "effective_slowdown": {name: {"B10": 0.1, "B5": 0.05}}}
    assert "test_pipeline[seed-npc1-default]" in render_check(check)
    entries = [{"case": "matmul-[weird]", "workload": "matmul", "threads": threads, "durations_seconds": [1.0],
                "items_per_s_median": 1.0, "unit": "products", "oversubscribed": False, "contended": False,
                "contention_other_fraction": 0.0} for threads in ("default", "intra1-inter1")]
    entries.append({**entries[0], "case": "pipeline-seed-[x]", "workload": "pipeline", "pipeline_id": "seed-[x]"})
    text = render_summary(entries)
    assert "matmul-[weird]" in text and "seed-[x]" in text


def test_the_detector_finds_a_20_percent_step_in_this_machines_noise():
    """The comparison with Apache Otava (docs/history.md) found the detector blind to 20 % steps at a per-run noise
    of 10 % (11 % of series, Otava 84 %): each side's own variance, near zero for a side of 2-3 runs, made the
    statistic peak at the series' ends. With the pooled variance it finds them as often as Otava does."""
    import numpy as np

    from cifar.reports.history import change_points

    rng = np.random.default_rng(7)
    found = 0
    for _ in range(50):
        values = 1.0 + 0.10 * rng.standard_normal(24)
        values[12:] *= 0.8
        found += any(abs(cp.index - 12) <= 1 for cp in change_points(list(values)))
    assert found >= 40  # 80 % or more


def test_no_step_gives_few_false_change_points():
    import numpy as np

    from cifar.reports.history import change_points

    rng = np.random.default_rng(8)
    false = sum(len(change_points(list(1.0 + 0.10 * rng.standard_normal(24)))) for _ in range(50))
    assert false <= 3


def test_latest_and_the_history_order_runs_alike_by_their_own_time_not_file_time(tmp_path, monkeypatch, capsys):
    """Issue 28, item 7: ``gate latest`` picked the newest file time while the history orders runs by their own
    datetime; after a clone or a copy the two disagree, and ``latest`` gated an old run."""
    import os

    from cifar import cli
    from cifar.suite.runfile import saved_runs

    folder = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    folder.mkdir(parents=True)
    newer = write(folder / "0001_newer.json", make_run({EPOCH: noisy(0.25, seed=1)}, datetime="2026-12-02T10:00:00"))
    older = write(folder / "0002_older.json", make_run({EPOCH: noisy(0.25, seed=2)}, datetime="2026-12-01T10:00:00"))
    os.utime(newer, (1_000_000, 1_000_000))  # copied last year, say
    os.utime(older, (2_000_000, 2_000_000))
    monkeypatch.chdir(tmp_path)
    assert [p.resolve() for p in saved_runs()] == [older, newer]
    assert [label for label, _ in read_runs(saved_runs())] == ["0002_older", "0001_newer"]
    assert cli.main(["gate", "latest", "--baselines", str(tmp_path / "none"), "--no-remeasure"]) == 3
    assert "0001_newer.json" in capsys.readouterr().out


def test_runs_from_before_the_unit_was_recorded_are_never_mixed_into_an_items_per_s_series(tmp_path):
    """Issue 28, item 9 (suspected, confirmed): a series took its unit from its first run, so older runs without
    a unit put seconds per round (0.25) and newer ones images/s (5,120) into one line, and its change point."""
    old = [write(tmp_path / f"{i}.json", make_run({EPOCH: noisy(0.25, seed=i)}, datetime=f"2026-11-0{i + 1}T10:00:00"))
           for i in range(3)]
    new = [write(tmp_path / f"n{i}.json", make_run({EPOCH: noisy(0.25, seed=10 + i)},
                                                   extra=epoch_extra(EPOCH, "epoch-seed_cnn-arrays", "default"),
                                                   datetime=f"2026-11-1{i}T10:00:00")) for i in range(3)]
    series = history(read_runs(old + new))
    assert sorted((s.unit, len(s.points)) for s in series) == [("images/s", 3), ("s per round", 3)]
    for s in series:
        values = s.values()
        assert max(values) / min(values) < 1.2 and not s.change_points  # one unit per series: no fake step


def process_runs(tmp_path, n=12, step_at=6):
    """Runs whose benchmark ran in 3 processes each (recorded per process, as the suite records them)."""
    from tests.runs import processes

    paths = []
    for i in range(n):
        level = 0.25 if i < step_at else 0.30
        per_process = processes(level, n=3, rounds=4, cv=0.03, seed=i)
        extra = {EPOCH: {"unit": "images", "items_per_round": 1280, "case": "epoch-seed_cnn-arrays",
                         "threads": "default", "durations_per_process": per_process}}
        run = make_run({EPOCH: [d for p in per_process for d in p]}, extra=extra,
                       datetime=f"2026-11-{10 + i:02d}T00:00:00", commit=f"{i:02d}c0ffee{i:02d}aa")
        paths.append(write(tmp_path / f"{i:04d}_proc.json", run))
    return paths


def test_each_point_carries_its_processes_and_each_stable_stretch_a_run_to_run_band(tmp_path):
    from statistics import geometric_mean

    from cifar.reports.history import BAND_RUNS, bands

    (epoch,) = history(read_runs(process_runs(tmp_path)))
    for p in epoch.points:
        assert len(p.processes) == 3
        assert p.value == pytest.approx(geometric_mean(p.processes))  # the value is the processes' centre
    (cp,) = epoch.change_points
    assert cp.index == 6
    before, after = bands(epoch)
    assert (before.first, before.last, before.runs) == (0, 5, 6) and (after.first, after.last) == (6, 11)
    for band, segment in ((before, epoch.points[:6]), (after, epoch.points[6:])):
        assert band.low < band.centre < band.high
        assert band.centre == pytest.approx(geometric_mean([p.value for p in segment]))
    assert before.low > after.high  # 20 % slower with ~3 % noise: the two bands do not overlap
    # Too few runs since the last change: no band there (its spread is not known yet).
    (short,) = history(read_runs(process_runs(tmp_path, n=6 + BAND_RUNS - 1)))
    assert [b.first for b in bands(short)] == [0]
    assert "bands" in short.to_dict() and len(short.to_dict()["bands"]) == 1


def test_the_plot_starts_at_zero_and_draws_processes_and_bands(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cifar.reports.historyplot import _draw, _svg

    series = history(read_runs(process_runs(tmp_path)))
    ((case, fp, members),) = groups(series)
    fig, ax = plt.subplots()
    _draw(ax, case, fp, members)
    low, high = ax.get_ylim()
    assert low == 0 and high > max(v for p in members[0].points for v in p.processes)
    assert "axis from 0" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["default", "its processes", "run-to-run band"]  # one entry each, though two bands
    plt.close(fig)
    svg = _svg(case, fp, members)
    name = members[0].short_name
    assert svg.count(f'id="band-{name}') == 2 and svg.count(f'id="processes-{name}') == 1


def test_the_band_holds_about_95_percent_of_the_next_runs():
    """Issue 38, item 7: median ± 2 robust sd of 4-6 runs, drawn from the runs themselves, held far fewer than the
    ~95 % "a dip inside the band is noise" implies. The band is a t prediction interval: a run left out of a
    stretch falls inside the band of the others about 95 % of the time (log-normal runs, 5 or 6 a stretch)."""
    from cifar.reports.history import BAND_RUNS, Point, Series, band_coverage, band_of

    rng = np.random.default_rng(7)
    series = []
    for k in range(400):
        n = BAND_RUNS + 1 + k % 2
        values = np.exp(rng.normal(np.log(1000.0), 0.05, size=n))
        s = Series(f"b{k}", "fp", "case", "default", "images/s")
        s.points = [Point(f"r{i}", i, "abc1234", "2026-12-03", float(v), False, False) for i, v in enumerate(values)]
        series.append(s)
    inside, checked = band_coverage(series)
    assert checked == sum(len(s.points) for s in series)
    assert 0.93 <= inside / checked <= 0.97, inside / checked
    centre, low, high = band_of([1.0, 1.1, 0.9, 1.05])
    assert low < 0.9 and high > 1.1 and low < centre < high  # wider than the runs it was drawn from


def test_seconds_per_round_are_shown_in_their_unit(tmp_path):
    """Issue 38, item 7: the HTML table printed "ms" values beside the unit "s per round"."""
    from cifar.reports.history import Point, Series
    from cifar.reports.historyplot import html_page

    s = Series("benchmarks/test_micro.py::test_matmul[matmul-default]", "fp", "matmul", "default", "s per round")
    s.points = [Point(f"r{i}", i, "abc1234", "2026-12-03", 0.6125, False, False) for i in range(2)]
    page = html_page([s], tmp_path / "h.html").read_text()
    assert "<td>0.6125</td><td>s per round</td>" in page and " ms" not in page


def test_history_of_a_file_that_does_not_exist_names_it(tmp_path):
    """Issue 38, item 8: `history /nonexistent.json` said "needs at least 2 saved runs, found 1"."""
    proc = subprocess.run([sys.executable, "-m", "cifar", "history", "/nonexistent.json", "--plot",
                           str(tmp_path / "h.png")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: history: no such run file: /nonexistent.json"

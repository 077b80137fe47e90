"""The history page in a real headless browser (Debian's Chromium): it opens from disk, its script runs, and the
plots and every benchmark id are on the rendered page.

`.ci/run` installs Chromium and sets CIFAR_REQUIRE_BROWSER=1, so there a missing browser fails instead of
skipping; elsewhere the test says it could not look."""

import os
import shutil
import subprocess
import tempfile

import pytest

from cifar.reports.history import history, read_runs
from cifar.reports.historyplot import html_page
from tests.test_history import EPOCH, PIPE, series_runs

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

#: Needs a program from Debian's packages (.ci/run installs it): the long tier, make test-all.
pytestmark = pytest.mark.long


def _browser() -> str | None:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None and os.environ.get("CIFAR_REQUIRE_BROWSER"):
        pytest.fail(f"no headless browser ({', '.join(BROWSERS)}) but CIFAR_REQUIRE_BROWSER is set: "
                    ".ci/run installs Debian's chromium")
    return found


def test_history_page_renders_its_plots_and_ids_in_chromium(tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip(f"no headless browser ({', '.join(BROWSERS)}): the page was not checked in one")
    page = html_page(history(read_runs(series_runs(tmp_path))), tmp_path / "history.html")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                               "--dump-dom", page.resolve().as_uri()],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-plots="2"' in dom  # the page's own script ran and counted both plots
    assert dom.count("<svg") >= 2 and "2 plots" in dom
    for name in (EPOCH, PIPE):
        assert name.split("::")[-1] in dom
    assert "06c0ffe" in dom and "-16." in dom  # the step, at the first slowed run's commit, with its size


def _chromium(browser, *args):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                               "--no-first-run", "--disable-background-networking", "--disable-component-update",
                               "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args],
                              capture_output=True, text=True, timeout=120)


def test_history_page_shows_processes_bands_and_a_zero_based_axis_in_chromium(tmp_path):
    """Issue 32, item 1: each run with its processes, the run-to-run band, the axis from zero; rendered by a real
    browser, with a screenshot kept beside the page (its path is printed: pytest -s, or the failure report)."""
    from tests.test_history import process_runs

    browser = _browser()
    if browser is None:
        pytest.skip(f"no headless browser ({', '.join(BROWSERS)}): the page was not checked in one")
    series = history(read_runs(process_runs(tmp_path)))
    page = html_page(series, tmp_path / "history.html")
    proc = _chromium(browser, "--dump-dom", page.resolve().as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-plots="1"' in dom and "1 plots" in dom
    name = series[0].short_name
    assert dom.count(f'id="band-{name}') == 2 and f'id="processes-{name}' in dom
    assert "axis from 0" in dom and "its processes" in dom and "run-to-run band" in dom
    shot = tmp_path / "history.png"
    proc = _chromium(browser, f"--screenshot={shot}", "--window-size=1000,900", page.resolve().as_uri())
    assert proc.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", proc.stderr[-2000:]
    print(f"screenshot of the history page: {shot}")

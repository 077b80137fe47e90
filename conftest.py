"""Command-line options of the benchmark suite, and pytest-benchmark's machine info.

Options are registered here (the root conftest) so that both ``pytest benchmarks/`` and ``pytest`` accept
them; only ``benchmarks/`` uses them. ``pytest --help`` lists them under "cifar thread benchmarks".
"""

from __future__ import annotations

import os
import time

import pytest

from cifar.suite.record import CAMPAIGN, ENVIRONMENT, SESSION_START, SETTINGS, session_phases
from cifar.suite.settings import SuiteSettings, build_cases
from cifar.training.data import SOURCES
from cifar.training.threads import parse_grid


# tests/ runs pytest inside pytest to check what pytest-benchmark saves; plugins can only be named here.
pytest_plugins = ["pytester"]


def pytest_addoption(parser):
    group = parser.getgroup("cifar", "cifar thread benchmarks")
    group.addoption("--thread-grid", default="auto",
                    help="thread configurations, INTRAxINTER comma-separated (e.g. 1x1,2x1,4x2,default), "
                         "or 'auto': 1, physical, logical, 2x logical, the article's 4x2, default [auto]; "
                         "tune:reports/tune.json: what python -m cifar tune recommended: its threads and the default "
                         "for every case, and the setting as a whole beside the default in test_epoch[MODEL-tuned]")
    group.addoption("--quick", action="store_true", help="a small suite (3 configurations, seed_cnn only): ~1 minute")
    group.addoption("--data", default="auto", help=f"{' | '.join(SOURCES)} | PATH to CIFAR-10 | pkg.module:function "
                                                   "returning (x uint8 images, y labels) [auto]")
    group.addoption("--models", default=None,
                    help="comma-separated: seed_cnn,resnet20, or your own as pkg.module:function "
                                                   "returning a Keras model [seed_cnn, the article's]")
    group.addoption("--epoch-steps", default=None,
                    help="training steps per measured epoch [seed_cnn 20, resnet20 6; --quick: 10]")
    group.addoption("--runner", default="zygote", help="zygote (fork from a TensorFlow-preloaded process) | spawn")
    group.addoption("--passes", default=None,
                    help="fresh processes per configuration and case, interleaved [quick 1; default 3, 2 for the "
                         "calibration]; fixes every case's passes (no adaptive effort unless --max-passes)")
    group.addoption("--max-passes", default=None,
                    help="adaptive effort: add passes, up to N, to each case measured under several configurations "
                         "while its best-vs-default 95 %% interval is wider than ±3 %% [6 for the compute cases; "
                         "none with --quick or --passes]")
    group.addoption("--passes-for", action="append", default=[], metavar="PATTERN=N",
                    help="N passes for the cases whose test id without the configuration matches PATTERN "
                         "(fnmatch, e.g. 'test_pipeline?seed-npc*=32' for test_pipeline[seed-npc1]); repeatable, last "
                         "match wins")
    group.addoption("--skip-cases", action="append", default=[], metavar="PATTERN",
                    help="leave out the cases whose test id without the configuration matches PATTERN (fnmatch, "
                         "e.g. 'test_epoch?seed_cnn-batched-*'); repeatable")
    group.addoption("--pinned", action="append", default=[], metavar="PATTERN",
                    help="the cases whose test id without the configuration matches PATTERN (fnmatch, e.g. "
                         "'test_matmul*') also run pinned: 1x1 threads on one CPU, a steadier code-regression "
                         "detector beside the other configurations; repeatable")
    group.addoption("--sequential", action="store_true",
                    help="a paired run's looks: each configuration of a case stops at 8, 12, ... pairs once they "
                         "exclude its tolerated slowdown and the gate's test does not fail (the paired gate's setting)")
    group.addoption("--budget", default=None, metavar="DURATION",
                    help="with --sequential: the session's time (10m, 600s) within which configurations still "
                         "unresolved after their pairs get more, 4 at a time, up to twice as many; the gate's "
                         "alpha is spent across those looks (docs/gate.md)")
    group.addoption("--baseline-tree", default=None, metavar="PATH",
                    help="(write --baseline-tree=PATH, with '=') a checkout of the baseline code (git worktree add "
                         "--detach PATH main): every benchmark "
                         "also runs there, in its own processes, interleaved with this tree's (A B B A); "
                         "`python -m cifar gate` then compares the two arms of this one session")


def _budget(text: str | None) -> float | None:
    if text is None:
        return None
    from cifar.tuning.search import TuneError, parse_budget

    try:
        return parse_budget(text)
    except TuneError as err:
        raise ValueError(str(err)) from None


def _int_option(config, name: str, flag: str) -> int | None:
    value = config.getoption(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{flag} must be an integer, got {value!r}") from None


def _pattern_count(text: str) -> tuple[str, int]:
    pattern, sep, count = text.rpartition("=")
    if not sep or not pattern:
        raise ValueError(f"--passes-for must look like PATTERN=N (e.g. 'test_pipeline?seed-npc*=32'), got {text!r}")
    try:
        return pattern, int(count)
    except ValueError:
        raise ValueError(f"--passes-for {text!r}: N must be an integer, got {count!r}") from None


def settings_from_options(config) -> SuiteSettings:
    """Validate the options into `SuiteSettings`; a bad value is a usage error naming it."""
    try:
        grid_text = config.getoption("thread_grid")
        tuned = None
        if grid_text.startswith("tune:"):  # a tune report's threads and default, and its setting as a whole
            from cifar.tuning.report import guard_from_report

            guard = guard_from_report(grid_text[len("tune:"):])
            grid_text, tuned = guard["grid"], guard["tuned"]
        grid = None if grid_text == "auto" else tuple(parse_grid(grid_text))
        models = config.getoption("models")
        steps = _int_option(config, "epoch_steps", "--epoch-steps")
        passes = _int_option(config, "passes", "--passes")
        max_passes = _int_option(config, "max_passes", "--max-passes")
        passes_for = tuple(_pattern_count(text) for text in config.getoption("passes_for"))
        tree = config.getoption("baseline_tree")
        settings = SuiteSettings(
            quick=config.getoption("quick"),
            data=config.getoption("data"),
            models=None if models is None else tuple(m.strip() for m in models.split(",") if m.strip()),
            epoch_steps=steps,
            grid=grid,
            runner=config.getoption("runner"),
            passes=passes,
            max_passes=max_passes,
            passes_for=passes_for,
            baseline_tree=None if tree is None else os.path.abspath(tree),
            skip=tuple(config.getoption("skip_cases")),
            sequential=config.getoption("sequential"),
            pinned=tuple(config.getoption("pinned")),
            budget=_budget(config.getoption("budget")),
            tuned=tuned,
        )
        if settings.sequential and settings.baseline_tree is None:
            raise ValueError("--sequential looks at the pairs of a paired run: it needs --baseline-tree=PATH")
        build_cases(settings)  # e.g. a --passes-for pattern that matches no case
        if settings.user_functions:
            from cifar.suite.usercheck import check_user_functions

            check_user_functions(settings.model_list, settings.data)
        return settings
    except ValueError as err:
        raise pytest.UsageError(str(err)) from None


def pytest_sessionstart(session):
    session.config.stash[SESSION_START] = time.time()


def pytest_configure(config):
    config.stash[SETTINGS] = settings_from_options(config)
    # Keep every round in saved runs (not just the statistics): the regression gate tests distributions.
    if hasattr(config.option, "benchmark_save_data"):
        config.option.benchmark_save_data = True


def pytest_benchmark_update_machine_info(config, machine_info):
    from cifar.suite.record import machine_info as cifar_machine_info

    machine_info["cifar"] = cifar_machine_info(config.stash.get(ENVIRONMENT, {}))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    """Record the suite's options in the run, so the gate can re-measure a benchmark the same way, and the run
    file's format version (cifar.suite.runfile)."""
    from cifar.suite.record import narrowed_by
    from cifar.suite.runfile import FORMAT, FORMAT_KEY

    output_json[FORMAT_KEY] = FORMAT
    output_json["cifar_settings"] = config.stash[SETTINGS].to_dict()
    output_json["cifar_selection"] = {"narrowed_by": narrowed_by(config.option.keyword, config.option.markexpr,
                                                                  config.args, config.invocation_params.dir)}
    campaign = config.stash.get(CAMPAIGN, None)
    if campaign is not None:
        output_json["cifar_phases"] = session_phases(config, campaign)

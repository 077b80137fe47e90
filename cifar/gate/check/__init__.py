"""Proof that the gate works: real A/A and A/B sessions, plus many-session rates resampled from them.

Two gates can be checked. ``paired`` (the default, what CI uses): a session is one ``pytest benchmarks/
--baseline-tree=ROOT`` run, both arms in it, processes interleaved; arm B of an A/B session injects the
slowdown into the current arm only. ``history``: a session is a plain run, compared with 3 other A sessions
pooled as stored baselines would be. What follows describes the history check; the paired one mirrors it
with each process's value as the estimator defines it, its rounds' mean (see `paired_real_rates`,
`paired_resampled_rates`).

A session is a real ``pytest benchmarks/`` run (by default the quick suite under TensorFlow's default
threads). Arm A runs unchanged; arm B runs with ``CIFAR_BENCH_INJECT_SLOWDOWN`` set (10 % and 5 %), a real
busy-wait inside every timed round in the child. Sessions of the arms are interleaved (A, B10, B5, A, B5,
B10, …) so machine drift hits all arms alike.

Two kinds of figures come out, and the report keeps them apart:
  * real: the gate applied to actual pairs of sessions (A/A: consecutive A sessions; A/B: each A session
    with the following B session), with the re-measurement taken from the next session of the same arm;
  * resampled: many synthetic sessions, each built by drawing rounds with replacement from one real
    session, baseline and current drawn from *different* real sessions (so session-to-session variation
    stays in), the re-measurement from a third. Rates come with Wilson 95 % intervals.

The paired check resamples pairs of processes pooled over an arm's sessions (a pair's ratio cancels the
drift between sessions), tests that the sessions centre alike, and also reports the older, conservative
figure drawn from one session at a time (`paired_resampled_rates`).
"""

from cifar.gate.check.rates import (ARMS, FLOORS, HETEROGENEITY_ALPHA, MIN_HISTORY_SESSIONS, PAIRED_VARIANTS,
                                           POOLED, Rate, check_history_sessions, contended_pair_counts,
                                           detectable_check, effective_slowdowns, paired_effects, paired_passed_rates,
                                           paired_real_rates,
                                           paired_resampled_rates, real_rates, resampled_rates, session_heterogeneity)
from cifar.gate.check.report import render, to_json
from cifar.gate.check.sessions import (DEFAULT_KEEP, DEFAULT_PYTEST_ARGS, PAIRED_PYTEST_ARGS, SessionFailed,
                                              gate_check, load_sessions, report_from_runs, run_session, schedule)

__all__ = ["ARMS", "DEFAULT_KEEP", "DEFAULT_PYTEST_ARGS", "SessionFailed", "FLOORS", "HETEROGENEITY_ALPHA",
           "MIN_HISTORY_SESSIONS", "PAIRED_PYTEST_ARGS",
           "PAIRED_VARIANTS", "POOLED", "Rate", "check_history_sessions", "contended_pair_counts", "detectable_check",
           "effective_slowdowns", "gate_check", "load_sessions", "paired_effects", "paired_passed_rates",
           "paired_real_rates",
           "paired_resampled_rates", "real_rates", "render", "report_from_runs", "resampled_rates", "run_session",
           "schedule", "session_heterogeneity", "to_json"]

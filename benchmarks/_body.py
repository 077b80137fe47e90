"""The one benchmark body every test in benchmarks/ shares."""

import os

from cifar.suite.record import extra_info, paired_info, record
from cifar.suite.settings import Variant


def run_case(benchmark, campaign, case, threads):
    result = campaign.result(case, threads)
    durations = result["durations_seconds"]
    assert durations and all(d > 0 for d in durations), durations
    applied = result["threads_applied"]
    # Read back what the child really used: a setting that did not take would make the numbers lie.
    for name in ("intra_op_parallelism_threads", "inter_op_parallelism_threads"):
        assert applied[name] == getattr(threads, name), (name, applied, threads)
    if isinstance(threads, Variant):  # a whole setting: its cores and its TensorFlow's environment took too
        if threads.cpus is not None:  # the child's affinity, read back: the first CPUs this process may use
            assert result.get("cpus") == sorted(os.sched_getaffinity(0))[:threads.cpus], (result.get("cpus"), threads)
        for name, value in threads.env.items():
            assert result["environment_applied"].get(name) == value, (name, result["environment_applied"], threads)
        if threads.setting:  # the tuner's setting, every dimension read back as the tuner reads it back
            from cifar.tuning.space import Setting

            wrong = Setting.from_dict(threads.setting).not_applied(result)
            assert wrong is None, (wrong, threads)
    info = extra_info(case, threads, result)
    if campaign.baseline is not None:
        info["paired_baseline"] = paired_info(campaign.baseline.tree, campaign.baseline_result(case, threads))
        if isinstance(threads, Variant) and threads.cpus is not None and "error" not in info["paired_baseline"]:
            # The baseline arm's children ran on the same CPUs, or the pairs would compare placements.
            assert info["paired_baseline"]["cpus"] == result["cpus"], (info["paired_baseline"], threads)
    benchmark.group = case.name
    if benchmark.enabled:
        record(benchmark, durations, info)
        campaign.recorded.append({**info, "durations_seconds": durations})

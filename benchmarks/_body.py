"""The one benchmark body every test in benchmarks/ shares."""

from cifar.suite.record import extra_info, paired_info, record


def run_case(benchmark, campaign, case, threads):
    result = campaign.result(case, threads)
    durations = result["durations_seconds"]
    assert durations and all(d > 0 for d in durations), durations
    applied = result["threads_applied"]
    # Read back what the child really used: a setting that did not take would make the numbers lie.
    for name in ("intra_op_parallelism_threads", "inter_op_parallelism_threads"):
        assert applied[name] == getattr(threads, name), (name, applied, threads)
    info = extra_info(case, threads, result)
    if campaign.baseline is not None:
        info["paired_baseline"] = paired_info(campaign.baseline.tree, campaign.baseline_result(case, threads))
    benchmark.group = case.name
    if benchmark.enabled:
        record(benchmark, durations, info)
        campaign.recorded.append({**info, "durations_seconds": durations})

"""The one benchmark body every test in benchmarks/ shares."""

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
        if threads.cpus is not None:
            assert len(result.get("cpus") or ()) == threads.cpus, (result.get("cpus"), threads)
        for name, value in threads.env.items():
            assert result["environment_applied"].get(name) == value, (name, result["environment_applied"], threads)
        if "TF_ENABLE_ONEDNN_OPTS" in threads.env:  # and TensorFlow did what the variable asks
            want = threads.env["TF_ENABLE_ONEDNN_OPTS"] != "0"
            assert result.get("onednn_applied") == want, (result.get("onednn_applied"), threads)
    info = extra_info(case, threads, result)
    if campaign.baseline is not None:
        info["paired_baseline"] = paired_info(campaign.baseline.tree, campaign.baseline_result(case, threads))
    benchmark.group = case.name
    if benchmark.enabled:
        record(benchmark, durations, info)
        campaign.recorded.append({**info, "durations_seconds": durations})

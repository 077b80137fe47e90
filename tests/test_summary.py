"""The end-of-session summary on fake child results."""

import pytest

from cifar.reports.summary import best_configurations, contended, epoch_verdicts, render_summary, slower_oversubscribed


def entry(case, threads, durations, items=1280, workload=None, oversubscribed=False, contended=False,
          per_process=None, **extra):
    """A recorded benchmark; `per_process`: its rounds by process (default: each round from a process of its own)."""
    median = sorted(durations)[len(durations) // 2]
    return {"case": case, "workload": workload or case.split("-")[0], "threads": threads,
            "durations_seconds": durations, "items_per_s_median": items / median, "unit": "images",
            "durations_per_process": per_process or [[d] for d in durations],
            "oversubscribed": oversubscribed, "contended": contended,
            "contention_other_fraction": 0.3 if contended else 0.01, **extra}


def test_best_configuration_and_speedup_over_default():
    entries = [entry("matmul", "default", [1.0, 1.02, 0.98, 1.01, 0.99]),
               entry("matmul", "intra1-inter1", [2.0, 2.04, 1.96, 2.02, 1.98]),
               entry("matmul", "intra2-inter2", [0.5, 0.51, 0.49, 0.505, 0.495])]
    (row,) = best_configurations(entries)
    assert row.best == "intra2-inter2"
    assert row.speedup.ratio == pytest.approx(2.0)
    assert row.speedup.low <= 2.0 <= row.speedup.high
    assert 1.8 < row.speedup.low and row.speedup.high < 2.2


def test_intervals_take_the_process_as_the_unit():
    """Issue 18, item 3: rounds of one process share its state. Two processes per configuration whose rounds agree
    tightly but whose medians differ by 10 %: resampling rounds gave an interval far narrower than that spread;
    over processes it spans what the processes did."""
    tight = [1.00, 1.001, 0.999, 1.0005, 0.9995]
    default = entry("matmul", "default", tight * 2, per_process=[tight, [1.1 * d for d in tight]])
    # The best configuration's second process was the faster one, its default's the slower: not the same pass's
    # drift (pairing cannot cancel it), the processes' own spread.
    best = entry("matmul", "intra2-inter2", [0.7 * d for d in tight] * 2,
                 per_process=[[0.77 * d for d in tight], [0.7 * d for d in tight]])
    (row,) = best_configurations([default, best])
    assert row.speedup.low < 1.3 and row.speedup.high > 1.55  # the spread between processes, not within


def test_configurations_of_a_case_are_paired_by_pass():
    """Issue 18, item 3: in pass 2 the machine ran 30 % slower for every configuration; the per-pass ratios
    are all 2.0, so the paired interval is tight where the unpaired one spans the drift."""
    pass_speed = [1.0, 1.3, 1.0, 1.05]
    by_pass = {"default": [[1.0 * f, 1.001 * f] for f in pass_speed],
               "intra2-inter2": [[0.5 * f, 0.5005 * f] for f in pass_speed]}
    default, best = (entry("conv2d", t, [d for rounds in p for d in rounds], per_process=p) for t, p in by_pass.items())
    (row,) = best_configurations([default, best])
    assert row.speedup.low == pytest.approx(2.0, rel=2e-3) and row.speedup.high == pytest.approx(2.0, rel=2e-3)
    from cifar.stats.estimate import ratio_ci, sample

    unpaired = ratio_ci(sample(default)[0], sample(best)[0])
    assert unpaired.high - unpaired.low > 0.3


def test_one_process_a_side_claims_no_interval():
    default = entry("conv2d", "default", [1.0, 1.01, 0.99], per_process=[[1.0, 1.01, 0.99]])
    faster = entry("conv2d", "intra2-inter2", [0.5, 0.51, 0.49], per_process=[[0.5, 0.51, 0.49]])
    slower = entry("conv2d", "intra8-inter8", [2.0, 2.01, 1.99], oversubscribed=True, per_process=[[2.0, 2.01, 1.99]])
    (row,) = best_configurations([default, faster, slower])
    assert row.best == "intra2-inter2" and row.speedup is None
    assert slower_oversubscribed([default, faster, slower]) == []  # one process cannot show "measurably slower"
    assert "one process a side: no CI" in render_summary([default, faster, slower])
    from cifar.reports.summary import input_comparison

    arrays = entry("epoch-seed_cnn-arrays", "default", [1.0], workload="epoch", model="seed_cnn", pipeline_id="arrays")
    seed = entry("epoch-seed_cnn-seed-npcAUTO", "default", [0.8], workload="epoch", model="seed_cnn",
                 pipeline_id="seed-npcAUTO")
    (row,) = input_comparison([arrays, seed])
    assert row.inputs["seed-npcAUTO"][1] is None
    assert "1,600 (one process a side: no CI)" in render_summary([arrays, seed])


def test_when_default_is_the_fastest_it_is_compared_with_the_runner_up():
    """The summary said "matmul default 1.00x [1.00, 1.00]": default over itself, an interval that cannot be wide.
    How far ahead of the next configuration default is, is what a reader can use."""
    two = [[1.0, 1.0], [1.02, 1.02], [0.98, 0.98]]
    entries = [entry("matmul", "default", [d for p in two for d in p], per_process=two),
               entry("matmul", "intra2-inter2", [1.1 * d for p in two for d in p],
                     per_process=[[1.1 * d for d in p] for p in two]),
               entry("matmul", "intra1-inter1", [2 * d for p in two for d in p],
                     per_process=[[2 * d for d in p] for p in two])]
    (row,) = best_configurations(entries)
    assert (row.best, row.baseline) == ("default", "intra2-inter2")
    assert row.speedup.ratio == pytest.approx(1.1)
    assert "1.10x [1.10, 1.10] over intra2-inter2" in render_summary(entries)


def test_a_pass_a_neighbour_hit_is_left_out_of_the_interval_as_in_the_gate():
    """make bench's conv2d: pass 1 ran while another process used 37-49 % of the CPU, and its ratio was off by 40 %.
    Its pair is left out (the gate's rule), unless over half the passes were contended."""
    quiet, busy = {"contended": False, "other_fraction": 0.01}, {"contended": True, "other_fraction": 0.4}
    default = [[1.6], [1.0], [1.01], [0.99], [1.0]]
    best = [[0.9], [0.8], [0.81], [0.79], [0.8]]
    entries = [entry("conv2d", "default", [d for p in default for d in p], per_process=default,
                     contention_per_process=[busy] + [quiet] * 4),
               entry("conv2d", "intra2-inter2", [d for p in best for d in p], per_process=best,
                     contention_per_process=[busy] + [quiet] * 4)]
    (row,) = best_configurations(entries)
    assert row.speedup.ratio == pytest.approx(1.25, rel=1e-3) and row.speedup.high - row.speedup.low < 0.05
    # The interval rests on 4 processes a side, and "processes needed" must scale from 4, not 5 (issue 28, item 10:
    # this test never checked it, and the row said 5).
    assert row.processes == 4
    for e in entries:
        e["contention_per_process"] = [busy] * 3 + [quiet] * 2  # over half contended: all kept
    (row,) = best_configurations(entries)
    # All 5 kept (n says so); the trimmed interval cuts the odd pass as one of its extremes, so it stays narrow.
    assert row.processes == 5 and row.speedup.ratio == pytest.approx(1.251, rel=1e-3)


def test_without_default_no_speedup_is_claimed():
    (row,) = best_configurations([entry("conv2d", "intra1-inter1", [1.0, 1.1]), entry("conv2d", "intra2-inter2",
                                                                                      [0.9])])
    assert row.speedup is None


def test_a_case_under_one_configuration_has_no_best():
    assert best_configurations([entry("conv2d", "default", [1.0, 1.1])]) == []


def test_pipelines_alone_against_the_articles():
    from cifar.reports.summary import pipeline_comparison

    entries = [entry("pipeline-seed-npcAUTO", "default", [0.1, 0.11, 0.09], workload="pipeline",
                     pipeline_id="seed-npcAUTO"),
               entry("pipeline-batched-npcAUTO", "default", [0.05, 0.055, 0.045], workload="pipeline",
                     pipeline_id="batched-npcAUTO")]
    rows = {pid: ratio for pid, _, _, ratio in pipeline_comparison(entries)}
    assert rows["seed-npcAUTO"] is None and rows["batched-npcAUTO"].ratio == pytest.approx(2.0)
    assert "Input pipelines alone" in render_summary(entries) and "batched-npcAUTO" in render_summary(entries)


def test_oversubscribed_is_called_out_only_when_clearly_slower():
    entries = [entry("conv2d", "default", [1.0, 1.01, 0.99, 1.0]),
               entry("conv2d", "intra8-inter8", [1.5, 1.52, 1.48, 1.5], oversubscribed=True),
               entry("matmul", "default", [1.0, 1.2, 0.8, 1.0]),
               entry("matmul", "intra8-inter8", [1.0, 1.3, 0.9, 1.05], oversubscribed=True)]
    slower = slower_oversubscribed(entries)
    assert [(case, threads) for case, threads, _ in slower] == [("conv2d", "intra8-inter8")]
    assert slower[0][2].ratio == pytest.approx(1 / 1.5, rel=1e-4)  # geometric means of the processes


@pytest.mark.parametrize(("pipeline_s", "step_s", "verdict"), [(0.5, 0.1, "input-bound"), (0.05, 0.2, "compute-bound")])
def test_epoch_verdict_from_pipeline_and_train_step(pipeline_s, step_s, verdict):
    entries = [
        entry("epoch-seed_cnn", "default", [0.6, 0.6, 0.6], workload="epoch", model="seed_cnn",
              pipeline_id="seed-npcAUTO"),
        entry("pipeline-seed-npcAUTO", "default", [pipeline_s] * 3, workload="pipeline"),
        entry("train_step-seed_cnn", "default", [step_s] * 3, workload="train_step"),
    ]
    (v,) = epoch_verdicts(entries)
    assert v.verdict == verdict
    assert v.efficiency == pytest.approx(max(pipeline_s, step_s) / 0.6)


def test_epoch_without_matching_pipeline_gets_no_verdict():
    entries = [entry("epoch-seed_cnn", "default", [0.6], workload="epoch", model="seed_cnn",
                     pipeline_id="seed-npcAUTO"),
               entry("train_step-seed_cnn", "default", [0.1], workload="train_step")]
    assert epoch_verdicts(entries) == []


def test_contended_results_warn_in_the_summary():
    entries = [entry("matmul", "default", [1.0, 1.0]), entry("matmul", "intra1-inter1", [2.0, 2.1], contended=True)]
    assert [e["threads"] for e in contended(entries)] == ["intra1-inter1"]
    text = render_summary(entries)
    assert "WARNING: 1 result(s)" in text and "matmul intra1-inter1" in text
    assert "default" in text and "2.0" not in text.split("WARNING")[0].split("matmul")[0]


def test_a_result_contended_by_steal_time_names_it():
    # The flag counts the hypervisor's steal with other processes (cifar.workloads.timing): a paired session's
    # pipeline was flagged at 0 % others and 11.8 % steal, and the warning printed "other processes ..., 2 %".
    stolen = [{"other_fraction": 0.0, "steal_fraction": 0.118, "contended": True},
              {"other_fraction": 0.02, "steal_fraction": 0.0, "contended": False}]
    entries = [entry("matmul", "default", [1.0, 1.0]),
               entry("matmul", "intra1-inter1", [2.0, 2.1], contended=True, contention_per_process=stolen)]
    entries[1]["contention_other_fraction"] = 0.02  # the largest others' share of any process, as recorded
    line = next(x for x in render_summary(entries, width=400).splitlines() if "WARNING" in x)
    assert "other processes or the hypervisor (steal)" in line
    assert "matmul intra1-inter1, 12% (others 0%, steal 12%)" in line


def test_render_summary_has_every_case():
    entries = [entry("matmul", "default", [1.0]), entry("matmul", "intra1-inter1", [2.0]),
               entry("conv2d", "default", [0.5]), entry("conv2d", "intra1-inter1", [0.7])]
    text = render_summary(entries)
    assert "matmul" in text and "conv2d" in text and "WARNING" not in text


def test_input_comparison_puts_the_article_arrays_beside_the_pipelines():
    from cifar.reports.summary import input_comparison

    def epoch(pipeline_id, threads, durations):
        return entry(f"epoch-seed_cnn-{pipeline_id}", threads, durations, workload="epoch", model="seed_cnn",
                     pipeline_id=pipeline_id)

    entries = [epoch("arrays", "default", [1.0, 1.01, 0.99]), epoch("seed-npcAUTO", "default", [0.8, 0.81, 0.79]),
               epoch("batched-npcAUTO", "default", [0.5, 0.51, 0.49]),
               epoch("seed-npcAUTO", "intra1-inter1", [1.2])]  # no arrays under these threads: no row
    (row,) = input_comparison(entries)
    assert (row.model, row.threads) == ("seed_cnn", "default")
    assert row.inputs["arrays"][1] is None
    assert row.inputs["seed-npcAUTO"][1].ratio == pytest.approx(1.0 / 0.8, rel=1e-4)
    assert row.inputs["batched-npcAUTO"][1].ratio == pytest.approx(2.0, rel=1e-3)
    text = render_summary(entries)
    assert "Epoch by input" in text and "arrays" in text and "batched-npcAUTO" in text


def test_the_summary_says_how_long_its_epochs_were_and_that_short_ones_stand_in_for_whole_ones():
    """Issue 39, item 2: the batched pipeline's gain over the article's arrays was 1.1-1.4x on 10-60-step epochs and
    0.98x on whole ones (docs/performance.md), so the epoch tables name the steps they timed, and short epochs say
    they are a stand-in and how to measure whole ones."""
    def epoch(pipeline_id, durations, steps):
        return entry(f"epoch-seed_cnn-{pipeline_id}", "default", durations, workload="epoch", model="seed_cnn",
                     pipeline_id=pipeline_id, definition={"name": "epoch", "steps": steps})

    def rendered(steps):
        entries = [epoch("arrays", [1.0, 1.01, 0.99], steps), epoch("batched-npcAUTO", [0.9, 0.91, 0.89], steps)]
        entries += [entry("epoch-seed_cnn-arrays", "intra2-inter2", [1.0, 1.02, 0.98], workload="epoch",
                          pipeline_id="arrays", model="seed_cnn", definition={"name": "epoch", "steps": steps})]
        return " ".join(render_summary(entries, width=400).split())

    short = rendered(20)
    assert "epoch: 20-step epochs" in short and "(unpaired); 20-step epochs" in short
    assert "short stand-ins for a whole CIFAR-10 epoch (390 steps)" in short and "--epoch-steps 390" in short
    whole = rendered(390)
    assert "epoch: 390-step epochs" in whole and "stand-in" not in whole
    assert "-step epochs" not in render_summary([entry("matmul", "default", [1.0, 1.01, 0.99]),
                                                 entry("matmul", "intra2-inter2", [0.5, 0.51, 0.49])])


def test_a_case_wider_than_its_target_says_which_noise_holds_it():
    """Issue 39, item 3: where a best-vs-default interval stays wider than ±5 %, the summary names the configuration
    whose processes differ (and by how much beside the other's), and says when a process's own rounds run at more
    than one speed (the arrays epoch's)."""
    noisy = [1.0, 1.3, 0.8, 1.25, 0.9, 1.2]  # default's processes differ by ~20 %
    steady = [0.5, 0.501, 0.499, 0.5, 0.502, 0.498]
    entries = [entry("matmul", "default", noisy), entry("matmul", "intra2-inter2", steady)]
    (row,) = best_configurations(entries)
    assert row.held_by.startswith("default's processes differ by ") and "intra2-inter2's by 0.2%" in row.held_by
    assert "within one process" not in row.held_by
    text = render_summary(entries)
    assert "matmul is wider than ±5% after 6 passes: default's processes differ by" in text
    two_speeds = [[1.0, 2.0, 1.0, 2.1], [2.0, 1.0, 1.9, 1.0], [1.0, 1.0, 2.0, 1.0], [1.1, 2.0, 1.0, 2.0]]
    entries = [entry("epoch-seed_cnn-arrays", t, [d * f for r in two_speeds for d in r],
                     per_process=[[d * f for d in r] for r in two_speeds]) for t, f in (("default", 1.0),
                                                                                      ("intra2-inter2", 0.9))]
    entries[1]["durations_per_process"] = entries[1]["durations_per_process"][::-1]  # another mix in each pass
    (row,) = best_configurations(entries)
    assert row.held_by is not None and "more than one speed in a process" in row.held_by
    tight = [entry("matmul", "default", [1.0, 1.01, 0.99]), entry("matmul", "intra2-inter2", [0.5, 0.505, 0.495])]
    assert best_configurations(tight)[0].held_by is None  # within ±5 %: nothing to explain

"""The tf.data input pipeline alone, no model: batches per second from a fresh iterator each round."""

from __future__ import annotations

from cifar.workloads.timing import measure

#: Untimed batches from each fresh iterator before a pipeline round's clock starts.
PIPELINE_WARM_BATCHES = 6


def pipeline(pipeline: dict | None = None, rounds: int = 10, warmup_rounds: int = 2, batches: int = 20,
             data: str = "synthetic", n_train: int = 10_000, warm_batches: int = PIPELINE_WARM_BATCHES) -> dict:
    """Pull `batches` batches per round from the tf.data pipeline alone (no model).

    Every round starts a fresh iterator (as every Keras epoch does) and pulls `warm_batches` untimed first, so
    the shuffle buffer is full and prefetching has started before the clock does. Why fresh: a long-lived
    iterator keeps whatever speed its threads settled into when it started, and that differed by ~10 % from
    process to process for the per-element pipelines (seed-npc1, measured: between-process CV of the median
    9-11 % with one iterator per process, 4-6 % with one per round; two interleaved runs, 10-12 processes each).
    """
    from cifar.training.data import load_cifar10
    from cifar.training.pipeline import PipelineOptions, make_pipeline

    if warm_batches < 1:
        raise ValueError(f"warm_batches must be >= 1, got {warm_batches}")
    options = PipelineOptions(**(pipeline or {}))
    ds = load_cifar10(data, n_train=n_train, n_test=16)
    dataset = make_pipeline(ds.x_train, ds.y_train, options, repeat=True)
    iterator = None

    def start_iterator():
        nonlocal iterator
        iterator = None  # the previous iterator's threads stop before the next one's start
        iterator = iter(dataset)
        for _ in range(warm_batches):
            next(iterator)

    def run_round():
        for _ in range(batches):
            next(iterator)

    # An injected slowdown is the same busy-wait as everywhere else: with a fresh iterator every round, what
    # prefetching produces while the consumer spins is thrown away with the iterator, so every recorded round
    # is that fraction longer than its own work. (With one long-lived iterator it was not: the next round
    # started from a full buffer, and a 10 % busy-wait showed as -2 % to +7 %.) The work itself can still
    # react a little, as for every workload: docs/gate.md reports the effect measured.
    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds,
                     items_per_round=batches * options.batch_size,
                     before_round=start_iterator)
    result["workload"] = {"name": "pipeline", "pipeline": options.to_dict(), "pipeline_id": options.id,
                          "batches": batches, "batch_size": options.batch_size, "data_source": ds.source,
                          "iterator": "fresh per round", "warm_batches": warm_batches}
    return result



"""The tf.data input pipeline alone: both variants x num_parallel_calls x shared/private thread pool."""

from _body import run_case


def test_pipeline(benchmark, campaign, case, threads):
    run_case(benchmark, campaign, case, threads)

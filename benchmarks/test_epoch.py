"""Short epochs of model.fit over the article's pipeline: the end-to-end number."""

from _body import run_case


def test_epoch(benchmark, campaign, case, threads):
    run_case(benchmark, campaign, case, threads)

"""Microbenchmarks: the article's matmul loop, conv forward+backward, one compiled training step, and the
calibration kernel (1-thread matmul in every session, the regression gate's yardstick)."""

from _body import run_case


def test_calibration(benchmark, campaign, case, threads):
    run_case(benchmark, campaign, case, threads)


def test_matmul(benchmark, campaign, case, threads):
    run_case(benchmark, campaign, case, threads)


def test_conv2d(benchmark, campaign, case, threads):
    run_case(benchmark, campaign, case, threads)


def test_train_step(benchmark, campaign, case, threads):
    run_case(benchmark, campaign, case, threads)

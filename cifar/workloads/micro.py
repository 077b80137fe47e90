"""Microbenchmarks: the article's matmul loop, the calibration kernel, a conv layer pair, one training step."""

from __future__ import annotations

from cifar.workloads.timing import measure

MATMUL_SHAPES = ((2000, 1024), (1024, 1024))
MATMUL_PRODUCTS = 30


def _fixed_batch(batch_size: int, data: str, seed: int = 0):
    from cifar.training.data import load_cifar10

    ds = load_cifar10(data, n_train=max(batch_size, 1024), n_test=16, seed=seed)
    return ds.x_train[:batch_size].astype("float32") / 255.0, ds.y_train[:batch_size], ds.source


def matmul_round(products: int = MATMUL_PRODUCTS):
    """One round of the article's loop, eager: a function that runs `products` x ``tf.matmul`` and waits for the
    last."""
    import tensorflow as tf

    (m, k), (_, n) = MATMUL_SHAPES
    a = tf.random.normal((m, k), seed=1)
    b = tf.random.normal((k, n), seed=2)

    def run_round():
        c = None
        for _ in range(products):
            c = tf.matmul(a, b)
        c[0, 0].numpy()  # block until the last product is really computed

    def run_unit():  # one product, waited for: the warm-up's unit
        tf.matmul(a, b)[0, 0].numpy()

    run_round.unit = run_unit
    return run_round


# -- the workloads -------------------------------------------------------------------------------------
def matmul(rounds: int = 10, warmup_rounds: int = 2, products: int = MATMUL_PRODUCTS, injectable: bool = True,
           session=None) -> dict:
    """The article's loop: `products` x ``tf.matmul`` of (2000x1024)·(1024x1024), fp32, forced to finish.

    ``session``: the ``tf.compat.v1.Session`` of an ``api="compat_v1"`` child (the child passes it): the same
    products then run as graph code in that Session, the TF1 way.
    """
    import tensorflow as tf

    (m, k), (_, n) = MATMUL_SHAPES
    if session is not None:  # compat_v1: the same products, run one at a time in the TF1 Session
        import numpy as np

        rng = np.random.default_rng(0)
        with session.graph.as_default():
            # Constants, not random ops: a random op would be recomputed on every session.run.
            a = tf.constant(rng.standard_normal((m, k), dtype=np.float32))
            b = tf.constant(rng.standard_normal((k, n), dtype=np.float32))
            product = tf.matmul(a, b)

        def run_round():
            for _ in range(products):
                session.run(product.op)  # .op: compute the product without copying it out

        def run_unit():
            session.run(product.op)
    else:
        run_round = matmul_round(products)
        run_unit = run_round.unit

    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds, items_per_round=products, unit="products",
                     injectable=injectable, run_unit=run_unit, units_per_round=products)
    result["gflop_per_s_median"] = result["items_per_s_median"] * 2 * m * k * n / 1e9
    result["workload"] = {"name": "matmul", "products": products}
    return result


def calibration(rounds: int = 5, warmup_rounds: int = 1, products: int = 10) -> dict:
    """The calibration kernel: the article's matmul, run by the suite under one thread in every session.

    The gate divides other benchmarks by it (same session) to cancel machine-wide drift, and uses it to
    compare across machines. Never slowed by ``$CIFAR_BENCH_INJECT_SLOWDOWN``: it measures the machine.
    """
    result = matmul(rounds=rounds, warmup_rounds=warmup_rounds, products=products, injectable=False)
    result["workload"] = {"name": "calibration", "products": products}
    return result


def conv2d(rounds: int = 10, warmup_rounds: int = 2, steps: int = 5, batch_size: int = 128) -> dict:
    """Forward + backward of two 3x3 conv layers (3->32->64 channels) on a CIFAR-shaped batch."""
    import tensorflow as tf

    x = tf.random.uniform((batch_size, 32, 32, 3), seed=1)
    w1 = tf.Variable(tf.random.normal((3, 3, 3, 32), stddev=0.1, seed=2))
    w2 = tf.Variable(tf.random.normal((3, 3, 32, 64), stddev=0.1, seed=3))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
            loss = tf.reduce_mean(tf.square(tf.nn.conv2d(h, w2, 1, "SAME")))
        return tape.gradient(loss, [w1, w2])

    def run_round():
        grads = None
        for _ in range(steps):
            grads = step()
        grads[1].numpy()

    def run_unit():
        step()[1].numpy()

    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds, items_per_round=steps * batch_size,
                     run_unit=run_unit, units_per_round=steps)
    result["workload"] = {"name": "conv2d", "steps": steps, "batch_size": batch_size}
    return result


def train_step(model: str = "seed_cnn", rounds: int = 10, warmup_rounds: int = 2, steps: int = 10,
               batch_size: int = 128, data: str = "synthetic") -> dict:
    """`steps` x ``model.train_on_batch`` on one fixed batch: the compute ceiling, no input pipeline."""
    from cifar.training.models import build_model

    x, y, source = _fixed_batch(batch_size, data)
    net = build_model(model)

    def run_round():
        for _ in range(steps):
            net.train_on_batch(x, y)

    def run_unit():
        net.train_on_batch(x, y)

    result = measure(run_round, rounds=rounds, warmup_rounds=warmup_rounds, items_per_round=steps * batch_size,
                     run_unit=run_unit, units_per_round=steps)
    result["workload"] = {"name": "train_step", "model": model, "parameters": net.count_params(), "steps": steps,
                          "batch_size": batch_size, "data_source": source}
    return result




def matmul_peak(n: int = 2048, repeats: int = 10) -> dict:
    """This machine's fp32 matmul peak through TensorFlow: the best of `repeats` compiled (n x n)·(n x n) products,
    in FLOP/s (2 n^3 per product). The tuner's yardstick for "% of peak"; not a benchmark of the suite."""
    import time

    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    product = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    product(a, b).numpy()  # trace and warm
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return {"flops_per_s": 2.0 * n ** 3 / best, "n": n, "repeats": repeats, "best_seconds": best}

"""Child targets that use real TensorFlow, for the slow tests. They run in runner children only."""

import numpy as np


def learn_synthetic(steps=300, batch_size=64, seed=0):
    """Train seed_cnn on the synthetic set; return the loss before and after, and held-out accuracy."""
    import keras

    from cifar.training.data import synthetic_cifar10
    from cifar.training.models import build_model

    keras.utils.set_random_seed(seed)  # Keras 3 initializes weights from its own seed, not tf.random.set_seed alone
    ds = synthetic_cifar10(steps * batch_size, 1000, seed=seed)
    x = ds.x_train.astype("float32") / 255.0
    model = build_model("seed_cnn")
    x_test = ds.x_test.astype("float32") / 255.0
    before = model.evaluate(x_test, ds.y_test, verbose=0)[0]
    model.fit(x, ds.y_train, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    after, accuracy = model.evaluate(x_test, ds.y_test, verbose=0)
    return {"loss_before": float(before), "loss_after": float(after), "accuracy": float(accuracy)}


def pipeline_stats(variant, n=1024, batch_size=128, num_parallel_calls=-1, private_threadpool_size=0):
    """Run a pipeline over known images without shuffling; report shapes, dtypes, range, flip share."""
    from cifar.training.data import synthetic_cifar10
    from cifar.training.pipeline import PipelineOptions, make_pipeline

    ds = synthetic_cifar10(n, 10, seed=1)
    # shuffle_buffer=1 keeps the order, so each output can be matched to its input image.
    options = PipelineOptions(variant, batch_size=batch_size, shuffle_buffer=1, seed=7,
                              num_parallel_calls=num_parallel_calls, private_threadpool_size=private_threadpool_size)
    originals = ds.x_train.astype("float32") / 255.0
    flipped = same = other = 0
    shapes, dtypes, labels = set(), set(), []
    lo, hi = np.inf, -np.inf
    i = 0
    for images, y in make_pipeline(ds.x_train, ds.y_train, options):
        images = images.numpy()
        shapes.add(tuple(images.shape[1:]))
        dtypes.add((str(images.dtype), y.dtype.name))
        lo, hi = min(lo, float(images.min())), max(hi, float(images.max()))
        labels.extend(y.numpy().tolist())
        for img in images:
            if np.allclose(img, originals[i], atol=1e-6):
                same += 1
            elif np.allclose(img, originals[i][:, ::-1], atol=1e-6):
                flipped += 1
            else:
                other += 1
            i += 1
    return {"n": i, "shapes": sorted(shapes), "dtypes": sorted(dtypes), "min": lo, "max": hi,
            "flipped": flipped, "same": same, "other": other,
            "labels_match": labels == ds.y_train.tolist()}


def op_then_configure():
    """Runs an op, then tries to set threads: the pitfall `apply_thread_config` must name."""
    import tensorflow as tf

    from cifar.training.threads import ThreadConfig, apply_thread_config

    tf.constant(1.0) + 1.0
    apply_thread_config(ThreadConfig(1, 1))
    return {}


def model_facts(name):
    from cifar.training.models import build_model

    model = build_model(name)
    layers = []
    for layer in model.layers:
        config = layer.get_config()
        layers.append([type(layer).__name__] + [config[k] for k in ("filters", "kernel_size", "units", "activation")
                                                if k in config])
    metrics = [m for m in model.metrics_names if m not in ("loss", "compile_metrics")]
    compiled = model._compile_config.config if getattr(model, "_compile_config", None) else {}
    return {"params": model.count_params(), "output_shape": list(model.output_shape),
            "input_shape": list(model.input_shape), "layers": layers,
            "loss": model.loss, "optimizer": type(model.optimizer).__name__.lower(),
            "metrics": compiled.get("metrics", metrics)}


def pipeline_injected(inject: str, batches: int):
    """The pipeline workload with an injected slowdown set in this child only; records every spin."""
    import os

    from cifar import workloads
    from cifar.workloads import timing

    spins = []
    real_busy_wait = timing.busy_wait

    def recording_busy_wait(seconds):
        spins.append(seconds)
        real_busy_wait(seconds)

    timing.busy_wait = recording_busy_wait
    os.environ[workloads.INJECT_ENV] = inject
    result = workloads.pipeline({"variant": "batched", "batch_size": 16}, rounds=3, warmup_rounds=1, batches=batches,
                                n_train=512)
    return {"injected_slowdown": result["injected_slowdown"], "items_per_round": result["items_per_round"],
            "durations": result["durations_seconds"], "spins": spins}

"""tf.data input pipelines for CIFAR-10: the article's (``seed``), a vectorized one (``batched``) and a heavy one.

``seed`` is the article's pipeline exactly: float32 tensors in [0, 1], ``shuffle(10000)``, a per-image
``map(random_flip_left_right, num_parallel_calls=AUTOTUNE)``, ``batch(128)``, ``prefetch(AUTOTUNE)``.
``batched`` (beyond the article) keeps uint8 until after ``batch`` and then casts, normalizes and flips a
whole batch in one vectorized map: 4x less data to shuffle and one map call per batch instead of per image.
``heavy`` (beyond the article) does what the article says can make the input the bottleneck — "decoding,
augmenting, and batching images": the images are stored as JPEG, as real image data sets are, and each is
decoded and augmented on its own with SimCLR's recipe (random resized crop, flip, colour jitter, blur).

``seed`` and ``batched`` yield ``(images float32 (B, 32, 32, 3) in [0, 1], labels)`` with about half the images
flipped; ``heavy`` yields the same shapes and range, its images changed by every augmentation.
The article's own script uses no tf.data at all: ``model.fit`` on float32 arrays (`ARRAYS`, see cifar.training.script).
TensorFlow is imported when a pipeline is built, never at import of this module.

>>> from cifar.training.pipeline import PipelineOptions, make_pipeline
>>> ds = make_pipeline(x_train, y_train, PipelineOptions("batched", num_parallel_calls=2))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

VARIANTS = ("seed", "batched", "heavy")
#: The article's script feeds ``model.fit`` float32 arrays, no tf.data: the input "pipeline" named ``arrays``.
ARRAYS = "arrays"
#: JPEG quality of the stored images of the ``heavy`` pipeline.
JPEG_QUALITY = 90
#: Same value as ``tf.data.AUTOTUNE``; kept here so building options never imports TensorFlow.
AUTOTUNE = -1


def _check(name: str, value, minimum: int, allow_autotune: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if allow_autotune and value == AUTOTUNE:
        return
    if value < minimum:
        extra = " or AUTOTUNE (-1)" if allow_autotune else ""
        raise ValueError(f"{name} must be >= {minimum}{extra}, got {value!r}")


@dataclass(frozen=True)
class PipelineOptions:
    """How to build the input pipeline. Names follow tf.data; ``AUTOTUNE`` (-1) lets tf.data decide,
    0 for ``private_threadpool_size`` / ``max_intra_op_parallelism`` means tf.data's default.

    >>> PipelineOptions().id
    'seed-npcAUTO'
    >>> PipelineOptions("batched", num_parallel_calls=2, private_threadpool_size=2).id
    'batched-npc2-pool2'
    """

    variant: str = "seed"
    batch_size: int = 128
    num_parallel_calls: int = AUTOTUNE
    private_threadpool_size: int = 0
    max_intra_op_parallelism: int = 0
    prefetch: int = AUTOTUNE
    shuffle_buffer: int = 10_000
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"pipeline variant must be one of {VARIANTS}, got {self.variant!r}")
        _check("batch_size", self.batch_size, 1)
        _check("num_parallel_calls", self.num_parallel_calls, 1, allow_autotune=True)
        _check("private_threadpool_size", self.private_threadpool_size, 0)
        _check("max_intra_op_parallelism", self.max_intra_op_parallelism, 0)
        _check("prefetch", self.prefetch, 0, allow_autotune=True)
        _check("shuffle_buffer", self.shuffle_buffer, 1)
        if self.seed is not None:
            _check("seed", self.seed, 0)

    @property
    def id(self) -> str:
        npc = "AUTO" if self.num_parallel_calls == AUTOTUNE else str(self.num_parallel_calls)
        text = f"{self.variant}-npc{npc}"
        if self.private_threadpool_size:
            text += f"-pool{self.private_threadpool_size}"
        if self.max_intra_op_parallelism:
            text += f"-maxintra{self.max_intra_op_parallelism}"
        return text

    def to_dict(self) -> dict:
        return asdict(self)


def check_pipeline_threads(options: PipelineOptions, logical: int | None = None) -> list[str]:
    """The thread caps of `cifar.training.threads.check_thread_count` for the pipeline's own thread counts; returns the
    warnings (oversubscribed), raises `ThreadCountError` above the cap."""
    from cifar.training.threads import check_thread_count

    counts = {"num_parallel_calls": options.num_parallel_calls,
              "private_threadpool_size": options.private_threadpool_size,
              "max_intra_op_parallelism": options.max_intra_op_parallelism}
    warnings = [check_thread_count(name, value, logical) for name, value in counts.items() if value > 0]
    return [w for w in warnings if w]


def _decode_and_augment(data, seed):
    """SimCLR's recipe (Chen et al. 2020), per image: random resized crop (50-100 % of the area), flip, colour
    jitter (brightness, contrast, saturation, hue) and a 5x5 Gaussian blur, after decoding the JPEG."""
    import numpy as np
    import tensorflow as tf

    image = tf.cast(tf.io.decode_jpeg(data, channels=3), tf.float32) / 255.0
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        [32, 32, 3], tf.zeros([1, 0, 4]), seed=seed, area_range=(0.5, 1.0), aspect_ratio_range=(0.75, 1.33),
        min_object_covered=0.0, use_image_if_no_bounding_boxes=True)
    image = tf.image.resize(tf.slice(image, begin, size), [32, 32])
    image = tf.image.random_flip_left_right(image, seed=seed)
    image = tf.image.random_brightness(image, 0.2, seed=seed)
    image = tf.image.random_contrast(image, 0.8, 1.2, seed=seed)
    image = tf.image.random_saturation(image, 0.8, 1.2, seed=seed)
    image = tf.image.random_hue(image, 0.05, seed=seed)
    taps = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    kernel = np.outer(taps, taps) / np.outer(taps, taps).sum()
    kernel = tf.constant(np.tile(kernel[:, :, None, None], (1, 1, 3, 1)), tf.float32)
    image = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "SAME")[0]
    return tf.clip_by_value(image, 0.0, 1.0)


def make_pipeline(x, y, options: PipelineOptions = PipelineOptions(), *, repeat: bool = False):
    """Build the tf.data pipeline over uint8 NHWC images `x` and labels `y`.

    ``repeat=True`` repeats after shuffling (fresh order each pass), for fixed-step benchmarks. Raises
    `cifar.training.threads.ThreadCountError` for thread counts far beyond this machine's cores.
    """
    import tensorflow as tf

    check_pipeline_threads(options)

    if options.variant == "seed":
        # The article converts the whole array to float32 before slicing.
        ds = tf.data.Dataset.from_tensor_slices((x.astype("float32") / 255.0, y))
        ds = ds.shuffle(options.shuffle_buffer, seed=options.seed)
        if repeat:
            ds = ds.repeat()

        def augment(image, label):
            return tf.image.random_flip_left_right(image, seed=options.seed), label

        ds = ds.map(augment, num_parallel_calls=options.num_parallel_calls)
        ds = ds.batch(options.batch_size)
    elif options.variant == "heavy":
        # Encoding is set-up, not pipeline work: done once here, vectorized, before the pipeline runs.
        encoded = tf.map_fn(lambda image: tf.io.encode_jpeg(image, quality=JPEG_QUALITY), tf.constant(x),
                            fn_output_signature=tf.string)
        ds = tf.data.Dataset.from_tensor_slices((encoded, y))
        ds = ds.shuffle(options.shuffle_buffer, seed=options.seed)
        if repeat:
            ds = ds.repeat()
        ds = ds.map(lambda data, label: (_decode_and_augment(data, options.seed), label),
                    num_parallel_calls=options.num_parallel_calls)
        ds = ds.batch(options.batch_size)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shuffle(options.shuffle_buffer, seed=options.seed)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(options.batch_size)

        def augment_batch(images, labels):
            images = tf.cast(images, tf.float32) / 255.0
            flip = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], seed=options.seed) < 0.5
            return tf.where(flip, tf.reverse(images, axis=[2]), images), labels

        ds = ds.map(augment_batch, num_parallel_calls=options.num_parallel_calls)
    ds = ds.prefetch(options.prefetch)
    tf_options = tf.data.Options()
    if options.private_threadpool_size:
        tf_options.threading.private_threadpool_size = options.private_threadpool_size
    if options.max_intra_op_parallelism:
        tf_options.threading.max_intra_op_parallelism = options.max_intra_op_parallelism
    return ds.with_options(tf_options)

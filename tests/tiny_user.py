"""A user's own model and data, as `tune --model/--data` and `pytest benchmarks/ --models/--data` take them
(``tests.tiny_user:tiny_model``), and the ways such functions go wrong."""

import numpy as np


def tiny_model():
    import keras

    return keras.Sequential([keras.layers.Input(shape=(32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])


def tiny_data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(512, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=512)


def not_a_model():
    return "a model"


def grey_model():  # 28 x 28 x 1 images: does not fit CIFAR-10's 32 x 32 x 3
    import keras

    return keras.Sequential([keras.layers.Input(shape=(28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


def float_data():
    return np.zeros((512, 32, 32, 3), dtype=np.float32), np.zeros(512, dtype=np.int64)


def broken_model():
    raise RuntimeError("weights file missing")

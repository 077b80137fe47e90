"""The user's own model and data, named ``pkg.module:function`` (``tune --model``/``--data``, ``pytest benchmarks/
--models``/``--data``).

* a **model function** takes no arguments and returns a Keras model (uncompiled or compiled: the suite compiles it
  as the article does, Adam and sparse categorical cross-entropy) that takes the data's images;
* a **data function** takes no arguments and returns ``(x, y)``: uint8 images ``(N, H, W, C)``, as CIFAR-10's, and
  N integer labels. The suite's inputs cast and scale them (``/ 255``) and flip them left-right, as they do
  CIFAR-10's.

Both are imported in the processes that measure (never in pytest's or the tuner's own, which must not start
TensorFlow), so `check` runs once in a child first: an import error, a wrong return type or a model that does not
fit the data is one line naming the function, before anything is measured.

>>> is_spec("mymodels:small_cnn"), is_spec("seed_cnn"), is_spec("data/cifar-10-python.tar.gz")
(True, False, False)
"""

from __future__ import annotations

import importlib
import re

_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class UserFunctionError(ValueError):
    """The user's model or data function cannot be used: one line naming it."""


def is_spec(text: str) -> bool:
    """Does `text` name a function as ``pkg.module:function``?"""
    return bool(_SPEC.fullmatch(text or ""))


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__


def load_function(spec: str, role: str):
    """The function `spec` names; `UserFunctionError` naming it when it cannot be imported or is not there."""
    module_name, _, name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module may fail any way it likes on import
        raise UserFunctionError(f"{role} {spec}: cannot import {module_name} ({_one_line(err)})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UserFunctionError(f"{role} {spec}: {module_name} has no function {name}")
    return function


def user_model(spec: str):
    """Call the model function `spec`; its Keras model, or `UserFunctionError`."""
    import keras

    try:
        model = load_function(spec, "--model")()
    except UserFunctionError:
        raise
    except Exception as err:
        raise UserFunctionError(f"--model {spec}: raised {_one_line(err)}") from None
    if not isinstance(model, keras.Model):
        raise UserFunctionError(f"--model {spec}: returned {type(model).__name__}, not a Keras model")
    return model


def user_data(spec: str):
    """Call the data function `spec`; its ``(x, y)`` as uint8 images and int64 labels of shape (N, 1), or
    `UserFunctionError`."""
    import numpy as np

    try:
        data = load_function(spec, "--data")()
    except UserFunctionError:
        raise
    except Exception as err:
        raise UserFunctionError(f"--data {spec}: raised {_one_line(err)}") from None
    if not isinstance(data, tuple) or len(data) != 2:
        raise UserFunctionError(f"--data {spec}: returned {type(data).__name__}, not a tuple (x, y)")
    x, y = (np.asarray(a) for a in data)
    if x.dtype != np.uint8 or x.ndim != 4:
        raise UserFunctionError(f"--data {spec}: x must be uint8 images (N, height, width, channels), got "
                                f"{x.dtype} of shape {x.shape}")
    if not np.issubdtype(y.dtype, np.integer) or y.reshape(len(y), -1).shape[1] != 1 or len(y) != len(x):
        raise UserFunctionError(f"--data {spec}: y must be {len(x)} integer labels, got {y.dtype} of shape {y.shape}")
    if len(x) < 128:
        raise UserFunctionError(f"--data {spec}: {len(x)} images, fewer than one batch of 128")
    return x, y.reshape(-1, 1).astype(np.int64)


def check(model: str = "seed_cnn", data: str = "synthetic") -> dict:
    """In a child: build `model`, load `data`, and train one step of two images on it, as the suite will.
    ``{"error": None, "n_train": its training images}``, or ``{"error": one line}`` naming the function that
    failed."""
    try:
        from cifar.training.data import load_cifar10
        from cifar.training.models import build_model

        full = load_cifar10(data, n_test=0, quiet=True)
        net = build_model(model)
        try:
            net.train_on_batch(full.x_train[:2].astype("float32") / 255.0, full.y_train[:2])
        except Exception as err:
            who = f"--model {model}" if is_spec(model) else f"--data {data}"
            raise UserFunctionError(f"{who}: the model does not fit the data ({_one_line(err)})") from None
    except UserFunctionError as err:
        return {"error": str(err)}
    return {"error": None, "n_train": len(full.x_train)}

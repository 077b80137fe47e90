"""Check the user's own model and data functions (`cifar.training.user`) before anything is measured.

The check imports and calls them in a fresh process (the suite's and the tuner's own processes must not start
TensorFlow) and trains one step of two images, as a measured child would: whatever is wrong is one line naming
the function, seconds after the command starts rather than minutes into a session.
"""

from __future__ import annotations

from cifar.training.user import is_spec

CHECK_TARGET = "cifar.training.user:check"
CHECK_TIMEOUT_SECONDS = 300


def check_user_functions(models: tuple[str, ...], data: str) -> int | None:
    """`ValueError`, one line, if a user model of `models` or the user data `data` cannot be used together with
    the others; else the number of training images of `data` as the check loaded them, None when none of them is
    the user's (nothing was checked)."""
    from cifar.isolation.errors import ChildError
    from cifar.isolation.runner import Runner

    users = [m for m in models if is_spec(m)]
    if not users and not is_spec(data):
        return None
    runner = Runner(mode="spawn", preload=())
    n_train = None
    try:
        for model in users or list(models[:1]):
            try:
                result = runner.run(CHECK_TARGET, {"model": model, "data": data}, None, timeout=CHECK_TIMEOUT_SECONDS)
            except ChildError as err:
                lines = str(err).strip().splitlines()
                raise ValueError(f"checking --model {model} with --data {data}: its process failed "
                                 f"({lines[-1] if lines else type(err).__name__})") from None
            if result["error"]:
                raise ValueError(result["error"])
            n_train = result.get("n_train")
    finally:
        runner.close()
    return n_train

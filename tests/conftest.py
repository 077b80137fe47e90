import sys

import pytest

from cifar.isolation.runner import Runner


@pytest.fixture(scope="session")
def tf_runner(tmp_path_factory):
    """One zygote with TensorFlow preloaded, shared by the slow tests."""
    with Runner(mode="zygote", timeout=300, workdir=tmp_path_factory.mktemp("tf-runner")) as runner:
        yield runner


@pytest.fixture(scope="session", autouse=True)
def no_tensorflow_in_pytest_process():
    """Everything TensorFlow runs in children; this process must stay free of it."""
    yield
    assert "tensorflow" not in sys.modules, "a test imported TensorFlow into pytest's own process"


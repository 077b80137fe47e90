"""Several tuner workers on one study in a real PostgreSQL server, which this test starts (Debian's postgresql,
installed by .ci/run) on a free loopback port and stops afterwards.

Two worker processes run the real search (`cifar.tuning.search.search`, measurements faked by
tests/tune_fakes.py) against one study: Optuna's multi-node mode. On one machine they share the machine lock, so
no two measured processes ever overlap.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from optuna.trial import TrialState

from cifar.tuning.search import StudyKey, TuneError, open_study
from tests.tune_fakes import small_space

FINGERPRINT = "amd-epyc-2c2t-tf2.21.0-py3.11"

#: Needs a program from Debian's packages (.ci/run installs it): the long tier, make test-all.
pytestmark = pytest.mark.long


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CIFAR_REQUIRE_POSTGRES"):
            pytest.fail("CIFAR_REQUIRE_POSTGRES is set but no PostgreSQL server is installed (apt-get install "
                        "postgresql)")
        pytest.skip("no PostgreSQL server installed (apt-get install postgresql); .ci/run installs it")
    root = tempfile.mkdtemp(prefix="cifar-pg-")  # under /tmp: the postgres user must be able to reach it
    as_user = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root: run them as Debian's postgres user
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), _free_port()
    subprocess.run([*as_user, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "tuner", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(root, "log"), "-w", "-t", "60",
                    "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://tuner@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_one_study_and_never_overlap(postgres, tmp_path):
    lock = tmp_path / "machine.lock"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    workers = [subprocess.Popen([sys.executable, "-m", "tests.tune_fakes", postgres, "fleet", FINGERPRINT, "6",
                                 str(lock)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    study = open_study(postgres, "fleet", StudyKey(FINGERPRINT, "seed_cnn", "fake"), small_space())
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 12 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both machines' trials in the one study
    intervals = sorted(i for t in trials for i in t.user_attrs["intervals"])
    assert len(intervals) == 12
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        assert start >= end - 1e-3, "two measured processes overlapped on one machine"


def test_joining_from_another_fingerprint_is_refused(postgres):
    open_study(postgres, "team", StudyKey(FINGERPRINT, "seed_cnn", "fake"), small_space())
    started = time.monotonic()
    with pytest.raises(TuneError, match="is for fingerprint 'amd-epyc-2c2t-tf2.21.0-py3.11'"):
        open_study(postgres, "team", StudyKey("intel-r-xeon-r-processor-2c2t-tf2.21.0-py3.11", "seed_cnn", "fake"),
                   small_space())
    assert time.monotonic() - started < 10

import pytest

from cifar.training.threads import ThreadConfig, is_oversubscribed, parse_grid, thread_grid


@pytest.mark.parametrize(
    ("intra", "inter", "expected_id"),
    [(0, 0, "default"), (2, 1, "intra2-inter1"), (1, 0, "intra1-inter0"), (8, 8, "intra8-inter8")],
    ids=["default", "intra2-inter1", "intra1-inter0", "intra8-inter8"],
)
def test_id_is_readable(intra, inter, expected_id):
    assert ThreadConfig(intra, inter).id == expected_id


def test_compat_v1_id_is_distinct():
    assert ThreadConfig(4, 2, api="compat_v1").id == "intra4-inter2-v1"
    assert ThreadConfig(4, 2, api="compat_v1") != ThreadConfig(4, 2)


@pytest.mark.parametrize(
    "bad", [-1, True, False, 1.0, "2", None], ids=["negative", "true", "false", "float", "str", "none"]
)
@pytest.mark.parametrize("field", ["intra_op_parallelism_threads", "inter_op_parallelism_threads"])
def test_invalid_counts_raise_naming_field_and_value(field, bad):
    kwargs = {"intra_op_parallelism_threads": 0, "inter_op_parallelism_threads": 0, field: bad}
    with pytest.raises(ValueError, match=field) as info:
        ThreadConfig(**kwargs)
    assert repr(bad) in str(info.value)


def test_invalid_api():
    with pytest.raises(ValueError, match="'tf1'"):
        ThreadConfig(1, 1, api="tf1")


def test_frozen_and_round_trips_through_dict():
    config = ThreadConfig(3, 1, api="compat_v1")
    with pytest.raises(AttributeError):
        config.intra_op_parallelism_threads = 2
    assert ThreadConfig.from_dict(config.to_dict()) == config


def test_grid_from_core_counts():
    ids = [c.id for c in thread_grid(physical=2, logical=4)]
    assert ids == ["intra1-inter1", "intra2-inter2", "intra4-inter4", "intra8-inter8", "intra4-inter2", "default"]


def test_grid_deduplicates_when_counts_coincide():
    ids = [c.id for c in thread_grid(physical=2, logical=2)]
    assert ids == ["intra1-inter1", "intra2-inter2", "intra4-inter4", "intra4-inter2", "default"]


def test_grid_from_this_machine_has_one_thread_and_default():
    grid = thread_grid()
    assert grid[0] == ThreadConfig(1, 1) and grid[-1] == ThreadConfig()
    assert len(set(grid)) == len(grid)


def test_oversubscription():
    assert is_oversubscribed(ThreadConfig(4, 4), logical=2)
    assert not is_oversubscribed(ThreadConfig(2, 1), logical=2)
    assert not is_oversubscribed(ThreadConfig(), logical=2)


def test_parse_grid():
    assert parse_grid("1x1, 2x1,4x2,default,1x1") == [
        ThreadConfig(1, 1), ThreadConfig(2, 1), ThreadConfig(4, 2), ThreadConfig()]


@pytest.mark.parametrize("bad", ["2", "2x", "ax1", "2x-1", "", "1x1,,2x2"])
def test_parse_grid_rejects_naming_the_item(bad):
    with pytest.raises(ValueError, match="thread"):
        parse_grid(bad)


# -- the CPU budget and the thread caps -------------------------------------------------------------------------
from cifar.training.threads import (  # noqa: E402
    MIN_THREAD_CAP, ThreadCountError, cgroup_quota_cores, check_thread_config, check_thread_count, cpu_budget,
    thread_cap)


def test_cgroup_v2_quota_is_read_from_cpu_max(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota_cores(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota_cores(tmp_path) is None


def test_cgroup_v1_quota_is_read_from_cfs_files(tmp_path):
    folder = tmp_path / "cpu,cpuacct"
    folder.mkdir()
    (folder / "cpu.cfs_quota_us").write_text("50000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_quota_cores(tmp_path) == 0.5
    (folder / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota_cores(tmp_path) is None


def test_no_cgroup_files_is_no_quota(tmp_path):
    assert cgroup_quota_cores(tmp_path / "nothing") is None


def test_a_fake_quota_is_the_budget_and_the_grid_follows_it(tmp_path):
    # A container limited to one core on a bigger host: the budget is 1, not the host's count.
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    budget = cpu_budget(tmp_path)
    assert budget.logical == 1 and budget.physical == 1 and budget.quota_cores == 1.0
    assert "cgroup quota 1" in budget.describe()
    grid = [c.id for c in thread_grid(physical=budget.physical, logical=budget.logical)]
    assert grid == ["intra1-inter1", "intra2-inter2", "intra4-inter2", "default"]
    assert is_oversubscribed(ThreadConfig(2, 2), budget.logical)


def test_a_fractional_quota_rounds_up_to_whole_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_budget(tmp_path).logical == min(2, cpu_budget().host_logical, cpu_budget().affinity)


def test_thread_counts_above_the_cores_warn_and_far_above_are_refused():
    assert check_thread_count("intra_op_parallelism_threads", 2, logical=2) is None
    warning = check_thread_count("intra_op_parallelism_threads", 4, logical=2)
    assert "more than the 2 usable logical cores" in warning and "oversubscribed" in warning
    assert thread_cap(2) == MIN_THREAD_CAP and thread_cap(16) == 128
    with pytest.raises(ThreadCountError, match=r"intra_op_parallelism_threads=99999 is far more threads .* at most 64"):
        check_thread_count("intra_op_parallelism_threads", 99999, logical=2)
    assert isinstance(ThreadCountError("x"), ValueError)  # usage errors everywhere a ValueError is one


def test_check_thread_config_names_the_pool():
    assert check_thread_config(ThreadConfig(), logical=2) == []
    (warning,) = check_thread_config(ThreadConfig(1, 3), logical=2)
    assert warning.startswith("inter_op_parallelism_threads=3")
    with pytest.raises(ThreadCountError, match="inter_op_parallelism_threads=5000"):
        check_thread_config(ThreadConfig(1, 5000), logical=2)

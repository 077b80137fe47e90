import pytest

from cifar.threads import ThreadConfig, is_oversubscribed, parse_grid, thread_grid


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

"""Loaders on small archives written here in both real formats, plus broken ones; the synthetic set."""

import io
import pickle
import sys
import tarfile
import types

import numpy as np
import pytest

from cifar.training import data
from cifar.training.data import DataError, load_cifar10, read_cifar10, synthetic_cifar10

PER_BATCH = 4  # images per batch file: small, but every real file name and layout


def _images(n, offset):
    """Known NHWC images: every pixel encodes (image, row, col, channel) so layout bugs show."""
    rng = np.random.default_rng(offset)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def _channel_major(x):
    return x.transpose(0, 3, 1, 2).reshape(len(x), -1)


def _batches():
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    out = {}
    for i, name in enumerate(names):
        x = _images(PER_BATCH, i)
        y = np.arange(PER_BATCH, dtype=np.uint8) + i
        out[name] = (x, y)
    return out


def _python_files():
    return {name: pickle.dumps({b"batch_label": name.encode(), b"labels": [int(v) for v in y],
                                b"data": _channel_major(x)}) for name, (x, y) in _batches().items()}


def _binary_files():
    files = {}
    for name, (x, y) in _batches().items():
        records = np.concatenate([y[:, None], _channel_major(x)], axis=1).astype(np.uint8)
        files[name + ".bin"] = records.tobytes()
    return files


def _write_dir(folder, files):
    folder.mkdir(parents=True)
    for name, raw in files.items():
        (folder / name).write_bytes(raw)
    return folder


def _write_tar(path, folder_name, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in files.items():
            info = tarfile.TarInfo(f"{folder_name}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def _expected():
    b = _batches()
    train = [b[f"data_batch_{i}"] for i in range(1, 6)]
    return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
            b["test_batch"][0], b["test_batch"][1])


def _check(ds):
    x_train, y_train, x_test, y_test = _expected()
    assert ds.source == "real"
    assert ds.x_train.shape == (5 * PER_BATCH, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (PER_BATCH, 32, 32, 3)
    np.testing.assert_array_equal(ds.x_train, x_train)
    np.testing.assert_array_equal(ds.y_train, y_train)
    np.testing.assert_array_equal(ds.x_test, x_test)
    np.testing.assert_array_equal(ds.y_test, y_test)


@pytest.fixture(params=["python-tar", "python-dir", "binary-tar", "binary-dir"])
def real_source(request, tmp_path):
    kind, container = request.param.split("-")
    files = _python_files() if kind == "python" else _binary_files()
    folder = "cifar-10-batches-py" if kind == "python" else "cifar-10-batches-bin"
    if container == "tar":
        archive = "cifar-10-python.tar.gz" if kind == "python" else "cifar-10-binary.tar.gz"
        return _write_tar(tmp_path / archive, folder, files)
    return _write_dir(tmp_path / folder, files)


def test_reads_every_real_format(real_source):
    _check(read_cifar10(real_source))


def test_reads_a_folder_holding_an_archive(real_source):
    _check(read_cifar10(real_source.parent))


def test_cifar10_dir_variable_is_used_by_auto(real_source, monkeypatch, capsys):
    monkeypatch.setenv("CIFAR10_DIR", str(real_source))
    ds = load_cifar10("auto")
    _check(ds)
    assert "source: real" in capsys.readouterr().err


def test_keras_cache_is_found(tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    _write_dir(tmp_path / "keras" / "datasets" / "cifar-10-batches-py", _python_files())
    _check(load_cifar10("real", quiet=True))


def test_auto_without_real_data_is_synthetic_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    ds = load_cifar10("auto", n_train=100, n_test=20)
    assert ds.source == "synthetic"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "source: synthetic" in err


def test_real_without_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="CIFAR10_DIR"):
        load_cifar10("real", quiet=True)


def test_truncated_binary_file_is_named(tmp_path):
    files = _binary_files()
    files["data_batch_3.bin"] = files["data_batch_3.bin"][:-100]
    folder = _write_dir(tmp_path / "cifar-10-batches-bin", files)
    with pytest.raises(DataError, match=r"data_batch_3\.bin.*truncated"):
        read_cifar10(folder)


def test_truncated_archive_is_named(tmp_path):
    path = _write_tar(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", _python_files())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz"):
        read_cifar10(path)


def test_corrupt_pickle_is_named(tmp_path):
    files = _python_files()
    files["data_batch_2"] = b"\x80\x04garbage"
    with pytest.raises(DataError, match=r"data_batch_2: not a readable CIFAR-10 pickle"):
        read_cifar10(_write_dir(tmp_path / "cifar-10-batches-py", files))


def test_wrong_shape_is_named(tmp_path):
    files = _python_files()
    files["test_batch"] = pickle.dumps({b"labels": [0, 1], b"data": np.zeros((2, 1000), np.uint8)})
    with pytest.raises(DataError, match=r"test_batch: data has shape \(2, 1000\)"):
        read_cifar10(_write_dir(tmp_path / "cifar-10-batches-py", files))


def test_labels_out_of_range_are_named(tmp_path):
    files = _binary_files()
    raw = bytearray(files["data_batch_1.bin"])
    raw[0] = 42
    files["data_batch_1.bin"] = bytes(raw)
    with pytest.raises(DataError, match=r"data_batch_1\.bin: labels outside 0-9"):
        read_cifar10(_write_dir(tmp_path / "cifar-10-batches-bin", files))


def test_missing_batch_is_reported(tmp_path):
    files = _python_files()
    del files["data_batch_5"]
    with pytest.raises(DataError, match="no complete CIFAR-10 batch set"):
        read_cifar10(_write_dir(tmp_path / "cifar-10-batches-py", files))


def test_missing_path_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.*no such file"):
        load_cifar10(str(tmp_path / "nope"))


def test_download_only_when_asked_and_network_errors_are_clear(tmp_path, monkeypatch):
    calls = []

    def load_data():
        calls.append(1)
        raise OSError("[Errno -3] Temporary failure in name resolution")

    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(cifar10=types.SimpleNamespace(load_data=load_data)))
    monkeypatch.setitem(sys.modules, "keras", fake)
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    assert load_cifar10("auto", n_train=10, n_test=10, quiet=True).source == "synthetic"
    assert calls == []
    with pytest.raises(DataError, match="downloading CIFAR-10 failed.*name resolution"):
        load_cifar10("real", download=True, quiet=True)
    assert calls == [1]


def test_synthetic_has_cifar_shapes_and_is_deterministic():
    a = synthetic_cifar10(200, 50, seed=3)
    b = synthetic_cifar10(200, 50, seed=3)
    c = synthetic_cifar10(200, 50, seed=4)
    assert a.x_train.shape == (200, 32, 32, 3) and a.x_train.dtype == np.uint8
    assert a.y_train.dtype == np.uint8 and set(np.unique(a.y_train)) <= set(range(10))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


def _nearest_class_mean(train_features, y_train, test_features, y_test):
    means = np.stack([train_features[y_train == k].mean(axis=0) for k in range(10)])
    dists = ((test_features[:, None, :] - means[None]) ** 2).sum(-1)
    return (dists.argmin(1) == y_test).mean()


def test_synthetic_classes_are_textures_not_pixels():
    """The label is in each image's texture (its power spectrum, blind to where the stripes fall): a nearest
    class mean of spectra scores far above chance (10 %); the mean of the pixels themselves does not."""
    ds = synthetic_cifar10(5000, 1000, seed=0)

    def spectrum(x):
        grey = x.astype(np.float32).mean(axis=-1)
        return np.log1p(np.abs(np.fft.rfft2(grey - grey.mean(axis=(1, 2), keepdims=True))) ** 2).reshape(len(x), -1)

    def pixels(x):
        return x.reshape(len(x), -1).astype(np.float32)

    assert _nearest_class_mean(spectrum(ds.x_train), ds.y_train, spectrum(ds.x_test), ds.y_test) > 0.5
    assert _nearest_class_mean(pixels(ds.x_train), ds.y_train, pixels(ds.x_test), ds.y_test) < 0.2


@pytest.mark.parametrize("bad", [0, -5, 1.5, True])
def test_synthetic_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match=repr(bad)):
        synthetic_cifar10(bad, 10)


def test_data_module_is_importable_without_tensorflow():
    assert "tensorflow" not in sys.modules and data.IMAGE_SHAPE == (32, 32, 3)

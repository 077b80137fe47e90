"""CIFAR-10 arrays: the real data set from a local archive (offline), or a synthetic stand-in.

Real CIFAR-10 comes in two official formats, both read here without TensorFlow:

* the Python version — ``cifar-10-python.tar.gz`` or its extracted ``cifar-10-batches-py/``, pickled
  dicts with ``b"data"`` (N×3072 uint8, channel-major) and ``b"labels"``; Keras caches the same under
  ``~/.keras/datasets/cifar-10-batches-py``;
* the binary version — ``cifar-10-binary.tar.gz`` or ``cifar-10-batches-bin/``, records of
  1 label byte + 3072 pixel bytes.

Both become ``(x, y)`` with ``x`` uint8 NHWC ``(N, 32, 32, 3)`` and ``y`` uint8 labels 0–9.

>>> from cifar.training.data import load_cifar10
>>> ds = load_cifar10("synthetic", n_train=1000, n_test=200)
>>> ds.x_train.shape, ds.x_train.dtype, ds.source
((1000, 32, 32, 3), dtype('uint8'), 'synthetic')
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cifar.training.user import is_spec, user_data

IMAGE_SHAPE = (32, 32, 3)
PIXELS = 32 * 32 * 3
NUM_CLASSES = 10
TRAIN_SIZE, TEST_SIZE = 50_000, 10_000
SOURCES = ("auto", "real", "synthetic")

PY_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
PY_TEST = ["test_batch"]
BIN_TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
BIN_TEST = ["test_batch.bin"]
ARCHIVE_NAMES = ("cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz", "cifar-10-binary.tar.gz")
DIR_NAMES = ("cifar-10-batches-py", "cifar-10-batches-bin")


#: Synthetic data: amplitude of each class's texture and of the per-pixel noise, in uint8 levels.
SIGNAL, NOISE = 40.0, 60.0


class DataError(ValueError):
    """CIFAR-10 could not be loaded; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Cifar10:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "real" or "synthetic"
    origin: str  # the path read, or the synthetic generator's seed

    def describe(self) -> str:
        return (f"CIFAR-10 source: {self.source} ({self.origin}); "
                f"train {len(self.x_train)}, test {len(self.x_test)} images")


# -- decoding ---------------------------------------------------------------------------------------
def _to_nhwc(flat: np.ndarray) -> np.ndarray:
    # The files store each image channel-major (1024 red, 1024 green, 1024 blue).
    return flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def _check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(f"{name}: labels outside 0-9 (found {int(labels.min())}..{int(labels.max())})")
    return labels.astype(np.uint8)


def decode_python_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch of the Python version -> (x NHWC uint8, y uint8)."""
    try:
        batch = pickle.loads(raw, encoding="bytes")
    except Exception as err:  # pickle raises many types on corrupt input
        raise DataError(f"{name}: not a readable CIFAR-10 pickle ({type(err).__name__}: {err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or not ({b"labels", b"fine_labels"} & batch.keys()):
        raise DataError(f"{name}: pickle has no b'data'/b'labels' entries, not a CIFAR-10 batch")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch.get(b"labels", batch.get(b"fine_labels")))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        raise DataError(f"{name}: data has shape {data.shape} dtype {data.dtype}, expected (N, {PIXELS}) uint8")
    if len(labels) != len(data):
        raise DataError(f"{name}: {len(labels)} labels for {len(data)} images")
    return _to_nhwc(data), _check_labels(labels, name)


def decode_binary_batch(raw: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One file of the binary version (records of label byte + 3072 pixels) -> (x, y)."""
    record = 1 + PIXELS
    if not raw or len(raw) % record:
        raise DataError(f"{name}: {len(raw)} bytes is not a whole number of {record}-byte records (truncated?)")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    return _to_nhwc(records[:, 1:]), _check_labels(records[:, 0], name)


# -- reading directories and archives ----------------------------------------------------------------
def _read_members(members: dict[str, bytes], origin: str) -> tuple[np.ndarray, ...]:
    """members: basename -> bytes. Picks the format by the file names present."""
    if all(n in members for n in PY_TRAIN + PY_TEST):
        decode, train, test = decode_python_batch, PY_TRAIN, PY_TEST
    elif all(n in members for n in BIN_TRAIN + BIN_TEST):
        decode, train, test = decode_binary_batch, BIN_TRAIN, BIN_TEST
    else:
        wanted = " + ".join(PY_TRAIN[:1] + ["…"] + PY_TEST) + " (python) or the .bin files (binary)"
        raise DataError(f"{origin}: no complete CIFAR-10 batch set found; expected {wanted}")
    parts = {split: [decode(members[n], f"{origin}/{n}") for n in names] for split, names in (("train", train), ("test",
                                                                                                                 test))}
    out = []
    for split in ("train", "test"):
        out.append(np.concatenate([x for x, _ in parts[split]]))
        out.append(np.concatenate([y for _, y in parts[split]]))
    return tuple(out)


def _read_directory(path: Path) -> tuple[np.ndarray, ...]:
    members = {}
    for name in PY_TRAIN + PY_TEST + BIN_TRAIN + BIN_TEST:
        file = path / name
        if file.is_file():
            members[name] = file.read_bytes()
    return _read_members(members, str(path))


def _read_archive(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {}
            for member in tar.getmembers():
                base = os.path.basename(member.name)
                if member.isfile() and base in PY_TRAIN + PY_TEST + BIN_TRAIN + BIN_TEST:
                    members[base] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, io.UnsupportedOperation) as err:
        raise DataError(f"{path}: not a readable tar archive ({type(err).__name__}: {err})") from None
    return _read_members(members, str(path))


def read_cifar10(path: str | os.PathLike) -> Cifar10:
    """Read real CIFAR-10 from an archive, an extracted batches folder, or a folder holding either."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    target = _locate(path) if path.is_dir() and not _looks_like_batches(path) else path
    if target is None:
        raise DataError(f"{path}: holds no CIFAR-10 archive ({', '.join(ARCHIVE_NAMES)}) or batches folder "
                        f"({', '.join(DIR_NAMES)})")
    arrays = _read_directory(target) if target.is_dir() else _read_archive(target)
    return Cifar10(*arrays, source="real", origin=str(target))


def _looks_like_batches(path: Path) -> bool:
    return any((path / n).is_file() for n in ("data_batch_1", "data_batch_1.bin"))


def _locate(folder: Path) -> Path | None:
    for name in DIR_NAMES:
        if _looks_like_batches(folder / name):
            return folder / name
    for name in ARCHIVE_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def find_cifar10() -> Path | None:
    """Where real CIFAR-10 is on this machine: ``$CIFAR10_DIR``, then Keras' cache ``~/.keras/datasets``."""
    candidates = []
    if os.environ.get("CIFAR10_DIR"):
        candidates.append(Path(os.environ["CIFAR10_DIR"]).expanduser())
    candidates.append(Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets")
    for folder in candidates:
        if folder.is_file():
            return folder
        if folder.is_dir():
            if _looks_like_batches(folder):
                return folder
            found = _locate(folder)
            if found is not None:
                return found
    return None


def download_cifar10() -> Cifar10:
    """Download with Keras' own downloader (only when asked for); network failures become `DataError`."""
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as err:  # urllib, SSL, HTTP and Keras' own errors all mean "no data"
        raise DataError(f"downloading CIFAR-10 failed ({type(err).__name__}: {err}); "
                        "put cifar-10-python.tar.gz in a folder and set CIFAR10_DIR instead") from None
    return Cifar10(x_train, y_train.ravel().astype(np.uint8), x_test, y_test.ravel().astype(np.uint8),
                   source="real", origin="keras download")


# -- synthetic ----------------------------------------------------------------------------------------
def synthetic_cifar10(n_train: int = TRAIN_SIZE, n_test: int = TEST_SIZE, seed: int = 0) -> Cifar10:
    """A learnable stand-in with CIFAR-10's shapes and dtypes, deterministic by `seed`.

    Each class is a texture: a coloured sinusoidal grating with its own orientation, frequency and colour. An
    image is its class's grating at a random phase (so where a stripe falls says nothing), plus a random
    brightness shift and strong per-pixel noise: the article's model (convolutions, then global average
    pooling) can learn it, a single pixel cannot tell the classes apart.
    """
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.0, np.pi, NUM_CLASSES)
    frequency = rng.uniform(1 / 10, 1 / 3, NUM_CLASSES)  # cycles per pixel
    colour = rng.uniform(-1.0, 1.0, (NUM_CLASSES, 3))
    colour /= np.abs(colour).max(axis=1, keepdims=True)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    # (10, 32, 32): where along its wave each pixel lies, per class
    position = ((np.cos(theta)[:, None, None] * xx + np.sin(theta)[:, None, None] * yy)
                * frequency[:, None, None] * 2 * np.pi).astype(np.float32)
    colour = colour.astype(np.float32)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, NUM_CLASSES, size=n).astype(np.uint8)
        images = np.empty((n, *IMAGE_SHAPE), dtype=np.uint8)
        for start in range(0, n, 5000):  # in chunks: noise for 50k images at once would be 600 MB
            stop = min(n, start + 5000)
            k = labels[start:stop]
            phase = rng.uniform(0.0, 2 * np.pi, size=(stop - start, 1, 1)).astype(np.float32)
            wave = np.sin(position[k] + phase)[..., None] * (np.float32(SIGNAL) * colour[k][:, None, None, :])
            # In place, float32: np.clip on a fresh float64 array made this 10x slower (0.7 s per 10k images).
            pixels = rng.standard_normal(size=(stop - start, *IMAGE_SHAPE), dtype=np.float32)
            pixels *= np.float32(NOISE)
            pixels += wave
            pixels += np.float32(128.0) + rng.standard_normal(size=(stop - start, 1, 1, 1),
                                                              dtype=np.float32) * np.float32(30.0)
            np.maximum(pixels, 0, out=pixels)
            np.minimum(pixels, 255, out=pixels)
            images[start:stop] = pixels
        return images, labels

    x_train, y_train = make(n_train)
    x_test, y_test = make(n_test)
    return Cifar10(x_train, y_train, x_test, y_test, source="synthetic", origin=f"seed={seed}")


# -- the one entry point -----------------------------------------------------------------------------
_CACHE: dict[tuple, Cifar10] = {}


def _full(data: str, seed: int, download: bool) -> Cifar10:
    """The whole data set for `data` (cached per process: a zygote fills it once, children inherit it)."""
    key = (data, seed, download, *(os.environ.get(v) for v in ("CIFAR10_DIR", "KERAS_HOME", "HOME")))
    if key in _CACHE:
        return _CACHE[key]
    if data not in SOURCES and not os.path.exists(os.path.expanduser(data)) and is_spec(data):
        x, y = user_data(data)  # the user's own images (cifar.training.user)
        ds = Cifar10(x, y, x[:0], y[:0], source="user", origin=data)
    elif data not in SOURCES:
        ds = read_cifar10(data)
    elif data == "synthetic":
        ds = synthetic_cifar10(TRAIN_SIZE, TEST_SIZE, seed)
    else:
        found = find_cifar10()
        if found is not None:
            ds = read_cifar10(found)
        elif download:
            ds = download_cifar10()
        elif data == "real":
            raise DataError("real CIFAR-10 not found: set CIFAR10_DIR to a folder or archive "
                            f"({', '.join(ARCHIVE_NAMES)}), or pass --download to let Keras fetch it")
        else:
            ds = synthetic_cifar10(TRAIN_SIZE, TEST_SIZE, seed)
    _CACHE[key] = ds
    return ds


def load_cifar10(data: str = "auto", *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                 download: bool = False, quiet: bool = False) -> Cifar10:
    """Load CIFAR-10 by `data`: ``"auto"`` (real if found, else synthetic), ``"real"``, ``"synthetic"``,
    a path to an archive or folder, or the user's own images from a ``pkg.module:function`` returning ``(x, y)``
    (`cifar.training.user`; no test set). ``n_train``/``n_test`` keep the first N images of the full set
    (50,000 / 10,000; the synthetic set is generated at full size so any N gives the same first images).
    Prints one line to stderr naming the source, unless ``quiet``.

    >>> load_cifar10("~/data/cifar-10-python.tar.gz").source   # doctest: +SKIP
    'real'
    """
    full = _full(data, seed, download)
    ds = Cifar10(full.x_train[:n_train], full.y_train[:n_train], full.x_test[:n_test], full.y_test[:n_test],
                 source=full.source, origin=full.origin)
    if not quiet:
        print(ds.describe(), file=sys.stderr)
    return ds


#: How a Runner's zygote addresses `warm_cache` (``Runner(warm=warm(data))``).
WARM_TARGET = "cifar.training.data:warm_cache"


def warm(data: str = "auto") -> tuple[tuple[str, dict], ...]:
    """The zygote's warm-up that loads the data set once, for every child to inherit (``Runner(warm=…)``)."""
    return ((WARM_TARGET, {"data": data}),)


def warm_cache(data: str = "auto", seed: int = 0) -> None:
    """Load the data set into this process's cache (the zygote calls this; numpy only, no TensorFlow)."""
    load_cifar10(data, seed=seed, quiet=True)

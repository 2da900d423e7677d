"""networks.datasets: shipped digits, IDX and CIFAR-10 parsers on tiny files, errors."""
import gzip
import struct

import numpy as np
import pytest

from networks import datasets
from networks.datasets import DatasetError, read_cifar10_batch, read_idx


def test_digits_split_is_fixed_and_offline():
    xtr, ytr = datasets.load("digits", split="train")
    xte, yte = datasets.load("digits", split="test")
    xall, yall = datasets.load("digits", split="all")
    assert xtr.shape == (1437, 1, 8, 8) and xte.shape == (360, 1, 8, 8) and xall.shape == (1797, 1, 8, 8)
    assert xtr.dtype == np.float32 and ytr.dtype == np.int64
    assert xall.min() == 0.0 and xall.max() == 1.0
    # pixels are counts 0..16 scaled by 1/16
    np.testing.assert_array_equal(xall * 16, np.round(xall * 16))
    assert np.bincount(yall).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    perm = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(ytr, yall[perm[:1437]])
    np.testing.assert_array_equal(yte, yall[perm[1437:]])
    x5, y5 = datasets.load("digits", split="test", limit=5)
    np.testing.assert_array_equal(x5, xte[:5])
    np.testing.assert_array_equal(y5, yte[:5])
    inf = datasets.info("digits")
    assert inf.input_encoding == "unsigned4" and inf.offline and inf.splits["test"] == 360
    assert set(datasets.list()) >= {"digits", "mnist", "fashion_mnist", "kmnist", "cifar10"}


def test_shipped_digits_carry_provenance_and_licence():
    import hashlib
    from pathlib import Path
    import networks
    path = Path(networks.__file__).parent / "zoo" / "digits.npz"
    with np.load(path, allow_pickle=False) as f:
        assert "Alpaydin" in str(f["provenance"]) and "CC BY 4.0" in str(f["licence"])
        digest = hashlib.sha256(f["images"].tobytes() + f["labels"].tobytes()).hexdigest()
    assert digest == "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"


def test_unknown_dataset_and_split():
    with pytest.raises(DatasetError, match="unknown dataset"):
        datasets.load("imagenet")
    with pytest.raises(DatasetError, match="unknown split"):
        datasets.load("digits", split="validation")


def _write_idx(path, arr, code=0x08, compress=False):
    arr = np.asarray(arr)
    data = bytes([0, 0, code, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.astype(
        {0x08: ">u1", 0x0C: ">i4"}[code]).tobytes()
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
def test_idx_loader_parses_real_format(tmp_path, name, compress, monkeypatch):
    rng = np.random.default_rng(0)
    sub = tmp_path / name
    sub.mkdir()
    sfx = ".gz" if compress else ""
    imgs = rng.integers(0, 256, (3, 28, 28))
    labels = np.array([7, 0, 9])
    _write_idx(sub / f"t10k-images-idx3-ubyte{sfx}", imgs, compress=compress)
    _write_idx(sub / f"t10k-labels-idx1-ubyte{sfx}", labels, compress=compress)
    x, y = datasets.load(name, split="test", root=tmp_path)      # files in root/<name>
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0] * 255, imgs, atol=1e-4)
    np.testing.assert_array_equal(y, labels)
    monkeypatch.setenv("IMCSIM_DATA", str(sub))                   # files in root itself
    x2, _ = datasets.load(name, split="test", limit=2)
    np.testing.assert_array_equal(x2, x[:2])


def test_read_idx_generic_and_big_endian_ints(tmp_path):
    a = np.arange(-3, 9).reshape(2, 2, 3)
    _write_idx(tmp_path / "i.idx", a, code=0x0C)
    np.testing.assert_array_equal(read_idx(tmp_path / "i.idx"), a)


def test_idx_errors_name_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("IMCSIM_DATA", raising=False)
    with pytest.raises(DatasetError, match="root="):
        datasets.load("mnist")
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        datasets.load("mnist", root=tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        datasets.load("mnist", root=tmp_path / "nowhere")
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x56\x78" + b"\0" * 20)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", [1, 2])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.*magic"):
        datasets.load("mnist", root=tmp_path)
    _write_idx(bad, np.zeros((2, 28, 28)))
    bad.write_bytes(bad.read_bytes()[:-5])                                 # truncated data
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.*data bytes"):
        datasets.load("mnist", root=tmp_path)
    _write_idx(bad, np.zeros((3, 28, 28)))                                  # 3 images, 2 labels
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.*2 labels"):
        datasets.load("mnist", root=tmp_path)
    _write_idx(bad, np.zeros((2, 14, 14)))
    with pytest.raises(DatasetError, match="28x28"):
        datasets.load("mnist", root=tmp_path)
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="x.gz"):
        read_idx(tmp_path / "x.gz")


def _cifar_records(rng, n):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    imgs = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
    raw = b"".join(bytes([labels[i]]) + imgs[i].tobytes() for i in range(n))
    return raw, imgs, labels


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(1)
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    all_imgs, all_labels = [], []
    for i in range(1, 6):
        raw, imgs, labels = _cifar_records(rng, 2)
        (d / f"data_batch_{i}.bin").write_bytes(raw)
        all_imgs.append(imgs)
        all_labels.append(labels)
    raw, timgs, tlabels = _cifar_records(rng, 3)
    (d / "test_batch.bin").write_bytes(raw)
    x, y = datasets.load("cifar10", split="train", root=tmp_path)
    assert x.shape == (10, 3, 32, 32)
    np.testing.assert_allclose(x * 255, np.concatenate(all_imgs), atol=1e-4)
    np.testing.assert_array_equal(y, np.concatenate(all_labels))
    x, y = datasets.load("cifar10", split="test", root=d)
    np.testing.assert_array_equal(y, tlabels)
    (d / "test_batch.bin").write_bytes(raw[:-7])
    with pytest.raises(DatasetError, match="test_batch.bin.*3073"):
        datasets.load("cifar10", split="test", root=tmp_path)
    (d / "test_batch.bin").write_bytes(bytes([42]) + raw[1:])
    with pytest.raises(DatasetError, match="test_batch.bin.*label 42"):
        read_cifar10_batch(d / "test_batch.bin")
    (d / "data_batch_3.bin").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin"):
        datasets.load("cifar10", split="train", root=tmp_path)


# ---------------------------------------------------------------------------- system data directories
@pytest.mark.parametrize("folder", ["fashion-mnist", "fashion_mnist"])
def test_system_data_dir_found_by_default_with_dash_or_underscore(tmp_path, monkeypatch, folder):
    """Without root or IMCSIM_DATA the loader looks in the system data directories
    (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist)."""
    monkeypatch.delenv("IMCSIM_DATA", raising=False)
    monkeypatch.setattr(datasets, "SYSTEM_DATA_DIRS", (str(tmp_path / "none"), str(tmp_path)))
    sub = tmp_path / folder
    sub.mkdir()
    _write_idx(sub / "t10k-images-idx3-ubyte.gz", np.full((2, 28, 28), 255), compress=True)
    _write_idx(sub / "t10k-labels-idx1-ubyte.gz", [3, 4], compress=True)
    x, y = datasets.load("fashion_mnist", split="test")
    assert x.shape == (2, 1, 28, 28) and x.max() == 1.0 and y.tolist() == [3, 4]
    assert datasets.find_root("fashion_mnist") == sub and datasets.available("fashion_mnist")
    assert not datasets.available("kmnist")
    with pytest.raises(DatasetError, match=r"'kmnist' is not shipped.*root=DIRECTORY"):
        datasets.load("kmnist")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):    # the train split is absent
        datasets.load("fashion_mnist", split="train")


def test_real_fashion_mnist_when_installed():
    """The real set (Debian package dataset-fashion-mnist; .ci/run installs it)."""
    if not datasets.available("fashion_mnist"):
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist, or set IMCSIM_DATA)")
    x, y = datasets.load("fashion_mnist", split="test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == 1.0
    assert np.bincount(y).tolist() == [1000] * 10
    xt, yt = datasets.load("fashion_mnist", split="train", limit=100)
    assert xt.shape == (100, 1, 28, 28) and yt.max() <= 9
    np.testing.assert_array_equal(datasets.calibration_sample({"name": "fashion_mnist"}, 100), xt)


# ---------------------------------------------------------------------------- the user's arrays
def test_user_npz_arrays_and_errors_name_the_file(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "mine.npz"
    x = rng.uniform(0, 1, (5, 1, 8, 8))
    np.savez(p, images=x, labels=np.array([0, 1, 2, 3, 9]), cal=x[:2])
    xa, ya = datasets.load_arrays(p, x="images", y="labels")
    assert xa.dtype == np.float32 and ya.dtype == np.int64 and xa.shape == (5, 1, 8, 8)
    np.testing.assert_allclose(xa, x, rtol=1e-6)
    assert datasets.load_arrays(p, "images", "labels", limit=2)[1].tolist() == [0, 1]
    spec = {"path": str(p), "x": "images", "y": "labels", "limit": 3}
    assert len(datasets.load_spec(spec)[0]) == 3
    assert datasets.calibration_sample(dict(spec, calibration_x="cal"), 10).shape == (2, 1, 8, 8)
    with pytest.raises(DatasetError, match=r"mine.npz.*calibration_x"):
        datasets.calibration_sample(spec, 10)
    with pytest.raises(DatasetError, match=r"mine.npz: no array 'x' \(dataset key x\).*images, labels, cal"):
        datasets.load_arrays(p)
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        datasets.load_arrays(tmp_path / "nope.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="junk.npz: not a readable .npz"):
        datasets.load_arrays(tmp_path / "junk.npz")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}] * 2, dtype=object), y=np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"obj.npz: array 'x' cannot be loaded without pickle"):
        datasets.load_arrays(tmp_path / "obj.npz")
    np.savez(tmp_path / "bad.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(DatasetError, match=r"bad.npz: 2 labels in 'y' but 5 samples in 'x'"):
        datasets.load_arrays(tmp_path / "bad.npz")
    np.savez(tmp_path / "frac.npz", x=x, y=np.array([0, 1, 2, 3, 0.5]))
    with pytest.raises(DatasetError, match="frac.npz.*integer labels"):
        datasets.load_arrays(tmp_path / "frac.npz")
    np.savez(tmp_path / "neg.npz", x=x, y=np.array([0, 1, 2, 3, -1]))
    with pytest.raises(DatasetError, match="neg.npz.*>= 0"):
        datasets.load_arrays(tmp_path / "neg.npz")

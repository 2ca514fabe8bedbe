import gzip

import numpy as np
import pytest

from edgenas.data import load_dataset
from edgenas.data.loaders import FASHION_DIR
from edgenas.errors import EdgenasError

fashion = pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
                             reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


@fashion
def test_fashion_mnist_demo_loads_from_debian_package():
    ds = load_dataset("fashion-mnist", "test")
    assert len(ds) == 10000 and ds.shape == (1, 28, 28) and ds.classes[0] == "t-shirt"
    assert ds.images.dtype == np.uint8 and set(np.unique(ds.labels)) == set(range(10))


def _png(path, arr):
    from PIL import Image

    Image.fromarray(arr).save(path)


def test_image_folder_tree(tmp_path):
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(3):
            _png(tmp_path / c / "{}.png".format(i), np.full((12, 12), 40 * i, np.uint8))
    ds = load_dataset(str(tmp_path))
    assert len(ds) == 6 and ds.classes == ["cat", "dog"] and ds.shape == (1, 12, 12)
    assert list(ds.labels) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("setup,msg", [
    (lambda d: None, "holds no class folders"),
    (lambda d: (d / "a").mkdir(), "holds no images"),
    (lambda d: [(d / c).mkdir() for c in "ab"] and [(d / c / "x.png").write_bytes(b"not a png") for c in "ab"], "cannot read image"),
    (lambda d: [(d / c).mkdir() for c in "ab"] and [_png(d / c / "x.png", np.zeros((s, s), np.uint8)) for c, s in (("a", 12), ("b", 16))],
     "mixed image sizes"),
    (lambda d: (d / "a").mkdir() or _png(d / "a" / "x.png", np.zeros((12, 12), np.uint8)), "single class"),
])
def test_bad_image_folders(tmp_path, setup, msg):
    setup(tmp_path)
    with pytest.raises(EdgenasError, match=msg):
        load_dataset(str(tmp_path))


def test_npz_channels_last_floats(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.random((20, 16, 16, 3)).astype(np.float32), labels=np.arange(20) % 4)
    ds = load_dataset(str(tmp_path / "d.npz"))
    assert ds.shape == (3, 16, 16) and ds.images.dtype == np.uint8 and len(ds.classes) == 4
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 8, 8)))
    with pytest.raises(EdgenasError, match="must hold arrays 'images' and 'labels'"):
        load_dataset(str(tmp_path / "bad.npz"))


def test_truncated_idx_and_missing_path(tmp_path):
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28]) + b"\x00" * 100)
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1, 0, 0, 0, 10]) + b"\x01" * 10)
    with pytest.raises(EdgenasError, match="truncated"):
        load_dataset(str(tmp_path))
    with pytest.raises(EdgenasError, match="does not exist"):
        load_dataset(str(tmp_path / "nope"))

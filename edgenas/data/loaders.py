"""Load images + labels from the user's disk (image-folder tree, .npz, MNIST-family IDX files) or the
demo dataset (Fashion-MNIST from Debian's dataset-fashion-mnist; scikit-learn digits as a fallback).

Everything becomes a ``Dataset`` of uint8 NCHW images, int64 labels and class names. Nothing is
downloaded at run time.
"""

import gzip
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ..errors import EdgenasError

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


@dataclass
class Dataset:
    images: np.ndarray  # uint8, (N, C, H, W)
    labels: np.ndarray  # int64, (N,)
    classes: List[str]
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def shape(self) -> Tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, n: Optional[int], seed: int = 0) -> "Dataset":
        if n is None or n >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        return Dataset(self.images[idx], self.labels[idx], self.classes, self.source)

    def split(self, val_fraction: float, seed: int = 0) -> Tuple["Dataset", "Dataset"]:
        perm = np.random.default_rng(seed).permutation(len(self))
        n_val = max(1, int(round(len(self) * val_fraction)))
        v, t = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        return (Dataset(self.images[t], self.labels[t], self.classes, self.source),
                Dataset(self.images[v], self.labels[v], self.classes, self.source))


def read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(str(path), "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise EdgenasError("cannot read IDX file {}: {}".format(path, e))
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise EdgenasError("{} is not an unsigned-byte IDX file (bad magic number)".format(path))
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise EdgenasError("{} is truncated or damaged: its IDX header names {} dimensions but the file has {} bytes; "
                           "copy it again".format(path, ndim, len(data)))
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise EdgenasError("{} is truncated: header says {} values, file has {}".format(path, int(np.prod(dims)), body.size))
    return body.reshape(dims)


def _idx_pair(root: Path, prefix: str) -> Optional[Tuple[Path, Path]]:
    for suffix in (".gz", ""):
        img, lab = root / (prefix + "-images-idx3-ubyte" + suffix), root / (prefix + "-labels-idx1-ubyte" + suffix)
        if img.is_file() and lab.is_file():
            return img, lab
    return None


def load_idx_dir(root: Path, split: str, classes: Optional[List[str]] = None) -> Dataset:
    pair = _idx_pair(root, "train" if split == "train" else "t10k")
    if pair is None:
        raise EdgenasError("{} has no {}-images-idx3-ubyte[.gz] / labels pair".format(root, "train" if split == "train" else "t10k"))
    images, labels = read_idx(pair[0]), read_idx(pair[1]).astype(np.int64)
    if images.ndim != 3:
        raise EdgenasError("{} holds a {}-D array {}; an images file is 3-D (N, H, W): is it a labels file under the "
                           "images name?".format(pair[0], images.ndim, list(images.shape)))
    if labels.ndim != 1:
        raise EdgenasError("{} holds a {}-D array {}; a labels file is 1-D (N,): is it an images file under the "
                           "labels name?".format(pair[1], labels.ndim, list(labels.shape)))
    if images.shape[0] != labels.shape[0]:
        raise EdgenasError("{}: {} images but {} labels".format(root, images.shape[0], labels.shape[0]))
    n_cls = int(labels.max()) + 1
    return Dataset(images[:, None], labels, classes or [str(i) for i in range(n_cls)], "idx:{}".format(root))


def load_npz(path: Path) -> Dataset:
    try:
        with np.load(str(path), allow_pickle=False) as z:
            keys = set(z.files)
            ik = next((k for k in ("images", "x", "X", "x_train") if k in keys), None)
            lk = next((k for k in ("labels", "y", "Y", "y_train") if k in keys), None)
            if ik is None or lk is None:
                raise EdgenasError("{} must hold arrays 'images' and 'labels' (has: {})".format(path, ", ".join(sorted(keys))))
            images, labels = z[ik], z[lk]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # absent, empty, not a zip, truncated
        why = "not an .npz file" if "pickle" in str(e) else (str(e).splitlines() or [type(e).__name__])[0]
        raise EdgenasError("cannot read {} as .npz: {}; write it with np.savez(path, images=x, labels=y)".format(path, why))
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[-1] in (1, 3) and images.shape[1] not in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    if images.ndim != 4 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise EdgenasError("{}: images must be (N,H,W), (N,C,H,W) or (N,H,W,C) and labels (N,); got {} and {}".format(
            path, images.shape, labels.shape))
    if images.dtype != np.uint8:
        lo, hi = float(images.min()), float(images.max())
        images = np.clip(images * (255.0 if hi <= 1.0 else 1.0), 0, 255).astype(np.uint8) if lo >= 0 else None
        if images is None:
            raise EdgenasError("{}: float images must be in [0, 1] or [0, 255]".format(path))
    names = [str(i) for i in range(int(labels.max()) + 1)]
    return Dataset(np.ascontiguousarray(images), labels.astype(np.int64), names, "npz:{}".format(path))


def load_image_folder(root: Path) -> Dataset:
    try:
        from PIL import Image
    except ImportError:
        raise EdgenasError("reading an image folder needs Pillow: pip install pillow")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise EdgenasError("{} holds no class folders; expected {}/<class>/<image>.png".format(root, root))
    images, labels, shape = [], [], None
    for label, d in enumerate(class_dirs):
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise EdgenasError("class folder {} holds no images ({})".format(d, ", ".join(IMAGE_SUFFIXES)))
        for p in files:
            try:
                with Image.open(p) as im:
                    im = im.convert("L" if im.mode in ("1", "L", "I", "I;16") else "RGB")
                    arr = np.asarray(im)
            except (OSError, ValueError) as e:
                raise EdgenasError("cannot read image {}: {}".format(p, str(e).splitlines()[0] if str(e) else type(e).__name__))
            arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
            if shape is None:
                shape = arr.shape
            elif arr.shape != shape:
                raise EdgenasError("mixed image sizes: {} is {}x{}x{}, earlier images are {}x{}x{}; resize them to one "
                                   "size first".format(p, *arr.shape, *shape))
            images.append(arr)
            labels.append(label)
    return Dataset(np.stack(images).astype(np.uint8), np.array(labels, dtype=np.int64), [d.name for d in class_dirs],
                   "folder:{}".format(root))


def load_digits() -> Dataset:
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise EdgenasError("neither Fashion-MNIST (apt-get install dataset-fashion-mnist) nor scikit-learn's digits "
                           "(pip install scikit-learn) is available; pass --data with your own files")
    d = sk_digits()
    images = (d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    return Dataset(images, d.target.astype(np.int64), [str(i) for i in range(10)], "sklearn:digits")


def load_dataset(spec: Optional[str] = None, split: str = "train") -> Dataset:
    """``spec``: None or 'fashion-mnist' (demo), 'digits', an image-folder tree, an .npz file, or a
    folder of MNIST-family IDX files. ``split`` ('train' or 'test') applies to IDX sources."""
    if spec in (None, "", "fashion-mnist", "demo"):
        if _idx_pair(FASHION_DIR, "train"):
            ds = load_idx_dir(FASHION_DIR, split, FASHION_CLASSES)
            ds.source = "fashion-mnist:" + split
        elif spec in ("fashion-mnist",):
            raise EdgenasError("Fashion-MNIST is not installed; run: apt-get install -y dataset-fashion-mnist")
        else:
            ds = load_digits()
    elif spec == "digits":
        ds = load_digits()
    else:
        path = Path(spec)
        if not path.exists():
            raise EdgenasError("dataset {} does not exist; give an image-folder tree, an .npz or a folder of IDX files".format(path))
        if path.is_file():
            if path.suffix != ".npz":
                raise EdgenasError("{}: a dataset file must be an .npz with 'images' and 'labels'".format(path))
            ds = load_npz(path)
        elif _idx_pair(path, "train") or _idx_pair(path, "t10k"):
            ds = load_idx_dir(path, split)
        else:
            ds = load_image_folder(path)
    check_dataset(ds)
    return ds


def check_dataset(ds: Dataset) -> None:
    if len(ds) == 0:
        raise EdgenasError("dataset {} is empty".format(ds.source))
    if int(ds.labels.min()) < 0:
        raise EdgenasError("dataset {} has negative labels ({}); labels must be 0..{}".format(
            ds.source, int(ds.labels.min()), len(ds.classes) - 1))
    if int(ds.labels.max()) >= len(ds.classes):
        raise EdgenasError("dataset {} has label {} but only {} classes ({}); fix the labels".format(
            ds.source, int(ds.labels.max()), len(ds.classes), ", ".join(ds.classes[:5]) + (", ..." if len(ds.classes) > 5 else "")))
    counts = np.bincount(ds.labels, minlength=len(ds.classes))
    empty = np.flatnonzero(counts == 0)
    if len(empty) and ds.source.split(":")[0] in ("idx", "npz"):
        raise EdgenasError("dataset {}: labels run 0..{} but classes {} have no images (a stray label?); labels must "
                           "be 0..K-1 with every class present".format(ds.source, int(ds.labels.max()),
                                                                         ", ".join(str(int(c)) for c in empty[:8])))
    n_cls = len(np.unique(ds.labels))
    if n_cls < 2:
        raise EdgenasError("dataset {} has a single class; classification needs at least two".format(ds.source))
    if min(ds.shape[1:]) < 8:
        raise EdgenasError("dataset {} images are {}x{}; need at least 8x8".format(ds.source, *ds.shape[1:]))

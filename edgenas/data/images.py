"""A folder of images as model inputs, with a declared preprocessing (board side: numpy + Pillow, Python 3.8).

The folder holds images directly (no labels) or one sub-folder per class (labels = the sorted folder index,
as torchvision's ImageFolder). The preprocessing is a mapping, given as YAML text or a YAML/JSON file:

    resize: 224            # or [H, W]; default: the model's input size
    scale: 0.00392156862   # multiply the 0..255 pixels first (default 1/255)
    mean: [0.485, 0.456, 0.406]
    std: [0.229, 0.224, 0.225]
    color: rgb             # rgb, bgr or gray (default: by the input's channels)
    layout: nchw           # or nhwc (default: from the input's shape)
"""

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgenasError, suggest

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
KEYS = ("resize", "scale", "mean", "std", "color", "layout")


def parse_preprocess(spec) -> Dict[str, Any]:
    """A preprocessing mapping from a dict, a YAML/JSON file path, or inline YAML text."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        data: Any = spec
    else:
        import yaml

        text = str(spec)
        path = Path(text)
        try:
            if path.suffix.lower() in (".yaml", ".yml", ".json") and path.is_file():
                text = path.read_text(encoding="utf-8")
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as e:
            raise EdgenasError("--preprocess {!r}: not readable YAML ({}); e.g. --preprocess \"{{resize: 224, mean: [0.485, "
                               "0.456, 0.406], std: [0.229, 0.224, 0.225]}}\"".format(spec, type(e).__name__))
    if not isinstance(data, dict):
        raise EdgenasError("--preprocess {!r}: give a mapping, e.g. \"{{resize: 224, mean: 0.5, std: 0.5}}\"".format(spec))
    for k in data:
        if k not in KEYS:
            raise EdgenasError("--preprocess: unknown key '{}'{}; allowed: {}".format(k, suggest(str(k), KEYS), ", ".join(KEYS)))
    return dict(data)


def _floats(v, name: str, n: int) -> np.ndarray:
    vals = v if isinstance(v, (list, tuple)) else [v]
    try:
        arr = np.array([float(x) for x in vals], dtype=np.float32)
    except (TypeError, ValueError):
        raise EdgenasError("--preprocess {}: give a number or a list of {} numbers, got {!r}".format(name, n, v))
    if not np.isfinite(arr).all() or len(arr) not in (1, n) or (name == "std" and (arr <= 0).any()):
        raise EdgenasError("--preprocess {}: give 1 or {} finite numbers{}, got {!r}".format(
            name, n, " > 0" if name == "std" else "", v))
    return arr


def _files(folder: Path) -> Tuple[List[Path], Optional[np.ndarray]]:
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    direct = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if direct or not subdirs:
        if not direct:
            raise EdgenasError("{} holds no images ({}) and no class folders".format(folder, ", ".join(IMAGE_SUFFIXES)))
        return direct, None
    files, labels = [], []
    for i, d in enumerate(subdirs):
        found = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [i] * len(found)
    if not files:
        raise EdgenasError("the class folders of {} hold no images ({})".format(folder, ", ".join(IMAGE_SUFFIXES)))
    return files, np.array(labels, dtype=np.int64)


def image_inputs(folder, spec, dims: Sequence[Any], dtype=np.float32, limit: Optional[int] = None
                 ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """(inputs, labels) for an input of per-sample ``dims`` (NCHW or NHWC; ints, or None where dynamic)."""
    try:
        from PIL import Image
    except ImportError:
        raise EdgenasError("reading an image folder needs Pillow: pip install pillow")
    folder = Path(folder)
    if not folder.is_dir():
        raise EdgenasError("image folder {} does not exist or is not a folder".format(folder))
    pre = parse_preprocess(spec)
    dims = list(dims)
    if len(dims) != 3:
        raise EdgenasError("--images needs a model input of one image per sample (N,C,H,W or N,H,W,C); this input is "
                           "{} per sample: give --inputs file.npz instead".format(dims))
    layout = pre.get("layout") or ("nhwc" if dims[-1] in (1, 3) and dims[0] not in (1, 3) else "nchw")
    if layout not in ("nchw", "nhwc"):
        raise EdgenasError("--preprocess layout: nchw or nhwc, got {!r}".format(layout))
    c, h, w = (dims[0], dims[1], dims[2]) if layout == "nchw" else (dims[2], dims[0], dims[1])
    size = pre.get("resize")
    if size is not None:
        size = [size, size] if isinstance(size, int) else list(size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise EdgenasError("--preprocess resize: give one size or [H, W] (positive integers), got {!r}".format(pre["resize"]))
        h, w = size
    if not (isinstance(h, int) and isinstance(w, int)):
        raise EdgenasError("the model's image size is dynamic; declare it: --preprocess \"{resize: [224, 224]}\"")
    c = c if isinstance(c, int) else 3
    color = pre.get("color") or ("gray" if c == 1 else "rgb")
    if color not in ("rgb", "bgr", "gray") or (color == "gray") != (c == 1):
        raise EdgenasError("--preprocess color: {!r} does not fit a {}-channel input; use {}".format(
            color, c, "gray" if c == 1 else "rgb or bgr"))
    files, labels = _files(folder)
    if limit is not None:
        files = files[:limit]
        labels = labels[:limit] if labels is not None else None
    scale = float(_floats(pre.get("scale", 1 / 255.0), "scale", 1)[0])
    mean, std = _floats(pre.get("mean", 0.0), "mean", c), _floats(pre.get("std", 1.0), "std", c)
    out = np.empty((len(files), c, h, w), np.float32)
    for i, p in enumerate(files):
        try:
            with Image.open(p) as im:
                im = im.convert("L" if c == 1 else "RGB").resize((w, h), getattr(Image, "BILINEAR", 2))
                arr = np.asarray(im, dtype=np.float32)
        except (OSError, ValueError) as e:
            raise EdgenasError("cannot read image {}: {}".format(p, str(e).splitlines()[0] if str(e) else type(e).__name__))
        arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        out[i] = arr[::-1] if color == "bgr" else arr
    out = (out * np.float32(scale) - mean.reshape(-1, 1, 1)) / std.reshape(-1, 1, 1)
    if layout == "nhwc":
        out = out.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(out.astype(dtype)), labels

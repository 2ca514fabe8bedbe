"""Shared set-up for the search commands: data tensors, supernet and model checkpoints."""

from typing import Any, Dict, Optional

from ..data import load_dataset
from ..errors import EdgenasError
from ..space import get_space, space_from_description
from .tensors import ImageData
from .train import load_checkpoint


def space_for_data(space_name: str, ds, resolution: Optional[int], opts: Dict[str, Any]):
    opts = dict(opts)
    opts.setdefault("in_channels", int(ds.shape[0]))
    opts.setdefault("num_classes", len(ds.classes))
    opts.setdefault("resolution", int(resolution or ds.shape[1]))
    return get_space(space_name, **opts)


def check_labels(ds, num_classes: Optional[int]) -> None:
    """Labels must index the model's classes: a stray label would crash in the loss or silently widen it."""
    lo, hi = int(ds.labels.min()), int(ds.labels.max())
    if lo < 0 or (num_classes is not None and hi >= num_classes):
        raise EdgenasError("dataset {} has labels {}..{} but the model has {} classes (0..{}); fix the labels or "
                           "train a model for this dataset".format(ds.source, lo, hi, num_classes, (num_classes or 0) - 1))


def prepare_data(spec: Optional[str], resolution: int, train_subset: Optional[int], val_size: int, seed: int,
                 norm: Optional[Dict[str, float]] = None, channels: Optional[int] = None, device=None,
                 num_classes: Optional[int] = None, channels_last: bool = False) -> Dict[str, Any]:
    """Train/val data from the train split (val held out from it), normalised with train statistics,
    held on ``device``."""
    ds = load_dataset(spec, "train")
    if channels is not None and ds.shape[0] != channels:
        raise EdgenasError("dataset {} has {} channel(s) but the model expects {}".format(ds.source, ds.shape[0], channels))
    check_labels(ds, num_classes)
    if val_size >= len(ds):
        raise EdgenasError("dataset {} has {} images; need more than --val-size {}".format(ds.source, len(ds), val_size))
    train, val = ds.split(val_size / len(ds), seed)
    train = train.subset(train_subset, seed)
    mean = norm["mean"] if norm else None
    std = norm["std"] if norm else None
    tr = ImageData(train.images, train.labels, resolution, mean, std, device, channels_last)
    va = ImageData(val.images, val.labels, resolution, tr.mean, tr.std, device, channels_last)
    return {"train": tr, "val": va, "norm": tr.norm, "dataset": ds}


def test_data(spec: Optional[str], resolution: int, norm: Dict[str, float], limit: Optional[int] = None, device=None,
              num_classes: Optional[int] = None) -> ImageData:
    ds = load_dataset(spec, "test").subset(limit, 0)
    check_labels(ds, num_classes)
    return ImageData(ds.images, ds.labels, resolution, norm["mean"], norm["std"], device)


def load_supernet(path):
    from .supernet import Supernet

    state, meta = load_checkpoint(path)
    if meta.get("kind") != "supernet":
        raise EdgenasError("{} is a '{}' checkpoint, not a supernet".format(path, meta.get("kind")))
    space = space_from_description(meta["space"])
    net = Supernet(space)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise EdgenasError("supernet checkpoint {} does not match its space: {}".format(path, str(e).splitlines()[0]))
    return net.eval(), meta


def load_model(path):
    """A standalone model checkpoint (from extract/finetune) -> (nn.Module, meta)."""
    state, meta = load_checkpoint(path)
    if meta.get("kind") != "model":
        raise EdgenasError("{} is a '{}' checkpoint, not a model; extract one with: edgenas extract".format(path, meta.get("kind")))
    space = space_from_description(meta["space"])
    model = space.build(space.from_string(meta["arch"]))
    try:
        if meta.get("pruned"):
            from ..compress.prune import rebuild_like

            rebuild_like(model, state)
        else:
            model.load_state_dict(state)
    except RuntimeError as e:
        raise EdgenasError("model checkpoint {} does not match its arch: {}".format(path, str(e).splitlines()[0]))
    return model.eval(), meta, space


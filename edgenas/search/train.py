"""Training on CPU: supernet (sandwich rule + in-place distillation), standalone fine-tuning, evaluation,
and weights-only checkpoints (a state_dict plus JSON-able metadata; never a pickled module)."""

import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import EdgenasError
from ..util.io import atomic_write_bytes
from ..util.progress import progress

CKPT_FORMAT = "edgenas.checkpoint/1"


def to_tensors(ds, resolution: int, mean: Optional[float] = None, std: Optional[float] = None):
    """uint8 NCHW -> normalised float tensor at ``resolution`` (zero-pad smaller, centre-crop larger)."""
    x = torch.from_numpy(ds.images).float().div_(255.0)
    h = x.shape[-1]
    if h < resolution:
        p = resolution - h
        x = F.pad(x, (p // 2, p - p // 2, p // 2, p - p // 2))
    elif h > resolution:
        o = (h - resolution) // 2
        x = x[..., o:o + resolution, o:o + resolution]
    mean = float(x.mean()) if mean is None else mean
    std = float(x.std()) if std is None else std
    return (x - mean) / std, torch.from_numpy(ds.labels), mean, std


def iterate(X, y, batch_size: int, rng: np.random.Generator, shuffle: bool = True) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    idx = rng.permutation(len(y)) if shuffle else np.arange(len(y))
    for i in range(0, len(idx), batch_size):
        j = torch.from_numpy(idx[i:i + batch_size])
        yield X[j], y[j]


@torch.no_grad()
def accuracy(forward: Callable, X, y, batch_size: int = 500) -> float:
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((forward(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / max(len(y), 1)


def cosine_lr(opt, base: float, step: int, total: int, warmup: int = 0) -> None:
    lr = base * (step + 1) / warmup if step < warmup else 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    for g in opt.param_groups:
        g["lr"] = lr


def kd_loss(logits, teacher, labels, alpha: float = 0.5, T: float = 1.0):
    soft = F.kl_div(F.log_softmax(logits / T, 1), F.softmax(teacher / T, 1), reduction="batchmean") * T * T
    return alpha * soft + (1 - alpha) * F.cross_entropy(logits, labels)


def train_supernet(supernet, space, X, y, epochs: int, batch_size: int = 128, lr: float = 0.05, seed: int = 0,
                   n_random: int = 2, state: Optional[Dict[str, Any]] = None, on_epoch: Optional[Callable] = None,
                   show_progress: bool = True) -> Dict[str, Any]:
    """Sandwich rule: each step trains the largest, the smallest and ``n_random`` random subnets; the
    largest teaches the others by in-place distillation. ``state`` resumes at an epoch boundary."""
    torch.manual_seed(seed)
    opt = torch.optim.SGD(supernet.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=3e-5)
    state = dict(state or {"epoch": 0, "history": []})
    if state.get("optimizer"):
        opt.load_state_dict(state["optimizer"])
    lo = space.decode(np.zeros(len(space.genes), dtype=np.int64))
    hi = space.decode(np.array([len(g.choices) - 1 for g in space.genes]))
    steps_per_epoch = math.ceil(len(y) / batch_size)
    total = epochs * steps_per_epoch
    for epoch in range(state["epoch"], epochs):
        rng = np.random.default_rng(seed * 7919 + epoch)
        supernet.train()
        t0, losses = time.time(), []
        with progress(steps_per_epoch, "supernet epoch {}/{}".format(epoch + 1, epochs), "steps", disable=not show_progress) as bar:
            for step, (xb, yb) in enumerate(iterate(X, y, batch_size, rng)):
                cosine_lr(opt, lr, epoch * steps_per_epoch + step, total, warmup=min(100, total // 20))
                opt.zero_grad(set_to_none=True)
                teacher = supernet(xb, hi)
                loss = F.cross_entropy(teacher, yb)
                loss.backward()
                soft = teacher.detach()
                for arch in [lo] + [space.decode(g) for g in space.sample(rng, n_random)]:
                    kd_loss(supernet(xb, arch), soft, yb).backward()
                opt.step()
                losses.append(float(loss.detach()))
                bar.update(1)
                bar.set_postfix_str("loss {:.3f}".format(np.mean(losses[-20:])))
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "loss_largest": float(np.mean(losses)), "seconds": round(time.time() - t0, 1)})
        state["optimizer"] = opt.state_dict()
        if on_epoch is not None:
            on_epoch(state)
    return state


def train_model(model: nn.Module, X, y, epochs: int, batch_size: int = 128, lr: float = 0.05, seed: int = 0,
                desc: str = "train", show_progress: bool = True) -> nn.Module:
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=3e-5)
    steps = math.ceil(len(y) / batch_size)
    total = max(1, epochs * steps)
    for epoch in range(epochs):
        model.train()
        rng = np.random.default_rng(seed * 104729 + epoch)
        with progress(steps, "{} epoch {}/{}".format(desc, epoch + 1, epochs), "steps", disable=not show_progress) as bar:
            for step, (xb, yb) in enumerate(iterate(X, y, batch_size, rng)):
                cosine_lr(opt, lr, epoch * steps + step, total, warmup=min(50, total // 20))
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(xb), yb).backward()
                opt.step()
                bar.update(1)
    return model.eval()


def save_checkpoint(path, state_dict: Dict[str, torch.Tensor], meta: Dict[str, Any]) -> Path:
    import io

    buf = io.BytesIO()
    torch.save({"format": CKPT_FORMAT, "state_dict": state_dict, "meta": meta}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise EdgenasError("checkpoint {} does not exist".format(p))
    try:
        data = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError/UnpicklingError/EOFError for damaged files
        raise EdgenasError("checkpoint {} is corrupt or not an edgenas checkpoint ({}); retrain or re-extract it".format(
            p, type(e).__name__))
    if not isinstance(data, dict) or data.get("format") != CKPT_FORMAT:
        raise EdgenasError("{} is not an edgenas checkpoint (format {!r})".format(p, data.get("format") if isinstance(data, dict) else None))
    return data["state_dict"], data["meta"]

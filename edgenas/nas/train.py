"""Training: the supernet (sandwich rule or OFA progressive shrinking, in-place distillation, one or many
processes under torchrun), stand-alone fine-tuning, and weights-only checkpoints (a state_dict plus
JSON-able metadata, saved from CPU tensors so they load anywhere; never a pickled module)."""

import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import EdgenasError
from ..util.io import atomic_write_bytes
from ..util.progress import progress
from ..util.torchdev import autocast, grad_scaler
from .tensors import ImageData

CKPT_FORMAT = "edgenas.checkpoint/1"
SCHEDULES = ("sandwich", "progressive")
# OFA progressive shrinking: which genes may shrink in each phase (act / SE are switched throughout).
PHASES = (("act", "se"), ("act", "se", "k"), ("act", "se", "k", "depth"), ("act", "se", "k", "depth", "e"))


def cosine_lr(opt, base: float, step: int, total: int, warmup: int = 0) -> None:
    lr = base * (step + 1) / warmup if step < warmup else 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
    for g in opt.param_groups:
        g["lr"] = lr


def kd_loss(logits, teacher, labels, alpha: float = 0.5, T: float = 1.0):
    soft = F.kl_div(F.log_softmax(logits.float() / T, 1), F.softmax(teacher.float() / T, 1), reduction="batchmean") * T * T
    return alpha * soft + (1 - alpha) * F.cross_entropy(logits.float(), labels)


def _gene_kind(name: str) -> str:
    return name.rsplit(".", 1)[-1]


class SubnetSampler:
    """Subnets for one training step: the sandwich rule's largest, smallest and random members, where in
    progressive shrinking the genes not yet elastic stay at their largest choice."""

    def __init__(self, space, schedule: str, epochs: int) -> None:
        if schedule not in SCHEDULES:
            raise EdgenasError("--schedule '{}': choose {}".format(schedule, " or ".join(SCHEDULES)))
        self.space, self.schedule, self.epochs = space, schedule, max(1, epochs)
        self.cards = np.array([len(g.choices) for g in space.genes])
        self.kinds = [_gene_kind(g.name) for g in space.genes]

    def phase(self, epoch: int) -> int:
        if self.schedule == "sandwich":
            return len(PHASES) - 1
        return min(len(PHASES) - 1, epoch * len(PHASES) // self.epochs)

    def _fixed(self, phase: int) -> np.ndarray:
        return np.array([k not in PHASES[phase] for k in self.kinds])

    def largest(self) -> Dict[str, Any]:
        return self.space.decode(self.cards - 1)

    def step(self, rng: np.random.Generator, epoch: int, n_random: int) -> List[Dict[str, Any]]:
        fixed = self._fixed(self.phase(epoch))
        lo = np.where(fixed, self.cards - 1, 0)
        rand = self.space.sample(rng, n_random)
        rand[:, fixed] = (self.cards - 1)[fixed]
        return [self.space.decode(g) for g in np.vstack([lo[None], rand])]


def _allreduce_grads(params: List[nn.Parameter], world: int) -> None:
    """Average gradients over the torchrun processes; all of them trained the same subnets this step."""
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    i = 0
    for g in grads:
        g.copy_(flat[i:i + g.numel()].view_as(g))
        i += g.numel()


def broadcast_state(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every torchrun process."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def train_supernet(supernet, space, data: ImageData, epochs: int, batch_size: int = 128, lr: float = 0.05, seed: int = 0,
                   n_random: int = 2, state: Optional[Dict[str, Any]] = None, on_epoch: Optional[Callable] = None,
                   show_progress: bool = True, schedule: str = "sandwich", amp=None, shard: Tuple[int, int] = (0, 1)) -> Dict[str, Any]:
    """Each step trains the largest, the smallest and ``n_random`` random subnets; the largest teaches the
    others by in-place distillation. ``schedule='progressive'`` opens kernel, then depth, then expand
    ratio to sampling over the epochs (OFA). ``state`` resumes at an epoch boundary. Under torchrun,
    ``shard=(rank, world)`` splits every global batch and gradients are averaged across processes."""
    torch.manual_seed(seed)
    rank, world = shard
    params = [p for p in supernet.parameters()]
    opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=3e-5)
    scaler = grad_scaler(data.device, amp)
    state = dict(state or {"epoch": 0, "history": []})
    if state.get("optimizer"):
        opt.load_state_dict(state["optimizer"])
    sampler = SubnetSampler(space, schedule, epochs)
    hi = sampler.largest()
    steps_per_epoch = math.ceil(len(data) / batch_size)
    total = epochs * steps_per_epoch
    for epoch in range(state["epoch"], epochs):
        rng = np.random.default_rng(seed * 7919 + epoch)
        supernet.train()
        t0, losses, images = time.time(), [], 0
        desc = "supernet epoch {}/{}{}".format(epoch + 1, epochs, " (phase {})".format(sampler.phase(epoch) + 1)
                                                if schedule == "progressive" else "")
        with progress(steps_per_epoch, desc, "steps", disable=not show_progress or rank != 0) as bar:
            for step, (xb, yb) in enumerate(data.batches(batch_size, rng, shard)):
                cosine_lr(opt, lr, epoch * steps_per_epoch + step, total, warmup=min(100, total // 20))
                opt.zero_grad(set_to_none=True)
                with autocast(data.device, amp):
                    teacher = supernet(xb, hi)
                    loss = F.cross_entropy(teacher.float(), yb)
                _backward(loss, scaler)
                soft = teacher.detach()
                for arch in sampler.step(rng, epoch, n_random):
                    with autocast(data.device, amp):
                        sub = kd_loss(supernet(xb, arch), soft, yb)
                    _backward(sub, scaler)
                if world > 1:
                    _allreduce_grads(params, world)
                _step(opt, scaler)
                losses.append(loss.detach())
                images += len(yb) * world
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix_str("loss {:.3f}".format(float(torch.stack(losses[-20:]).mean())))
        mean_loss = float(torch.stack(losses).mean()) if losses else float("nan")
        if not math.isfinite(mean_loss):
            raise EdgenasError("supernet training diverged in epoch {} (loss {}); lower --lr (now {:g})".format(
                epoch + 1, mean_loss, lr))
        secs = time.time() - t0
        state["epoch"] = epoch + 1
        state["history"].append({"epoch": epoch + 1, "loss_largest": mean_loss, "seconds": round(secs, 1),
                                 "images_per_s": round(images / max(secs, 1e-9), 1), "schedule": schedule,
                                 "phase": sampler.phase(epoch) + 1})
        state["optimizer"] = _cpu(opt.state_dict())
        if on_epoch is not None:
            on_epoch(state)
    return state


def _backward(loss, scaler) -> None:
    (scaler.scale(loss) if scaler is not None else loss).backward()


def _step(opt, scaler) -> None:
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()


def train_model(model: nn.Module, data: ImageData, epochs: int, batch_size: int = 128, lr: float = 0.05, seed: int = 0,
                desc: str = "train", show_progress: bool = True, amp=None) -> nn.Module:
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=3e-5)
    scaler = grad_scaler(data.device, amp)
    steps = math.ceil(len(data) / batch_size)
    total = max(1, epochs * steps)
    for epoch in range(epochs):
        model.train()
        rng = np.random.default_rng(seed * 104729 + epoch)
        last = None
        with progress(steps, "{} epoch {}/{}".format(desc, epoch + 1, epochs), "steps", disable=not show_progress) as bar:
            for step, (xb, yb) in enumerate(data.batches(batch_size, rng)):
                cosine_lr(opt, lr, epoch * steps + step, total, warmup=min(50, total // 20))
                opt.zero_grad(set_to_none=True)
                with autocast(data.device, amp):
                    last = F.cross_entropy(model(xb).float(), yb)
                _backward(last, scaler)
                _step(opt, scaler)
                bar.update(1)
        if last is not None and not math.isfinite(float(last.detach())):
            raise EdgenasError("training diverged in epoch {} (loss {}); lower --lr (now {:g})".format(epoch + 1, float(last.detach()), lr))
    return model.eval()


def _cpu(obj):
    """A copy of ``obj`` (state dicts, nested) with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save_checkpoint(path, state_dict: Dict[str, torch.Tensor], meta: Dict[str, Any]) -> Path:
    import io

    buf = io.BytesIO()
    torch.save({"format": CKPT_FORMAT, "state_dict": _cpu(state_dict), "meta": _cpu(meta)}, buf)
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

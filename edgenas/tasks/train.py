"""Host: train the weight-sharing supernet, extract a subnet as a standalone model, fine-tune it."""

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import check_args, output_dir, output_path
from .common import Log, PathLike, read_arch, say


@dataclass
class SupernetResult:
    checkpoint: Path
    epochs: int
    val_acc_smallest: float
    val_acc_largest: float
    train_images: int
    images_per_s: Optional[float]
    device: str
    history: List[Dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelResult:
    checkpoint: Path
    arch: str
    val_accuracy: float
    val_accuracy_before: Optional[float] = None
    test_accuracy: Optional[float] = None
    params_m: Optional[float] = None
    macs_m: Optional[float] = None
    seconds: float = 0.0


def _resume_mismatch(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    keys = sorted((set(old) | set(new)) - {"epochs", "device", "amp", "channels_last", "threads", "world_size"})
    return ["{} {!r} -> {!r}".format(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def train_supernet(out: PathLike, space: str = "mbv3-small", data: Optional[str] = None, resolution: Optional[int] = None,
                   space_options: Optional[Dict[str, Any]] = None, epochs: int = 3, batch_size: int = 128,
                   lr: float = 0.05, train_subset: Optional[int] = None, val_size: int = 2000, seed: int = 0,
                   threads: int = 0, device: str = "auto", amp: str = "off", channels_last: bool = False,
                   schedule: str = "sandwich", progress: bool = True, log: Log = None) -> SupernetResult:
    """Train the supernet into ``out/supernet.pt``; re-running the same call resumes after the last epoch.
    Under ``torchrun --nproc-per-node N`` every process trains a slice of each global batch."""
    check_args(dict(resolution=resolution, epochs=epochs, batch_size=batch_size, lr=lr, train_subset=train_subset,
                    val_size=val_size, seed=seed, threads=threads))
    import numpy as np
    import torch

    from ..data import load_dataset
    from ..nas.estimators import SupernetEstimator
    from ..nas.session import prepare_data, space_for_data
    from ..nas.supernet import Supernet
    from ..nas.train import load_checkpoint, save_checkpoint, train_supernet as train
    from ..util.torchdev import init_distributed, resolve_amp, resolve_device

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    amp_dtype = resolve_amp(amp, dev)
    rank, world = init_distributed(dev)
    if batch_size % world:
        raise EdgenasError("--batch-size {} does not divide over {} torchrun processes; use a multiple of {}".format(
            batch_size, world, world))
    out = output_dir(out, "supernet folder")
    ckpt = out / "supernet.pt"
    ds = load_dataset(data, "train")
    sp = space_for_data(space, ds, resolution, dict(space_options or {}))
    options = {"space": space, "space_config": sp.config, "data": data or ("fashion-mnist" if ds.source.startswith("fashion") else "digits"),
               "train_subset": train_subset, "val_size": val_size, "epochs": epochs, "batch_size": batch_size, "lr": lr,
               "seed": seed, "schedule": schedule, "world_size": world, "device": str(dev), "amp": amp,
               "channels_last": channels_last}
    d = prepare_data(data, sp.resolution, train_subset, val_size, seed, device=dev, num_classes=sp.config["num_classes"],
                     channels_last=channels_last)
    torch.manual_seed(seed)
    net = Supernet(sp).to(dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    state = None
    if ckpt.is_file():
        sd, meta = load_checkpoint(ckpt)
        diff = _resume_mismatch(meta.get("options", {}), options) if meta.get("kind") == "supernet" else ["not a supernet"]
        if diff:
            raise EdgenasError("{} was trained with other options ({}); use another --out, or delete it to start "
                               "fresh".format(ckpt, "; ".join(diff[:3])))
        net.load_state_dict(sd)
        state = meta["train_state"]
        if rank == 0:
            sys.stderr.write("edgenas: resuming supernet training after epoch {}\n".format(state["epoch"]))
    if world > 1:  # every process starts from rank 0's weights (what DistributedDataParallel does)
        from ..nas.train import broadcast_state

        broadcast_state(net)
    estimator = SupernetEstimator(net, d["val"].first(1000), d["train"], amp=amp_dtype)
    lo = np.zeros(len(sp.genes), dtype=np.int64)
    hi = np.array([len(g.choices) - 1 for g in sp.genes])
    t0 = time.time()
    last: Dict[str, Any] = {}

    def on_epoch(st):
        if rank != 0:
            return
        a_lo, a_hi = estimator(np.stack([lo, hi]))
        st["history"][-1].update(val_acc_smallest=round(float(a_lo), 2), val_acc_largest=round(float(a_hi), 2))
        meta = {"kind": "supernet", "space": sp.describe(), "norm": d["norm"], "dataset": d["dataset"].source,
                "classes": d["dataset"].classes, "options": options, "train_state": st}
        save_checkpoint(ckpt, net.state_dict(), meta)
        last.update(lo=float(a_lo), hi=float(a_hi))
        say(log, "epoch {}: val acc smallest {:.2f}% largest {:.2f}% ({:.0f} s) -> {}".format(
            st["epoch"], a_lo, a_hi, time.time() - t0, ckpt))

    from ..util.lock import exclusive

    lock = exclusive(out / ".edgenas.lock", "supernet run {}".format(out)) if rank == 0 else contextlib.nullcontext()
    with lock:
        state = train(net, sp, d["train"], epochs, batch_size, lr, seed, state=state, on_epoch=on_epoch,
                      show_progress=progress, schedule=schedule, amp=amp_dtype, shard=(rank, world))
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    if rank == 0 and not last:  # already trained for these epochs: report the stored figures
        hist = (state.get("history") or [{}])[-1]
        last.update(lo=hist.get("val_acc_smallest", float("nan")), hi=hist.get("val_acc_largest", float("nan")))
    hist = state.get("history") or [{}]
    return SupernetResult(ckpt, state["epoch"], last.get("lo", float("nan")), last.get("hi", float("nan")),
                          len(d["train"]) * world, hist[-1].get("images_per_s"), str(dev), hist)


def _model_data(meta, data, space, train_subset, val_size, seed, dev):
    from ..nas.session import prepare_data

    spec = data or meta.get("data") or meta.get("options", {}).get("data")
    return spec, prepare_data(spec, space.resolution, train_subset, val_size, seed, norm=meta["norm"],
                              channels=space.config["in_channels"], device=dev, num_classes=space.config["num_classes"])


def extract(supernet: PathLike, arch, out: PathLike, data: Optional[str] = None, train_subset: Optional[int] = None,
            val_size: int = 2000, device: str = "auto") -> ModelResult:
    """A standalone model with the subnet's inherited weights (BN re-calibrated), saved as a checkpoint."""
    check_args(dict(train_subset=train_subset, val_size=val_size))
    from ..nas.session import load_supernet
    from ..nas.supernet import recalibrate_bn
    from ..nas.tensors import accuracy
    from ..nas.train import save_checkpoint
    from ..util.torchdev import resolve_device

    output_path(out, "model checkpoint")
    dev = resolve_device(device)
    net, meta = load_supernet(supernet)
    net = net.to(dev)
    sp = net.space
    a = read_arch(sp, arch)
    spec, d = _model_data(meta, data, sp, train_subset, val_size, meta["options"]["seed"], dev)
    recalibrate_bn(net, lambda xb: net(xb, a), d["train"].calibration_batches(8, 128))
    model = net.extract(a)
    acc = accuracy(model, d["val"])
    save_checkpoint(out, model.state_dict(), {"kind": "model", "space": sp.describe(), "arch": sp.to_string(a),
                                              "norm": meta["norm"], "classes": meta.get("classes"), "dataset": meta["dataset"],
                                              "data": meta["options"].get("data"), "val_accuracy": acc, "source": "supernet",
                                              **({"precision_plan": a["precision"]} if "precision" in a else {})})
    p, m = sp.cost(a)
    return ModelResult(Path(out), sp.to_string(a), acc, params_m=p / 1e6, macs_m=m / 1e6)


def finetune(model: PathLike, out: PathLike, data: Optional[str] = None, epochs: int = 2, batch_size: int = 128,
             lr: float = 0.01, train_subset: Optional[int] = None, val_size: int = 2000, seed: int = 0,
             test_limit: Optional[int] = None, device: str = "auto", amp: str = "off", progress: bool = True) -> ModelResult:
    """Fine-tune a standalone model and measure its validation (and, where the data has one, test) accuracy."""
    check_args(dict(epochs=epochs, batch_size=batch_size, lr=lr, train_subset=train_subset, val_size=val_size,
                    seed=seed, test_limit=test_limit))
    from ..nas.session import load_model, test_data
    from ..nas.tensors import accuracy
    from ..nas.train import save_checkpoint, train_model
    from ..util.torchdev import resolve_amp, resolve_device

    output_path(out, "model checkpoint")
    dev = resolve_device(device)
    net, meta, sp = load_model(model)
    net = net.to(dev)
    spec, d = _model_data(meta, data, sp, train_subset, val_size, 0, dev)
    t0 = time.time()
    before = accuracy(net, d["val"])
    train_model(net, d["train"], epochs, batch_size, lr, seed, "finetune", progress, amp=resolve_amp(amp, dev))
    after = accuracy(net, d["val"])
    out_meta = dict(meta, val_accuracy=after, source="finetune",
                    finetune={"epochs": epochs, "lr": lr, "train_images": len(d["train"])})
    test_acc = None
    try:
        test = test_data(spec, sp.resolution, meta["norm"], test_limit, dev, sp.config["num_classes"])
    except EdgenasError:  # a user dataset without a test split: validation accuracy stands alone
        test = None
    if test is not None:
        test_acc = out_meta["test_accuracy"] = accuracy(net, test)
    save_checkpoint(out, net.state_dict(), out_meta)
    return ModelResult(Path(out), meta["arch"], after, before, test_acc, seconds=round(time.time() - t0, 1))

"""edgenas supernet train: train the weight-sharing supernet once on the user's data (or the demo)."""

import sys
import time
from pathlib import Path

from .common import parse_space_opts


def add_data_args(p) -> None:
    p.add_argument("--data", help="image-folder tree, .npz, IDX folder, 'fashion-mnist' (default) or 'digits'")
    p.add_argument("--train-subset", type=int, help="train on this many images (default: all)")
    p.add_argument("--val-size", type=int, default=2000, help="images held out of the train split for validation")


def add_parser(sub) -> None:
    p = sub.add_parser("supernet", help="train the weight-sharing supernet")
    ssub = p.add_subparsers(dest="supernet_cmd", metavar="<train>")
    ssub.required = True
    t = ssub.add_parser("train", help="sandwich-rule training with in-place distillation; resumable per epoch")
    t.add_argument("--space", default="mbv3-small")
    t.add_argument("--resolution", type=int, help="default: the data's image size")
    t.add_argument("--space-opt", action="append", metavar="KEY=VALUE")
    add_data_args(t)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    t.add_argument("--out", required=True, help="run directory; writes supernet.pt")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=run_train)


def run_train(args) -> int:
    import numpy as np
    import torch

    from ..data import load_dataset
    from ..search.estimators import SupernetEstimator
    from ..search.session import prepare_data, space_for_data
    from ..search.supernet import Supernet
    from ..search.train import load_checkpoint, save_checkpoint, train_supernet

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    ckpt = out / "supernet.pt"
    ds = load_dataset(args.data, "train")
    space = space_for_data(args.space, ds, args.resolution, parse_space_opts(args.space_opt))
    options = {"space": args.space, "data": args.data or ("fashion-mnist" if ds.source.startswith("fashion") else "digits"), "train_subset": args.train_subset,
               "val_size": args.val_size, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed}
    data = prepare_data(args.data, space.resolution, args.train_subset, args.val_size, args.seed)
    net = Supernet(space)
    state = None
    if ckpt.is_file():
        sd, meta = load_checkpoint(ckpt)
        same = {k: v for k, v in meta.get("options", {}).items() if k != "epochs"} == {k: v for k, v in options.items() if k != "epochs"}
        if meta.get("kind") == "supernet" and same:
            net.load_state_dict(sd)
            state = meta["train_state"]
            sys.stderr.write("edgenas: resuming supernet training after epoch {}\n".format(state["epoch"]))
    estimator = SupernetEstimator(net, data["X_val"][:1000], data["y_val"][:1000], data["X"])
    lo = np.zeros(len(space.genes), dtype=np.int64)
    hi = np.array([len(g.choices) - 1 for g in space.genes])
    t0 = time.time()

    def on_epoch(st):
        a_lo, a_hi = estimator(np.stack([lo, hi]))
        st["history"][-1].update(val_acc_smallest=round(float(a_lo), 2), val_acc_largest=round(float(a_hi), 2))
        meta = {"kind": "supernet", "space": space.describe(), "norm": data["norm"], "dataset": data["dataset"].source,
                "classes": data["dataset"].classes, "options": options, "train_state": st}
        save_checkpoint(ckpt, net.state_dict(), meta)
        print("epoch {}: val acc smallest {:.2f}% largest {:.2f}% ({:.0f} s) -> {}".format(
            st["epoch"], a_lo, a_hi, time.time() - t0, ckpt))

    train_supernet(net, space, data["X"], data["y"], args.epochs, args.batch_size, args.lr, args.seed, state=state,
                   on_epoch=on_epoch, show_progress=not args.quiet)
    if not ckpt.is_file():  # already trained for these epochs: nothing to do
        on_epoch({"epoch": 0, "history": [{}]})
    print("supernet {} ({} images, space {} @ {}px)".format(ckpt, len(data["y"]), space.name, space.resolution))
    return 0

"""edgenas extract / finetune: a standalone model with inherited supernet weights, then fine-tuned."""

import time

from .common import read_arch
from .supernet_cmd import add_data_args


def add_parser(sub) -> None:
    e = sub.add_parser("extract", help="extract an architecture from the supernet as a standalone model")
    e.add_argument("--supernet", required=True)
    e.add_argument("--arch", required=True, help="best.arch.json from a search, or an arch string")
    add_data_args(e)
    e.add_argument("--out", required=True, help="model checkpoint (.pt: state_dict + arch JSON)")
    e.set_defaults(func=run_extract)
    f = sub.add_parser("finetune", help="fine-tune a standalone model and report test accuracy")
    f.add_argument("model", help="model checkpoint from extract (or finetune)")
    add_data_args(f)
    f.add_argument("--epochs", type=int, default=2)
    f.add_argument("--batch-size", type=int, default=128)
    f.add_argument("--lr", type=float, default=0.01)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--test-limit", type=int, help="evaluate on this many test images (default: all)")
    f.add_argument("--out", required=True)
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=run_finetune)


def run_extract(args) -> int:
    from ..search.session import load_supernet, prepare_data
    from ..search.supernet import recalibrate_bn
    from ..search.train import accuracy, save_checkpoint

    net, meta = load_supernet(args.supernet)
    space = net.space
    arch = read_arch(space, args.arch)
    data = prepare_data(args.data or _data(meta), space.resolution, args.train_subset, args.val_size, meta["options"]["seed"],
                        norm=meta["norm"], channels=space.config["in_channels"])
    batches = [data["X"][i * 128:(i + 1) * 128] for i in range(8)]
    recalibrate_bn(net, lambda xb: net(xb, arch), batches)
    model = net.extract(arch)
    acc = accuracy(model, data["X_val"], data["y_val"])
    save_checkpoint(args.out, model.state_dict(), {"kind": "model", "space": space.describe(), "arch": space.to_string(arch),
                                                   "norm": meta["norm"], "classes": meta.get("classes"),
                                                   "dataset": meta["dataset"], "data": meta["options"].get("data"),
                                                   "val_accuracy": acc, "source": "supernet"})
    p, m = space.cost(arch)
    print("extracted  {} ({:.3f} M params, {:.2f} M MACs), inherited weights: val acc {:.2f}% -> {}".format(
        space.to_string(arch), p / 1e6, m / 1e6, acc, args.out))
    return 0


def _data(meta):
    return meta.get("data") or meta.get("options", {}).get("data")


def run_finetune(args) -> int:
    from ..search.session import load_model, prepare_data, test_tensors
    from ..search.train import accuracy, save_checkpoint, train_model

    model, meta, space = load_model(args.model)
    spec = args.data or _data(meta)
    data = prepare_data(spec, space.resolution, args.train_subset, args.val_size, 0, norm=meta["norm"],
                        channels=space.config["in_channels"])
    t0 = time.time()
    before = accuracy(model, data["X_val"], data["y_val"])
    train_model(model, data["X"], data["y"], args.epochs, args.batch_size, args.lr, args.seed, "finetune", not args.quiet)
    after = accuracy(model, data["X_val"], data["y_val"])
    out_meta = dict(meta, val_accuracy=after, source="finetune", finetune={"epochs": args.epochs, "lr": args.lr,
                                                                            "train_images": int(len(data["y"]))})
    try:
        Xt, yt = test_tensors(spec, space.resolution, meta["norm"], args.test_limit)
        out_meta["test_accuracy"] = accuracy(model, Xt, yt)
    except Exception:  # a user dataset without a test split: validation accuracy stands alone
        Xt = None
    save_checkpoint(args.out, model.state_dict(), out_meta)
    print("finetuned  val acc {:.2f}% -> {:.2f}%{} in {:.0f} s -> {}".format(
        before, after, "" if Xt is None else ", test acc {:.2f}%".format(out_meta["test_accuracy"]), time.time() - t0, args.out))
    return 0

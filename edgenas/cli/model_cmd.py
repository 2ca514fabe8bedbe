"""edgenas extract / finetune: a standalone model with inherited supernet weights, then fine-tuned."""

from .common import add_data_args, add_device_arg, num


def add_parser(sub) -> None:
    e = sub.add_parser("extract", help="extract an architecture from the supernet as a standalone model")
    e.add_argument("--supernet", required=True)
    e.add_argument("--arch", required=True, help="best.arch.json from a search, or an arch string")
    add_data_args(e)
    add_device_arg(e)
    e.add_argument("--out", required=True, help="model checkpoint (.pt: state_dict + arch JSON)")
    e.set_defaults(func=run_extract)
    f = sub.add_parser("finetune", help="fine-tune a standalone model and report test accuracy")
    f.add_argument("model", help="model checkpoint from extract (or finetune)")
    add_data_args(f)
    num(f, "--epochs", default=2)
    num(f, "--batch-size", default=128)
    num(f, "--lr", default=0.01)
    num(f, "--seed", default=0)
    num(f, "--test-limit", help="evaluate on this many test images (default: all)")
    add_device_arg(f)
    f.add_argument("--amp", default="off", choices=["off", "auto", "bf16", "fp16"])
    f.add_argument("--out", required=True)
    f.add_argument("--quiet", action="store_true")
    f.set_defaults(func=run_finetune)


def run_extract(args) -> int:
    from .. import api

    r = api.extract(args.supernet, args.arch, args.out, args.data, args.train_subset, args.val_size, args.device)
    print("extracted  {} ({:.3f} M params, {:.2f} M MACs), inherited weights: val acc {:.2f}% -> {}".format(
        r.arch, r.params_m, r.macs_m, r.val_accuracy, r.checkpoint))
    return 0


def run_finetune(args) -> int:
    from .. import api

    r = api.finetune(args.model, args.out, args.data, args.epochs, args.batch_size, args.lr, args.train_subset, args.val_size,
                     args.seed, args.test_limit, args.device, args.amp, progress=not args.quiet)
    print("finetuned  val acc {:.2f}% -> {:.2f}%{} in {:.0f} s -> {}".format(
        r.val_accuracy_before, r.val_accuracy, "" if r.test_accuracy is None else ", test acc {:.2f}%".format(r.test_accuracy),
        r.seconds, r.checkpoint))
    return 0

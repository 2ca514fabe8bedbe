"""edgenas supernet train: train the weight-sharing supernet once on the user's data (or the demo)."""

from .common import add_data_args, add_device_arg, num, parse_space_opts


def add_parser(sub) -> None:
    p = sub.add_parser("supernet", help="train the weight-sharing supernet")
    ssub = p.add_subparsers(dest="supernet_cmd", metavar="<train>")
    ssub.required = True
    t = ssub.add_parser("train", help="sandwich or progressive-shrinking training with in-place distillation; "
                        "resumable per epoch; multi-GPU with torchrun")
    t.add_argument("--space", default="mbv3-small")
    num(t, "--resolution", help="default: the data's image size")
    t.add_argument("--space-opt", action="append", metavar="KEY=VALUE")
    add_data_args(t)
    num(t, "--epochs", default=3)
    num(t, "--batch-size", default=128, help="global batch (split across torchrun processes)")
    num(t, "--lr", default=0.05)
    num(t, "--seed", default=0)
    num(t, "--threads", default=0, help="torch CPU threads (default: all cores)")
    t.add_argument("--schedule", choices=["sandwich", "progressive"], default="sandwich",
                   help="sandwich rule every step, or OFA progressive shrinking (kernel -> depth -> expand)")
    add_device_arg(t)
    t.add_argument("--amp", default="off", choices=["off", "auto", "bf16", "fp16"], help="mixed precision on CUDA")
    t.add_argument("--channels-last", action="store_true", help="channels-last memory format on CUDA")
    t.add_argument("--out", required=True, help="run directory; writes supernet.pt")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=run_train)


def run_train(args) -> int:
    from .. import api

    r = api.train_supernet(args.out, args.space, args.data, args.resolution, parse_space_opts(args.space_opt), args.epochs,
                           args.batch_size, args.lr, args.train_subset, args.val_size, args.seed, args.threads, args.device,
                           args.amp, args.channels_last, args.schedule, progress=not args.quiet, log=print)
    print("supernet {} ({} images, {} epochs on {}{})".format(
        r.checkpoint, r.train_images, r.epochs, r.device, ", {:.0f} img/s".format(r.images_per_s) if r.images_per_s else ""))
    return 0

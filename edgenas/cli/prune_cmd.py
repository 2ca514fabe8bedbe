"""edgenas prune: latency-aware structured pruning to a latency target, then fine-tuning."""

from .common import add_data_args, add_device_arg, num


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="structured channel pruning (torch-pruning) to a table latency target")
    p.add_argument("model", help="model checkpoint (extract/finetune)")
    p.add_argument("--table", required=True, help="latency table of the deployment target")
    num(p, "--latency-ms", required=True)
    num(p, "--round-to", default=8, help="channel multiple (hardware alignment)")
    p.add_argument("--importance", default="magnitude", help="magnitude | taylor | lamp | random")
    p.add_argument("--no-measure", action="store_true", help="trust the interpolated table only (board not here)")
    num(p, "--finetune-epochs", default=1)
    num(p, "--lr", default=0.01)
    add_data_args(p)
    add_device_arg(p)
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import api

    r = api.prune(args.model, args.table, args.latency_ms, args.out, args.round_to, args.importance, not args.no_measure,
                  args.finetune_epochs, args.lr, args.data, args.train_subset, args.val_size, args.device, not args.quiet)
    meas = "" if r.measured_ms is None else ", measured {:.4f} ms ({:.2f}x target)".format(r.measured_ms, r.measured_ms / args.latency_ms)
    print("pruned     {:.3f} M -> {:.3f} M params; predicted {:.4f} -> {:.4f} ms ({}){}".format(
        r.params_before_m, r.params_after_m, r.predicted_before_ms, r.predicted_ms, r.latency_source, meas))
    print("accuracy   val {:.2f}% -> {:.2f}% pruned -> {:.2f}% after {} fine-tune epoch(s); {:.0f} s -> {}".format(
        r.val_acc_before, r.val_acc_pruned, r.val_acc_finetuned, args.finetune_epochs, r.seconds, r.checkpoint))
    return 0

"""edgenas prune: latency-aware structured pruning to a latency target, then fine-tuning."""

from .common import add_data_args, add_device_arg, num


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="structured channel pruning (torch-pruning) to a latency target: an edgenas "
                       "checkpoint against a table, or your own model (--torch) against measurements")
    p.add_argument("model", nargs="?", help="model checkpoint (extract/finetune); omit with --torch")
    p.add_argument("--table", help="latency table of the deployment target (checkpoints)")
    num(p, "--latency-ms", required=True)
    own = p.add_argument_group("your own PyTorch model (measured per-layer profile, measured candidates)")
    own.add_argument("--torch", metavar="PKG.MODULE:FACTORY", help="function returning your nn.Module (no arguments)")
    own.add_argument("--weights", help="state dict to load into the factory's model")
    own.add_argument("--input-shape", help="example input shape, e.g. 1x3x224x224")
    own.add_argument("--target", help="ONNX Runtime target the latency is measured on (default cpu-x86-ort-fp32)")
    own.add_argument("--board", help="remote board (not yet supported with --torch)")
    own.add_argument("--keep", action="append", metavar="REGEX", help="never prune modules whose name matches (repeatable)")
    own.add_argument("--finetune", metavar="PKG.MODULE:FUNCTION", help="hook(model, step, final) called between steps and "
                     "at the end")
    own.add_argument("--max-ratio", type=float, default=0.9, help="most of a layer's channels pruned (default 0.9)")
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

    from ..errors import EdgenasError

    if args.target is not None:
        from ..tasks.common import as_target

        as_target(args.target)  # a bad target file is named before anything else
    if args.torch:
        return _run_own(args)
    if not args.model:
        raise EdgenasError("prune needs a checkpoint and --table, or --torch pkg.module:factory --input-shape 1x3xHxW")
    if args.target is not None:
        raise EdgenasError("--target is for --torch; a checkpoint is pruned for the target of its --table")
    if not args.table:
        from ..nas.train import load_checkpoint

        load_checkpoint(args.model)  # a bad checkpoint is named first
        raise EdgenasError("prune of a checkpoint needs --table (the latency table of the deployment target)")

    r = api.prune(args.model, args.table, args.latency_ms, args.out, args.round_to, args.importance, not args.no_measure,
                  args.finetune_epochs, args.lr, args.data, args.train_subset, args.val_size, args.device, not args.quiet)
    meas = "" if r.measured_ms is None else ", measured {:.4f} ms ({:.2f}x target)".format(r.measured_ms, r.measured_ms / args.latency_ms)
    print("pruned     {:.3f} M -> {:.3f} M params; predicted {:.4f} -> {:.4f} ms ({}){}".format(
        r.params_before_m, r.params_after_m, r.predicted_before_ms, r.predicted_ms, r.latency_source, meas))
    print("accuracy   val {:.2f}% -> {:.2f}% pruned -> {:.2f}% after {} fine-tune epoch(s); {:.0f} s -> {}".format(
        r.val_acc_before, r.val_acc_pruned, r.val_acc_finetuned, args.finetune_epochs, r.seconds, r.checkpoint))
    return 0


def _run_own(args) -> int:
    from .. import api
    from ..errors import EdgenasError

    if args.model or args.table:
        raise EdgenasError("--torch prunes your own model: drop the checkpoint argument and --table")
    if not args.input_shape:
        raise EdgenasError("--torch needs --input-shape, e.g. --input-shape 1x3x224x224")
    target = args.target or "cpu-x86-ort-fp32"
    r = api.prune_torch(args.torch, args.input_shape, args.latency_ms, args.out, target=target, weights=args.weights,
                        board=args.board, keep=args.keep, finetune=args.finetune, max_ratio=args.max_ratio, round_to=args.round_to,
                        log=None if args.quiet else print)
    print("pruned     {:.3f} M -> {:.3f} M params in {} step(s); {} measured candidate(s){}".format(
        r.params_before_m, r.params_after_m, r.steps, len(r.candidates), " (resumed)" if r.resumed else ""))
    print("latency    baseline {:.4f} ms -> measured {:.4f} ms ({:.2f}x the baseline timed alongside; budget {:.4f} ms) "
          "on {}".format(r.baseline_ms, r.measured_ms, r.measured_ratio, r.budget_ms, target))
    print("accuracy   {}".format(r.note))
    print("saved      {} (torch.save of the module) and {} in {:.0f} s".format(r.out, r.log, r.seconds))
    return 0

"""edgenas prune: latency-aware structured pruning to a latency target, then fine-tuning."""

import time

from .supernet_cmd import add_data_args


def add_parser(sub) -> None:
    p = sub.add_parser("prune", help="structured channel pruning (torch-pruning) to a table latency target")
    p.add_argument("model", help="model checkpoint (extract/finetune)")
    p.add_argument("--table", required=True, help="latency table of the deployment target")
    p.add_argument("--latency-ms", type=float, required=True)
    p.add_argument("--round-to", type=int, default=8, help="channel multiple (hardware alignment)")
    p.add_argument("--importance", default="magnitude", help="magnitude | taylor | lamp | random")
    p.add_argument("--no-measure", action="store_true", help="trust the interpolated table only (board not here)")
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.01)
    add_data_args(p)
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch
    import torch.nn.functional as F

    from ..compress.prune import measure_latency_fn, prune_to_latency
    from ..profile.predictor import Predictor
    from ..profile.table import LatencyTable
    from ..search.session import load_model, prepare_data
    from ..search.train import accuracy, save_checkpoint, train_model
    from ..targets import target_from_dict
    from .model_cmd import _data

    t0 = time.time()
    model, meta, space = load_model(args.model)
    table = LatencyTable.load(args.table)
    pred = Predictor(table, space)
    target = target_from_dict(table.header["target"], "table target")
    data = prepare_data(args.data or _data(meta), space.resolution, args.train_subset, args.val_size, 0,
                        norm=meta["norm"], channels=space.config["in_channels"])
    x = torch.randn(*space.input_shape())
    measure = None if args.no_measure or target.backend != "onnxruntime" else measure_latency_fn(target, space.input_shape())

    def taylor_grads(m):
        m.zero_grad()
        F.cross_entropy(m(data["X"][:256]), data["y"][:256]).backward()

    arch = space.from_string(meta["arch"])
    acc0 = accuracy(model, data["X_val"], data["y_val"])
    res = prune_to_latency(model, arch, pred, args.latency_ms, x, args.importance, args.round_to, measure, taylor_grads)
    pruned = res["model"]
    acc_pruned = accuracy(pruned, data["X_val"], data["y_val"])
    if args.finetune_epochs:
        train_model(pruned, data["X"], data["y"], args.finetune_epochs, 128, args.lr, 0, "finetune", not args.quiet)
    acc_ft = accuracy(pruned, data["X_val"], data["y_val"])
    p0 = sum(p.numel() for p in model.parameters())
    p1 = sum(p.numel() for p in pruned.parameters())
    info = {k: v for k, v in res.items() if k != "model"}
    info.update(target_ms=args.latency_ms, importance=args.importance, round_to=args.round_to, params_before=p0, params_after=p1,
                val_acc_before=acc0, val_acc_pruned=acc_pruned, val_acc_finetuned=acc_ft)
    save_checkpoint(args.out, pruned.state_dict(), dict(meta, pruned=info, val_accuracy=acc_ft, source="prune"))
    meas = "" if res["measured_ms"] is None else ", measured {:.4f} ms ({:.2f}x target)".format(
        res["measured_ms"], res["measured_ms"] / args.latency_ms)
    print("pruned     {:.3f} M -> {:.3f} M params; predicted {:.4f} -> {:.4f} ms ({}){}".format(
        p0 / 1e6, p1 / 1e6, res["base_predicted_ms"], res["predicted_ms"], res["latency_source"], meas))
    print("accuracy   val {:.2f}% -> {:.2f}% pruned -> {:.2f}% after {} fine-tune epoch(s); {:.0f} s -> {}".format(
        acc0, acc_pruned, acc_ft, args.finetune_epochs, time.time() - t0, args.out))
    return 0

"""edgenas export / quantize: model checkpoint -> ONNX (+ sidecar) -> INT8 Q/DQ ONNX in the target's flavour."""

from .common import num


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="export a model checkpoint to ONNX (+ .onnx.json sidecar with its input contract)")
    e.add_argument("model", help="model checkpoint from extract/finetune/prune")
    e.add_argument("--out", required=True)
    num(e, "--inputs", metavar="N", help="also save N preprocessed test images (OUT.inputs.npz) and "
        "the FP32 outputs on them (OUT.ref_outputs.npz) for validation on the board")
    e.add_argument("--dynamic-batch", action="store_true", help="export with a dynamic batch dim")
    e.set_defaults(func=run_export)
    q = sub.add_parser("quantize", help="static INT8 Q/DQ quantization with sensitivity analysis")
    q.add_argument("model", help="FP32 ONNX (with its .onnx.json sidecar, or give --calib-inputs)")
    q.add_argument("--calib-data", help="dataset for calibration (default: the one the model was trained on)")
    q.add_argument("--calib-inputs", help=".npz with preprocessed 'inputs' (N,C,H,W float32); for a model with dynamic dims "
                   "also a folder of .npz files (or a comma-separated list), each at its own shape (--method minmax)")
    q.add_argument("--shapes", action="append", metavar="NAME:MIN,OPT,MAX",
                   help="the deployment's ranges (as edgenas check --shapes): every calibration input must lie in one, and "
                   "the span of the declared range the calibration covers is reported")
    num(q, "--calib-size", help="calibration images (default 256; 32 with --plan auto)")
    q.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
    q.add_argument("--target", default="cpu-x86-ort-int8", help="int8 target: its backend picks the Q/DQ flavour "
                   "(ONNX Runtime: u8 asymmetric; TensorRT: symmetric int8, float bias)")
    num(q, "--min-sqnr-db", default=15.0, help="keep layers below this SQNR in float (-1 disables)")
    q.add_argument("--plan", help="per-op precisions, comma-separated (int8,fp32,...), or a JSON file with "
                   "'precision_plan' (default: the plan a mixed search left in the model's sidecar; 'none' ignores it); "
                   "'auto' for your own ONNX model: measure FP32, INT8 and mixed plans on this machine and ship the "
                   "fastest inside --max-rel-error")
    q.add_argument("--max-rel-error", action="append", metavar="[OUTPUT:]E",
                   help="--plan auto: largest relative L2 error of each output against FP32 on the calibration data "
                   "(default 0.1; repeat per output as name:value)")
    q.add_argument("--input-shape", action="append", metavar="NAME:1x3x224x224",
                   help="--plan auto: sizes for the dynamic dims of an input")
    num(q, "--budget-s", default=60.0, help="--plan auto: seconds for each timing run (default 60)")
    num(q, "--seed", default=0, help="--plan auto: seed of the random calibration data (without --calib-inputs)")
    q.add_argument("--calib-cache-in", help="reuse this calibration cache (refused if model or data differ)")
    q.add_argument("--calib-cache-out", help="write the calibration cache here")
    q.add_argument("--out", required=True)
    q.set_defaults(func=run_quantize)


def run_export(args) -> int:
    from .. import api

    r = api.export(args.model, args.out, args.inputs, args.dynamic_batch)
    print("exported   {} ({:.1f} KB, {:.1f} s) + {}".format(r.onnx, r.size_kb, r.seconds, r.sidecar))
    if r.inputs:
        print("saved      {} and {} (FP32 outputs) for the board".format(r.inputs, r.ref_outputs))
    return 0


def run_quantize(args) -> int:
    from .. import api

    plan = _plan(args.plan) if args.plan != "auto" else "auto"
    if plan == "auto" or isinstance(plan, dict):
        if args.shapes:
            from ..errors import EdgenasError

            raise EdgenasError("--plan auto measures one shape: give it as --input-shape NAME:SHAPE (the opt shape), not --shapes")
        return run_own_plan(args, plan)
    if args.max_rel_error or args.input_shape:
        from ..errors import EdgenasError

        raise EdgenasError("--max-rel-error and --input-shape are for --plan auto (your own ONNX model)")
    r = api.quantize(args.model, args.out, args.target, args.method, args.calib_size or 256, args.calib_data, args.calib_inputs,
                     None if args.min_sqnr_db < 0 else args.min_sqnr_db, args.calib_cache_in, args.calib_cache_out,
                     precision_plan=plan, shapes=args.shapes)
    print("quantized  {} -> {} ({:.1f} KB -> {:.1f} KB) in {:.1f} s; {} flavour, {} calibration images, {}, {} layer(s) kept "
          "in float{}".format(args.model, r.onnx, r.size_kb_before, r.size_kb_after, r.seconds, r.flavour,
                              r.calibration_images, args.method, len(r.kept_float),
                              ": " + ", ".join(r.kept_float[:8]) + (" ..." if len(r.kept_float) > 8 else "") if r.kept_float else ""))
    for note in (getattr(r, "report", None) or {}).get("calibration_notes", []):
        print("note       " + note)
    return 0


def run_own_plan(args, plan) -> int:
    """--plan auto (or a node plan from an earlier --plan auto) on your own ONNX model."""
    from .. import api

    r = api.quantize_auto(args.model, args.out, args.target, args.calib_inputs, args.calib_size or 32, args.input_shape,
                          args.max_rel_error or 0.1, args.method, args.seed, args.budget_s,
                          plan=None if plan == "auto" else plan)
    if plan != "auto":
        print("quantized  {} -> {} with the given plan ({} nodes kept in float); output errors {}".format(
            args.model, r.onnx, len(plan["fp32_nodes"]), _errs(r.errors)))
        return 0
    print("measured   FP32 {:.4f} ms, INT8 {:.4f} ms, shipped {} {:.4f} ms ({} of {} groups INT8) in one interleaved "
          "run".format(r.fp32_ms, r.int8_ms, r.shipped, r.shipped_ms, r.int8_groups, r.groups))
    print("shipped    {} ({}): {}; output errors {}".format(r.onnx, r.shipped, r.reason, _errs(r.errors)))
    print("plan       {} (precision_plan); per-layer profile {} ({:.0f} s)".format(r.sidecar, r.profile, r.seconds))
    if not args.calib_inputs:
        print("note       calibrated on random inputs; give --calib-inputs X.npz (one array per model input) for your data")
    return 0


def _errs(errors) -> str:
    return ", ".join("{} rel {:.4f}".format(k, v["rel_l2"]) for k, v in errors.items())


def _plan(text):
    """--plan: None (the sidecar's), [] for 'none', a list from 'int8,fp32,...' or a JSON file's precision_plan."""
    import json
    from pathlib import Path

    from ..errors import EdgenasError

    if text is None:
        return None
    if text.lower() == "none":
        return []
    if text.endswith(".json") or Path(text).is_file():
        try:
            data = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise EdgenasError("--plan {}: cannot read a JSON file ({})".format(text, type(e).__name__))
        if isinstance(data, dict) and isinstance(data.get("precision_plan"), dict):
            return data["precision_plan"]  # a node plan (quantize --plan auto's sidecar)
        if not isinstance(data, dict) or not isinstance(data.get("precision_plan"), list):
            raise EdgenasError("--plan {}: the JSON must hold a 'precision_plan' list (best.arch.json of a mixed search)".format(text))
        return data["precision_plan"]
    return [p.strip() for p in text.split(",") if p.strip()]

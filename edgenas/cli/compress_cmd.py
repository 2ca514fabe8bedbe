"""edgenas export / quantize: model checkpoint -> ONNX (+ sidecar) -> INT8 Q/DQ ONNX."""

import time
from pathlib import Path


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="export a model checkpoint to ONNX (+ .onnx.json sidecar with its input contract)")
    e.add_argument("model", help="model checkpoint from extract/finetune/prune")
    e.add_argument("--out", required=True)
    e.add_argument("--inputs", type=int, metavar="N", help="also save N preprocessed test images (OUT.inputs.npz) and "
                   "the FP32 outputs on them (OUT.ref_outputs.npz) for validation on the board")
    e.set_defaults(func=run_export)
    q = sub.add_parser("quantize", help="static INT8 Q/DQ quantization with sensitivity analysis")
    q.add_argument("model", help="FP32 ONNX (with its .onnx.json sidecar, or give --calib-inputs)")
    q.add_argument("--calib-data", help="dataset for calibration (default: the one the model was trained on)")
    q.add_argument("--calib-inputs", help=".npz with preprocessed 'inputs' (N,C,H,W float32)")
    q.add_argument("--calib-size", type=int, default=256, help="calibration images (default 256)")
    q.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
    q.add_argument("--target", default="cpu-x86-ort-int8", help="target whose quantization settings to use")
    q.add_argument("--min-sqnr-db", type=float, default=15.0, help="keep layers below this SQNR in float (-1 disables)")
    q.add_argument("--calib-cache-in", help="reuse this calibration cache (refused if model or data differ)")
    q.add_argument("--calib-cache-out", help="write the calibration cache here")
    q.add_argument("--out", required=True)
    q.set_defaults(func=run_quantize)


def run_export(args) -> int:
    from ..export.model_export import export_model
    from ..search.session import load_model

    t0 = time.time()
    model, meta, space = load_model(args.model)
    path = export_model(model, meta, space, args.out)
    print("exported   {} ({:.1f} KB, {:.1f} s) + {}.json".format(path, path.stat().st_size / 1024, time.time() - t0, path))
    if args.inputs:
        _save_board_inputs(path, args.inputs)
    return 0


def _save_board_inputs(path, n: int) -> None:
    import io

    import numpy as np

    from ..data.preprocess import dataset_inputs
    from ..export.model_export import read_sidecar
    from ..runtime.ort import OrtRunner
    from ..util.io import atomic_write_bytes
    from ..validate.compare import run_batched
    from ..validate.run import save_outputs

    inputs, labels = dataset_inputs(None, read_sidecar(path), n)
    buf = io.BytesIO()
    np.savez(buf, inputs=inputs, labels=labels)
    atomic_write_bytes(str(path) + ".inputs.npz", buf.getvalue())
    with OrtRunner(path) as r:
        save_outputs(str(path) + ".ref_outputs.npz", run_batched(r, inputs, 1), inputs)
    print("saved      {0}.inputs.npz ({1} images) and {0}.ref_outputs.npz (FP32 outputs) for the board".format(path, len(inputs)))


def run_quantize(args) -> int:
    from ..compress.quantize import quantize_model
    from ..data.preprocess import dataset_inputs, load_inputs
    from ..export.model_export import read_sidecar, sidecar_path
    from ..targets import load_target
    from ..util.io import atomic_write_json
    import dataclasses

    from ..export.onnx_export import load_onnx

    t0 = time.time()
    load_onnx(args.model)
    target = load_target(args.target)
    quant = dataclasses.replace(target.quantization, method=args.method)
    side = read_sidecar(args.model)
    if args.calib_inputs:
        calib, _ = load_inputs(args.calib_inputs)
        calib = calib[: args.calib_size]
    else:
        calib, _ = dataset_inputs(args.calib_data, side, args.calib_size, split="train", seed=1)
    report = quantize_model(args.model, args.out, calib, quant, None if args.min_sqnr_db < 0 else args.min_sqnr_db,
                            args.calib_cache_in, args.calib_cache_out)
    if side:
        atomic_write_json(sidecar_path(args.out), dict(side, precision="int8", quantization=dict(report, target=target.name),
                                                     fp32_source=str(args.model)))
    kept = report.get("sensitivity", {}).get("kept_float", [])
    print("quantized  {} -> {} ({:.1f} KB -> {:.1f} KB) in {:.1f} s; {} calibration images, {}, {} layer(s) kept in float{}".format(
        args.model, args.out, Path(args.model).stat().st_size / 1024, Path(args.out).stat().st_size / 1024, time.time() - t0,
        len(calib), args.method, len(kept), ": " + ", ".join(kept) if kept else ""))
    return 0

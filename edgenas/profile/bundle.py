"""Host side: plan an ops bundle - one ONNX per op the space can produce, a few whole reference
networks for calibration, an overhead probe, and a manifest. The board needs nothing else."""

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from .. import __version__
from ..errors import EdgenasError
from ..export.onnx_export import DEFAULT_OPSET, export_onnx
from ..util.io import atomic_write_bytes, atomic_write_json, sha256_file, sha256_json
from ..util.progress import progress
from .table import BUNDLE_SCHEMA


def reference_genotypes(space, n: int, seed: int) -> np.ndarray:
    """The smallest and the largest architecture, then random ones: calibration needs the extremes."""
    lo = np.zeros(len(space.genes), dtype=np.int64)
    hi = np.array([len(g.choices) - 1 for g in space.genes], dtype=np.int64)
    rest = space.sample(np.random.default_rng(seed + 7919), max(n - 2, 0))
    return space.canonical(np.vstack([lo[None], hi[None], rest]))[:n]


def _overhead_model(shape) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(shape))
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "overhead", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def randomize_batchnorm(module):
    """Give BatchNorm layers trained-looking statistics. Freshly initialised BNs fold into identical
    all-zero biases that the exporter de-duplicates into one shared initializer, which the INT8
    quantizer then cannot quantize: the conv stays in float and times 2-10x slower than in a real net."""
    import torch

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return module


def export_for_target(module_fn, shape, path: Path, target, seed: int, op: bool = False) -> None:
    """Export ``module_fn()`` for the target's precision: FP32 ONNX, or Q/DQ INT8 calibrated on noise
    (enough for timing; deployment calibrates on real data). An INT8 ``op`` takes and returns
    quantized tensors, as it does inside a quantized network."""
    import torch

    torch.manual_seed(seed)
    module = randomize_batchnorm(module_fn())
    if target.precision != "int8":
        export_onnx(module, shape, path)
        return
    from ..compress.qdq import quantize_qdq, strip_io_qdq

    fp32 = path.with_suffix(".fp32.onnx")
    export_onnx(module, shape, fp32)
    rng = np.random.default_rng(seed)
    calib = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    try:
        quantize_qdq(fp32, path, calib, target.quantization)
        if op and target.backend == "onnxruntime":  # TensorRT keeps float I/O and fuses the boundary Q/DQ itself
            strip_io_qdq(path)
    finally:
        fp32.unlink()


def plan_bundle(space, target, out_dir, n_networks: int = 32, seed: int = 0, show_progress: bool = True) -> Dict[str, Any]:
    """Write the bundle for ``space`` on ``target`` into ``out_dir``; files already written by an
    interrupted run with the same spec are reused. Returns the manifest."""
    import torch

    if target.batch != 1:
        raise EdgenasError("target '{}' has batch {}; ops bundles are planned at batch 1 for now".format(target.name, target.batch))
    out = Path(out_dir)
    spec = {"space": space.describe(), "precision": target.precision, "quantization": target.to_dict()["quantization"],
            "n_networks": n_networks, "seed": seed, "opset": DEFAULT_OPSET}
    spec_path = out / "spec.json"
    if spec_path.is_file():
        try:
            old = json.loads(spec_path.read_text())
        except ValueError:
            old = None
        if old != spec:
            raise EdgenasError("{} holds a bundle planned with other settings; use an empty --bundle directory".format(out))
    elif out.exists() and any(out.iterdir()):
        raise EdgenasError("{} is not empty and is not an edgenas bundle; use an empty --bundle directory".format(out))
    atomic_write_json(spec_path, spec)
    t0 = time.time()
    ops: List[Dict[str, Any]] = []
    keys = space.all_ops()
    genos = reference_genotypes(space, n_networks, seed)
    torch.set_num_threads(1)
    with progress(len(keys) + len(genos), "plan " + target.precision, "files", disable=not show_progress) as bar:
        for i, key in enumerate(keys):
            path = out / "ops" / "{:04d}.onnx".format(i)
            shape = space.op_input_shape(key)
            if not path.is_file():
                export_for_target(lambda k=key: space.build_op(k), shape, path, target, seed + i, op=True)
            params, macs = space.op_cost(key)
            ops.append({"key": key, "file": str(path.relative_to(out)), "sha256": sha256_file(path),
                        "input": {"name": "input", "shape": list(shape), "dtype": "float32"},
                        "params": params, "macs": macs})
            bar.update(1)
        nets = []
        for j, g in enumerate(genos):
            arch = space.decode(g)
            path = out / "nets" / "ref{:02d}.onnx".format(j)
            if not path.is_file():
                export_for_target(lambda a=arch: space.build(a), space.input_shape(), path, target, seed + 100000 + j)
            nets.append({"name": "ref{:02d}".format(j), "arch": space.to_string(arch), "ops": space.ops(arch),
                         "file": str(path.relative_to(out)), "sha256": sha256_file(path),
                         "input": {"name": "input", "shape": list(space.input_shape()), "dtype": "float32"}})
            bar.update(1)
    ovh = out / "overhead.onnx"
    atomic_write_bytes(ovh, _overhead_model(space.input_shape()))
    manifest = {
        "schema": BUNDLE_SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "edgenas": __version__, "target": target.to_dict(), "target_sha256": target.sha256,
        "space": space.describe(), "resolution": space.resolution, "precision": target.precision,
        "export": {"exporter": "torch.onnx (dynamo=False)", "opset": DEFAULT_OPSET, "torch": torch.__version__},
        "plan_time_s": round(time.time() - t0, 1), "ops": ops, "networks": nets,
        "overhead": {"file": "overhead.onnx", "sha256": sha256_file(ovh),
                     "input": {"name": "input", "shape": list(space.input_shape()), "dtype": "float32"}},
    }
    manifest["sha256"] = sha256_json({k: v for k, v in manifest.items() if k not in ("created", "plan_time_s")})
    atomic_write_json(out / "manifest.json", manifest)
    return manifest

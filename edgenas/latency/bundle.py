"""Host side: plan an ops bundle - one ONNX per op the space can produce, a few whole reference
networks for calibration, an overhead probe, and a manifest. The board needs nothing else."""

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from .._version import __version__
from ..backends.registry import get_backend
from ..errors import EdgenasError
from ..modelio.onnx_export import DEFAULT_OPSET, export_onnx
from ..util.io import atomic_write_bytes, atomic_write_json, sha256_file, sha256_json
from ..util.progress import progress
from .table import BUNDLE_SCHEMA


def reference_genotypes(space, n: int, seed: int) -> np.ndarray:
    """The smallest and the largest architecture, then random ones: calibration needs the extremes."""
    lo = np.zeros(len(space.genes), dtype=np.int64)
    hi = np.array([len(g.choices) - 1 for g in space.genes], dtype=np.int64)
    rest = space.sample(np.random.default_rng(seed + 7919), max(n - 2, 0))
    return space.canonical(np.vstack([lo[None], hi[None], rest]))[:n]


def overhead_model(shape, target) -> bytes:
    """The per-call overhead probe: an Identity at float precision, or for an int8 TensorRT target a
    symmetric QuantizeLinear -> DequantizeLinear pair, since TensorRT builds int8 only from Q/DQ."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, list(shape))
    if get_backend(target.backend).int8_overhead_qdq and target.precision == "int8":
        inits = [helper.make_tensor("scale", TensorProto.FLOAT, [], [0.05]), helper.make_tensor("zp", TensorProto.INT8, [], [0])]
        nodes = [helper.make_node("QuantizeLinear", ["input", "scale", "zp"], ["q"], name="overhead_q"),
                 helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["output"], name="overhead_dq")]
    else:
        inits, nodes = [], [helper.make_node("Identity", ["input"], ["output"])]
    graph = helper.make_graph(nodes, "overhead", [x], [y], initializer=inits)
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


def export_for_target(module_fn, shape, path: Path, target, seed: int, op: bool = False, precision: Optional[str] = None,
                      float_blocks: Optional[List[int]] = None) -> None:
    """Export ``module_fn()`` for the target's precision (or ``precision``): FP32 ONNX, or Q/DQ INT8
    calibrated on noise (enough for timing; deployment calibrates on real data), with ``float_blocks``
    (a mixed plan) left in float. An INT8 ``op`` takes and returns quantized tensors, as it does
    inside a quantized network."""
    import torch

    torch.manual_seed(seed)
    module = randomize_batchnorm(module_fn())
    if (precision or target.precision) != "int8":
        export_onnx(module, shape, path)
        return
    from ..compress.qdq import qdq_flavour, quantize_qdq, strip_io_qdq
    from ..compress.quantize import block_nodes

    fp32 = path.with_suffix(".fp32.onnx")
    export_onnx(module, shape, fp32)
    rng = np.random.default_rng(seed)
    calib = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
    try:
        import onnx

        keep = block_nodes(onnx.load(str(fp32)), float_blocks) if float_blocks else None
        quantize_qdq(fp32, path, calib, target.quantization, nodes_to_exclude=keep, flavour=qdq_flavour(target))
        if op and get_backend(target.backend).float_io_ops:  # TensorRT fuses the boundary Q/DQ itself
            strip_io_qdq(path)
    finally:
        fp32.unlink()


def _export_op(space, key: str, path: Path, target, seed: int) -> None:
    from ..space.mixed import FLOAT_PREFIX, MixedSpace

    if isinstance(space, MixedSpace):
        from .mixed_bundle import boundary_model

        if key.startswith(FLOAT_PREFIX):
            export_for_target(lambda: space.build_op(key), space.op_input_shape(key), path, target, seed, op=True,
                              precision="fp32")
            return
        if key.split("_", 1)[0] in ("quant", "dequant"):
            atomic_write_bytes(path, boundary_model(key, target))
            return
    export_for_target(lambda: space.build_op(key), space.op_input_shape(key), path, target, seed, op=True)


def export_net(space, arch, path: Path, target, seed: int) -> None:
    plan = arch.get("precision")
    if plan is not None and "int8" not in plan:
        export_for_target(lambda: space.build(arch), space.input_shape(), path, target, seed, precision="fp32")
    else:
        export_for_target(lambda: space.build(arch), space.input_shape(), path, target, seed,
                          float_blocks=space.float_blocks(arch) if plan is not None else None)


def plan_bundle(space, target, out_dir, n_networks: int = 32, seed: int = 0, show_progress: bool = True,
                genotypes: Optional[np.ndarray] = None) -> Dict[str, Any]:
    """Write the bundle for ``space`` on ``target`` into ``out_dir``; files already written by an
    interrupted run with the same spec are reused; a second planner of the same folder is refused.
    ``genotypes``: these reference networks and only the ops they use (a drift check's small bundle)
    instead of ``n_networks`` chosen here and every op of the space. Returns the manifest."""
    from ..util.lock import exclusive

    with exclusive(Path(out_dir) / ".edgenas.lock", "bundle {}".format(out_dir)):
        return _plan(space, target, out_dir, n_networks, seed, show_progress, genotypes)


def _plan(space, target, out_dir, n_networks: int, seed: int, show_progress: bool,
          genotypes: Optional[np.ndarray] = None) -> Dict[str, Any]:
    import torch

    if target.batch != 1:
        raise EdgenasError("target '{}' has batch {}; ops bundles are planned at batch 1 for now".format(target.name, target.batch))
    if getattr(space, "precisions", None) and not (get_backend(target.backend).mixed_tables and target.precision == "int8"):
        raise EdgenasError("mixed-precision tables are profiled on ONNX Runtime int8 targets (e.g. cpu-x86-ort-int8); "
                           "target '{}' is {} {}".format(target.name, target.backend, target.precision))
    out = Path(out_dir)
    spec = {"space": space.describe(), "backend": target.backend, "precision": target.precision, "quantization": target.to_dict()["quantization"],
            "n_networks": n_networks, "seed": seed, "opset": DEFAULT_OPSET}
    if genotypes is not None:
        spec["genotypes"] = np.asarray(genotypes).tolist()
    spec_path = out / "spec.json"
    if spec_path.is_file():
        try:
            old = json.loads(spec_path.read_text())
        except ValueError:
            old = None
        if old != spec:
            diff = sorted(k for k in spec if not isinstance(old, dict) or old.get(k) != spec[k])
            raise EdgenasError("{} holds a bundle planned with other settings ({} differ); use an empty --bundle directory "
                               "or delete it to plan afresh".format(out, ", ".join(diff) or "spec"))
    elif out.exists() and any(p.name != ".edgenas.lock" for p in out.iterdir()):
        raise EdgenasError("{} is not empty and is not an edgenas bundle; use an empty --bundle directory".format(out))
    atomic_write_json(spec_path, spec)
    t0 = time.time()
    ops: List[Dict[str, Any]] = []
    if genotypes is None:
        keys, genos = space.all_ops(), reference_genotypes(space, n_networks, seed)
    else:
        genos = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
        used = {k for g in genos for k in space.ops(space.decode(g))}
        keys = [k for k in space.all_ops() if k in used]
    torch.set_num_threads(1)
    with progress(len(keys) + len(genos), "plan " + target.precision, "files", disable=not show_progress) as bar:
        for i, key in enumerate(keys):
            path = out / "ops" / "{:04d}.onnx".format(i)
            shape = space.op_input_shape(key)
            if not path.is_file():
                _export_op(space, key, path, target, seed + i)
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
                export_net(space, arch, path, target, seed + 100000 + j)
            nets.append({"name": "ref{:02d}".format(j), "arch": space.to_string(arch), "ops": space.ops(arch),
                         **({"precision_plan": arch["precision"]} if "precision" in arch else {}),
                         "file": str(path.relative_to(out)), "sha256": sha256_file(path),
                         "input": {"name": "input", "shape": list(space.input_shape()), "dtype": "float32"}})
            bar.update(1)
    ovh = out / "overhead.onnx"
    atomic_write_bytes(ovh, overhead_model(space.input_shape(), target))
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

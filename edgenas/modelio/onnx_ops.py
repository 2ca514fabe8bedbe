"""Which nodes of an ONNX model a runtime cannot run: named by node and op, never the runtime's own exception.

ONNX Runtime fails on an unknown op or domain with a C++ error about its internal copy of the model
(``augmented_model.onnx`` during quantization); the user needs the node's name and op instead."""

from pathlib import Path
from typing import List, Optional, Tuple

from ..errors import EdgenasError

# Domains ONNX Runtime's CPU build registers kernels for (standard ONNX, ONNX-ML and its own contrib ops).
ORT_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc", "com.ms.internal.nhwc",
               "ai.onnx.preview.training", "ai.onnx.training")


def _opset(model, domain: str) -> Optional[int]:
    for o in model.opset_import:
        if o.domain == domain or (domain in ("", "ai.onnx") and o.domain in ("", "ai.onnx")):
            return int(o.version)
    return None


def unknown_nodes(model) -> List[Tuple[str, str, str]]:
    """(node name, op, why) for every node whose op or domain is unknown to ONNX and ONNX Runtime."""
    import onnx.defs

    local = {(f.domain, f.name) for f in getattr(model, "functions", [])}  # model-local functions are fine
    out = []
    for i, n in enumerate(model.graph.node):
        name = n.name or "#{} (unnamed)".format(i)
        op = "{}::{}".format(n.domain, n.op_type) if n.domain else n.op_type
        if (n.domain, n.op_type) in local:
            continue
        if n.domain not in ORT_DOMAINS:
            out.append((name, op, "domain '{}' is not one ONNX Runtime knows".format(n.domain)))
        elif n.domain in ("", "ai.onnx", "ai.onnx.ml"):
            version = _opset(model, n.domain)
            try:
                onnx.defs.get_schema(n.op_type, version or onnx.defs.onnx_opset_version(), n.domain)
            except Exception:  # SchemaError: no such op (at this opset)
                out.append((name, op, "no op '{}' in ONNX{}".format(n.op_type, " opset {}".format(version) if version else "")))
    return out


def unknown_nodes_error(model, where: str, fix: str) -> Optional[EdgenasError]:
    bad = unknown_nodes(model)
    if not bad:
        return None
    name, op, why = bad[0]
    more = " (and {} more node(s))".format(len(bad) - 1) if len(bad) > 1 else ""
    return EdgenasError("{}: node '{}' uses op {}: {}{}; {}".format(where, name, op, why, more, fix))


def check_ort_loadable(path, fix: str = "replace the op or export the model with standard ONNX ops") -> None:
    """Refuse a model ONNX Runtime cannot load, naming the first node and op it cannot run."""
    import onnx
    import onnxruntime as ort

    err = unknown_nodes_error(onnx.load(str(path), load_external_data=False), Path(path).name, fix)
    if err is not None:
        raise err
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # anything else ONNX Runtime refuses: its first line, not a traceback
        raise EdgenasError("{}: ONNX Runtime cannot load it: {}; {}".format(
            Path(path).name, (str(e).splitlines() or [type(e).__name__])[0][:300], fix))

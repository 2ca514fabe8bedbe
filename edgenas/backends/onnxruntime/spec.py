"""ONNX Runtime, described once (see edgenas/backends/spec.py)."""

from ..spec import BackendSpec


def _runner(path, target, **options):
    from .runner import OrtRunner

    return OrtRunner(path, threads=target.threads, graph_optimization=target.graph_optimization, providers=target.providers)


SPEC = BackendSpec(
    name="onnxruntime",
    title="ONNX Runtime",
    summary="ONNX Runtime sessions on the target's execution providers (CPU here)",
    precisions=("fp32", "fp16", "int8"),
    qdq_flavour="onnxruntime",
    timing="host wall clock around session.run, interleaved rounds of many short calls",
    module="onnxruntime",
    install="{python} -m pip install --user onnxruntime",
    runs=(".onnx",),
    float_io_ops=True,
    host_timing=True,
    mixed_tables=True,
    make_runner=_runner,
)

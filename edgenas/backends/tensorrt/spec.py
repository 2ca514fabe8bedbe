"""TensorRT, described once (see edgenas/backends/spec.py)."""

from ..spec import BackendSpec


def _runner(path, target, **options):
    from . import runner_for

    return runner_for(path, target, **options)


SPEC = BackendSpec(
    name="tensorrt",
    title="TensorRT",
    summary="TensorRT engines (pure plan + sidecar) built on the board from ONNX; explicit Q/DQ for INT8",
    precisions=("fp32", "fp16", "int8"),
    qdq_flavour="tensorrt",
    timing="CUDA events around back-to-back enqueues / CUDA-graph replays (GPU time, no host launch gaps)",
    module="tensorrt",
    install="on a Jetson: sudo apt-get install -y python3-libnvinfer (JetPack); elsewhere {python} -m pip install tensorrt",
    runs=(".engine", ".plan", ".onnx"),
    builds_engine=True,
    needs_cuda=True,
    int8_overhead_qdq=True,
    make_runner=_runner,
)

"""PyTorch as the deployment runtime (GPU servers), described once (see edgenas/backends/spec.py)."""

from ..spec import BackendSpec

SPEC = BackendSpec(
    name="torch",
    title="PyTorch",
    summary="PyTorch modules at the target's precision (GPU servers where PyTorch itself is the runtime)",
    precisions=("fp32", "fp16"),
    qdq_flavour=None,
    timing="CUDA-graph replays timed with CUDA events on a GPU; eager, host-timed on a CPU",
    module="torch",
    install="{python} -m pip install torch (the build matching the machine's CUDA driver)",
    profiles_bundles=False,
)

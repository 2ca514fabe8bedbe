"""What a backend is, declared once in its own folder (``backends/<folder>/spec.py``, ``SPEC = BackendSpec(...)``).

Code outside backends/ asks the registry (``edgenas.backends.registry.get_backend``) instead of comparing
backend names: adding a backend means adding a folder with a spec.py. Board-side safe (stdlib, Python 3.8);
a spec imports nothing of its runtime: ``make_runner`` imports it when called."""

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple


@dataclass(frozen=True)
class BackendSpec:
    name: str                      # the value of ``backend:`` in a target YAML
    title: str                     # its name for people ("TensorRT")
    summary: str                   # one line for people
    precisions: Tuple[str, ...]    # deployment precisions a target may ask for
    qdq_flavour: Optional[str]     # the INT8 Q/DQ ONNX form it takes (edgenas/compress/qdq.py); None: no INT8
    timing: str                    # how a latency is measured, one line
    module: str                    # the Python module a machine needs to run it
    install: str                   # how a board gets it ({python}: the board's interpreter)
    runs: Tuple[str, ...] = ()     # artifact suffixes its runner loads (() : no file runner)
    builds_engine: bool = False    # an ONNX is built into an engine (+ sidecar) before it runs
    needs_cuda: bool = False       # needs the CUDA runtime (libcudart) on the machine
    profiles_bundles: bool = True  # tables are timed from an ops bundle (ONNX per op); False: its own modules
    float_io_ops: bool = False     # ops in an INT8 bundle keep float I/O (boundary Q/DQ stripped); False: the
    #                                runtime fuses the boundary Q/DQ itself
    int8_overhead_qdq: bool = False  # the int8 per-call overhead probe is a Q->DQ pair (int8 builds only from Q/DQ)
    host_timing: bool = False      # a host without the board can time candidates itself (latency-aware pruning)
    mixed_tables: bool = False     # per-op int8/fp32 (mixed precision) tables can be profiled for it
    make_runner: Optional[Callable[..., Any]] = None  # (path, target, **options) -> Runner

    def install_line(self, python: str = "python3") -> str:
        return self.install.format(python=python)

    def runs_file(self, path: str) -> bool:
        return any(str(path).endswith(s) for s in self.runs)

"""Board side: one folder per runtime (Polygraphy's backend/<name> shape), each owning how a model is
built, loaded, run and timed behind the ``Runner`` interface. Imports numpy plus the backend's own
package (onnxruntime, tensorrt, torch), lazily; never torch for the ONNX Runtime or TensorRT backends.
"""

import dataclasses
from typing import Any

from ..errors import EdgenasError
from ..runtime.base import Runner

BACKENDS = ("onnxruntime", "tensorrt", "torch")


def make_runner(path, target, **options: Any) -> Runner:
    """The runner for ``target.backend`` with the target's threads / providers / precision."""
    if target.backend == "onnxruntime":
        from .onnxruntime import OrtRunner

        return OrtRunner(path, threads=target.threads, graph_optimization=target.graph_optimization,
                         providers=target.providers)
    if target.backend == "tensorrt":
        from .tensorrt import runner_for

        return runner_for(path, target, **options)
    raise EdgenasError("backend '{}' has no file runner; known: onnxruntime, tensorrt".format(target.backend))


def reference_target(target):
    """The same board and backend at FP32: what an artifact is compared against. On a TensorRT int8
    or fp16 target the reference is an FP32 engine, never one built at the artifact's precision."""
    return dataclasses.replace(target, precision="fp32", name=target.name + "@fp32")

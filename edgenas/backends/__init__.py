"""Board side: one folder per runtime (Polygraphy's backend/<name> shape), each owning how a model is
built, loaded, run and timed behind the ``Runner`` interface, and describing itself once in its spec.py
(precisions, Q/DQ flavour, timing method, install line, what it runs; see registry.py). Imports numpy plus
the backend's own package (onnxruntime, tensorrt, torch), lazily; never torch for ONNX Runtime or TensorRT.
"""

import dataclasses
from typing import Any

from ..errors import EdgenasError
from ..runtime.base import Runner


def make_runner(path, target, **options: Any) -> Runner:
    """The runner for ``target.backend`` (its folder's spec.py) with the target's threads / providers / precision."""
    from .registry import get_backend, list_backends

    spec = get_backend(target.backend)
    if spec.make_runner is None:
        raise EdgenasError("backend '{}' has no file runner; the ones that run files: {}".format(
            target.backend, ", ".join(n for n in list_backends() if get_backend(n).make_runner is not None)))
    return spec.make_runner(path, target, **options)


def reference_target(target):
    """The same board and backend at FP32: what an artifact is compared against. On a TensorRT int8
    or fp16 target the reference is an FP32 engine, never one built at the artifact's precision."""
    return dataclasses.replace(target, precision="fp32", name=target.name + "@fp32")

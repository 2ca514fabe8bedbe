"""Board side: runners and timing. Imports numpy plus the backend's own package, never torch."""

from .base import Runner


def make_runner(path, target):
    """The runner for ``target.backend``, with threads / graph level / providers from the target."""
    if target.backend == "onnxruntime":
        from .ort import OrtRunner

        return OrtRunner(path, threads=target.threads, graph_optimization=target.graph_optimization,
                         providers=target.providers)
    from ..errors import EdgenasError

    raise EdgenasError("backend '{}' has no runner in this edgenas build; on a TensorRT board use "
                       "the TensorRT runner once it is installed".format(target.backend))


__all__ = ["Runner", "make_runner"]

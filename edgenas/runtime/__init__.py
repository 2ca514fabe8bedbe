"""Board side: runners and timing. Imports numpy plus the backend's own package, never torch."""

from .base import Runner


def make_runner(path, target):
    """The runner for ``target.backend``, with threads / graph level / providers from the target."""
    if target.backend == "onnxruntime":
        from .ort import OrtRunner

        return OrtRunner(path, threads=target.threads, graph_optimization=target.graph_optimization,
                         providers=target.providers)
    if target.backend == "tensorrt":
        from .trt import TrtRunner

        if str(path).endswith(".onnx"):  # ops bundles and validation hand the board ONNX files
            from ..deploy.build import cached_engine

            path = cached_engine(path, target, log=lambda s: None)
        return TrtRunner(path)
    from ..errors import EdgenasError

    raise EdgenasError("backend '{}' has no runner".format(target.backend))


__all__ = ["Runner", "make_runner"]

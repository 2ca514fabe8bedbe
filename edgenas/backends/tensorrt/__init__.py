"""TensorRT backend: static ONNX check, engine builder (pure plan + sidecar), runner with gap-free GPU
timing, and the CUDA runtime through the board's libcudart. TensorRT itself is imported lazily."""

from pathlib import Path


def runner_for(path, target, **options):
    """A TrtRunner for an engine, or for an ONNX file built (once, cached) into an engine for ``target``."""
    from .builder import cached_engine
    from .runner import TrtRunner

    if Path(str(path)).suffix == ".onnx":
        path = cached_engine(path, target)
    return TrtRunner(path, **options)

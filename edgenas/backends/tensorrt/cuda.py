"""The CUDA runtime calls TensorRT needs, through the board's own libcudart (ctypes, as Polygraphy's
``cuda`` module does): it matches the board's driver by construction, so no pip package can pick a
CUDA build the driver is too old for (cuda-python 12.x on JetPack 5 fails with error 35).
cuda-python is used instead when ``EDGENAS_CUDA=cuda-python``. Board side: stdlib + numpy, Python 3.8.

Everything created here (streams, events, graphs, pinned buffers) is destroyed by its owner: a timed
call creates nothing, so a long profiling run does not grow host memory.
"""

import ctypes
import os
from typing import Any, Callable, Dict, Optional

import numpy as np

from ...errors import EdgenasError
from .cuda_bindings import (
    ATTR_CC_MAJOR,
    ATTR_CC_MINOR,
    ATTR_SM_COUNT,
    CudaError,
    _CudaPython,
    _Cudart,
)
from .cuda_pycuda import _PyCuda

__all__ = ["CudaError", "cuda", "device_info", "Stream", "Graph", "PinnedArray", "DeviceBuffer"]

_IMPLS: Dict[str, Callable[[], Any]] = {"cudart": _Cudart, "cuda-python": _CudaPython, "pycuda": _PyCuda}
_LOADED: Dict[str, Any] = {}


def cuda(binding: Optional[str] = None):
    """The process-wide CUDA binding: ``cudart`` (default), ``cuda-python`` or ``pycuda`` (``EDGENAS_CUDA``)."""
    name = binding or os.environ.get("EDGENAS_CUDA", "cudart")
    if name not in _IMPLS:
        raise EdgenasError("EDGENAS_CUDA={!r}: choose cudart (the board's libcudart), cuda-python or pycuda".format(name))
    if name not in _LOADED:
        _LOADED[name] = _IMPLS[name]()
    return _LOADED[name]


def version_str(v: int) -> str:
    return "{}.{}".format(v // 1000, (v % 1000) // 10)


def device_info(dev: int = 0) -> Dict[str, Any]:
    """Name, compute capability, SMs, memory and runtime/driver versions of GPU ``dev``."""
    c = cuda()
    if c.device_count() < 1:
        raise CudaError("no CUDA GPU is visible; check `nvidia-smi`, CUDA_VISIBLE_DEVICES and that the driver is loaded")
    rt, drv = c.versions()
    free, total = c.mem_info()
    return {"name": c.device_name(dev), "compute_capability": "{}.{}".format(c.attribute(ATTR_CC_MAJOR, dev),
                                                                             c.attribute(ATTR_CC_MINOR, dev)),
            "multiprocessors": c.attribute(ATTR_SM_COUNT, dev), "mem_free_mib": free >> 20, "mem_total_mib": total >> 20,
            "cuda_runtime": version_str(rt), "cuda_driver": version_str(drv), "binding": c.kind, "library": c.path}


class Stream:
    """A CUDA stream with one pair of timing events, created once and destroyed by ``close``."""

    def __init__(self) -> None:
        self.cuda = cuda()
        self.handle = self.cuda.stream_create()
        self._start = self._end = 0
        try:
            self._start = self.cuda.event_create()
            self._end = self.cuda.event_create()
        except BaseException:  # an event failed: destroy what exists, or the stream leaks
            if self._start:
                self.cuda.event_destroy(self._start)
            self.cuda.stream_destroy(self.handle)
            self.handle = 0
            raise

    def sync(self) -> None:
        self.cuda.stream_sync(self.handle)

    def time_ms(self, fn: Callable[[], None], n: int) -> float:
        """GPU milliseconds per call of ``fn`` (which enqueues work on this stream), over ``n`` calls
        back to back between two events: host gaps between launches overlap with GPU work."""
        self.cuda.event_record(self._start, self.handle)
        for _ in range(n):
            fn()
        self.cuda.event_record(self._end, self.handle)
        return self.cuda.event_elapsed_ms(self._start, self._end) / n

    def close(self) -> None:
        if self.handle:
            self.sync()
            for e in (self._start, self._end):
                self.cuda.event_destroy(e)
            self.cuda.stream_destroy(self.handle)
            self.handle = 0


class Graph:
    """Work enqueued by ``fn`` on ``stream``, captured once into a CUDA graph and replayed (trtexec's
    --useCudaGraph): a replay launches the whole model at once, so no host gap is timed."""

    def __init__(self, stream: Stream, fn: Callable[[], None]) -> None:
        self.stream, c = stream, stream.cuda
        self.graph = self.exec = 0
        c.capture_begin(stream.handle)
        try:
            fn()
        except BaseException:
            try:
                g = c.capture_end(stream.handle)  # always end the capture, or the stream stays unusable
            except CudaError:  # an invalidated capture ends with an error and no graph: report fn's error
                g = 0
            if g:
                c.graph_destroy(g)  # the half-captured graph is never used
            raise
        self.graph = c.capture_end(stream.handle)
        try:
            self.exec = c.graph_instantiate(self.graph)
        except BaseException:  # instantiation failed: the captured graph would leak
            c.graph_destroy(self.graph)
            self.graph = 0
            raise

    def launch(self) -> None:
        self.stream.cuda.graph_launch(self.exec, self.stream.handle)

    def close(self) -> None:
        c = self.stream.cuda
        if self.exec:
            c.graph_exec_destroy(self.exec)
        if self.graph:
            c.graph_destroy(self.graph)
        self.exec = self.graph = 0


class PinnedArray:
    """A page-locked host array (async copies from pageable memory are staged and synchronous)."""

    def __init__(self, shape, dtype) -> None:
        self.cuda = cuda()
        nbytes = max(int(np.prod(shape)) * np.dtype(dtype).itemsize, 1)
        self.ptr = self.cuda.malloc_host(nbytes)
        raw = (ctypes.c_byte * nbytes).from_address(self.ptr)
        self.array = np.frombuffer(raw, dtype=np.uint8)[: int(np.prod(shape)) * np.dtype(dtype).itemsize].view(dtype).reshape(shape)

    def close(self) -> None:
        if self.ptr:
            self.array = None
            self.cuda.free_host(self.ptr)
            self.ptr = 0


class DeviceBuffer:
    def __init__(self, nbytes: int) -> None:
        self.cuda = cuda()
        self.nbytes = max(int(nbytes), 1)
        self.ptr = self.cuda.malloc(self.nbytes)

    def close(self) -> None:
        if self.ptr:
            self.cuda.free(self.ptr)
            self.ptr = 0

"""The pycuda binding of the CUDA layer (see cuda_bindings.py for libcudart and cuda-python): for boards
where pycuda is what the user has. Board side: stdlib + numpy, Python 3.8."""

import ctypes
from typing import Any, Callable, Dict, Tuple

import numpy as np

from ...errors import EdgenasError
from .cuda_bindings import ATTR_CC_MAJOR, ATTR_CC_MINOR, ATTR_SM_COUNT, H2D, CudaError


class _PyCuda:
    """pycuda, where that is what the board has: memory, copies, streams and events. It cannot capture
    CUDA graphs, so timing falls back to back-to-back enqueues (recorded as such)."""

    kind = "pycuda"

    def __init__(self) -> None:
        try:
            import pycuda.driver as drv
        except ImportError:
            raise EdgenasError("EDGENAS_CUDA=pycuda but pycuda is not installed; unset EDGENAS_CUDA to use libcudart")
        self.drv, self.path = drv, getattr(drv, "__file__", "pycuda")
        self.objs: Dict[int, Any] = {}  # pycuda objects by the integer handles the other bindings use
        try:
            drv.init()
            self.dev = drv.Device(0)
            self.ctx = self.dev.retain_primary_context()  # TensorRT works in the primary context
            try:
                self.ctx.push()
            except drv.Error:  # activation failed: release the retained context, or it leaks
                self.ctx.detach()
                raise
        except drv.Error as e:
            raise CudaError("pycuda cannot start CUDA: {}; check `nvidia-smi` and the driver".format(str(e).splitlines()[0]))

    def _do(self, what: str, fn: Callable[[], Any]):
        try:
            return fn()
        except self.drv.Error as e:
            raise CudaError("CUDA call {} failed (pycuda): {}".format(what, str(e).splitlines()[0]))

    def _keep(self, obj, key: int) -> int:
        self.objs[int(key)] = obj
        return int(key)

    def _host(self, ptr: int, n: int) -> np.ndarray:
        return np.ctypeslib.as_array((ctypes.c_byte * n).from_address(ptr))

    def versions(self) -> Tuple[int, int]:
        major, minor = self.drv.get_version()[:2]
        return major * 1000 + minor * 10, int(self.drv.get_driver_version())

    def device_count(self) -> int:
        return int(self.drv.Device.count())

    def device_name(self, dev: int) -> str:
        return str(self.drv.Device(dev).name())

    def attribute(self, attr: int, dev: int) -> int:
        a = self.drv.device_attribute
        names = {ATTR_CC_MAJOR: a.COMPUTE_CAPABILITY_MAJOR, ATTR_CC_MINOR: a.COMPUTE_CAPABILITY_MINOR,
                 ATTR_SM_COUNT: a.MULTIPROCESSOR_COUNT}
        return int(self.drv.Device(dev).get_attribute(names[attr]))

    def mem_info(self) -> Tuple[int, int]:
        return tuple(int(x) for x in self._do("mem_get_info", self.drv.mem_get_info))  # type: ignore[return-value]

    def malloc(self, n: int) -> int:
        a = self._do("mem_alloc", lambda: self.drv.mem_alloc(n))
        return self._keep(a, int(a))

    def free(self, p: int) -> None:
        self._do("free", self.objs.pop(p).free)

    def malloc_host(self, n: int) -> int:
        a = self._do("pagelocked_empty", lambda: self.drv.pagelocked_empty(n, np.uint8))
        return self._keep(a, a.ctypes.data)

    def free_host(self, p: int) -> None:
        self.objs.pop(p, None)

    def copy_async(self, dst: int, src: int, n: int, kind: int, stream: int) -> None:
        s = self.objs[stream]
        if kind == H2D:
            self._do("memcpy_htod_async", lambda: self.drv.memcpy_htod_async(dst, self._host(src, n), s))
        else:
            self._do("memcpy_dtoh_async", lambda: self.drv.memcpy_dtoh_async(self._host(dst, n), src, s))

    def stream_create(self) -> int:
        s = self._do("Stream", self.drv.Stream)
        return self._keep(s, s.handle)

    def stream_destroy(self, s: int) -> None:
        self.objs.pop(s, None)

    def stream_sync(self, s: int) -> None:
        self._do("Stream.synchronize", self.objs[s].synchronize)

    def event_create(self) -> int:
        e = self._do("Event", self.drv.Event)
        return self._keep(e, id(e))

    def event_destroy(self, e: int) -> None:
        self.objs.pop(e, None)

    def event_record(self, e: int, s: int) -> None:
        self._do("Event.record", lambda: self.objs[e].record(self.objs[s]))

    def event_elapsed_ms(self, a: int, b: int) -> float:
        self._do("Event.synchronize", self.objs[b].synchronize)
        return float(self.objs[a].time_till(self.objs[b]))

    def capture_begin(self, s: int) -> None:
        raise CudaError("CUDA graph capture is not available through pycuda; timing back-to-back enqueues instead")

    capture_end = graph_instantiate = graph_launch = graph_destroy = graph_exec_destroy = capture_begin  # type: ignore

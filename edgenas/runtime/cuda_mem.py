"""Device memory, streams and events through NVIDIA's cuda-python, or pycuda where that is what the
board has. Imported only by the TensorRT runner and builder; nothing here runs without a GPU."""

from typing import Tuple

import numpy as np

from ..errors import EdgenasError


class Cuda:
    """The few CUDA runtime calls TensorRT needs: malloc/free, async copies, stream, events."""

    def __init__(self) -> None:
        try:
            try:
                from cuda.bindings import runtime as rt  # cuda-python >= 12.6 layout
            except ImportError:
                from cuda import cudart as rt  # older cuda-python
            self.rt, self.kind = rt, "cuda-python"
        except ImportError:
            try:
                import pycuda.autoinit  # noqa: F401
                import pycuda.driver as drv
            except ImportError:
                raise EdgenasError("TensorRT needs cuda-python (pip install cuda-python) or pycuda for device memory")
            self.drv, self.kind = drv, "pycuda"

    def _ok(self, res):
        err, *rest = res if isinstance(res, tuple) else (res,)
        if int(err) != 0:
            raise EdgenasError("CUDA call failed with error {} ({}); is a GPU and driver present?".format(int(err), err))
        return rest[0] if len(rest) == 1 else rest

    def device_info(self) -> Tuple[str, str]:
        if self.kind == "pycuda":
            dev = self.drv.Context.get_device()
            major, minor = dev.compute_capability()
            return dev.name(), "{}.{}".format(major, minor)
        props = self._ok(self.rt.cudaGetDeviceProperties(0))
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        return name.strip("\x00"), "{}.{}".format(props.major, props.minor)

    def malloc(self, nbytes: int) -> int:
        if self.kind == "pycuda":
            return self.drv.mem_alloc(max(nbytes, 1))
        return int(self._ok(self.rt.cudaMalloc(max(nbytes, 1))))

    def free(self, ptr) -> None:
        if self.kind == "pycuda":
            ptr.free()
        else:
            self._ok(self.rt.cudaFree(ptr))

    def stream(self):
        return self.drv.Stream() if self.kind == "pycuda" else self._ok(self.rt.cudaStreamCreate())

    def handle(self, stream) -> int:
        return stream.handle if self.kind == "pycuda" else int(stream)

    def htod(self, ptr, host: np.ndarray, stream) -> None:
        if self.kind == "pycuda":
            self.drv.memcpy_htod_async(ptr, host, stream)
        else:
            self._ok(self.rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes,
                                             self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream))

    def dtoh(self, host: np.ndarray, ptr, stream) -> None:
        if self.kind == "pycuda":
            self.drv.memcpy_dtoh_async(host, ptr, stream)
        else:
            self._ok(self.rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes,
                                             self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream))

    def sync(self, stream) -> None:
        if self.kind == "pycuda":
            stream.synchronize()
        else:
            self._ok(self.rt.cudaStreamSynchronize(stream))

    def elapsed_ms(self, stream, fn, n: int) -> float:
        """Milliseconds per call of ``fn`` measured by CUDA events on ``stream`` (host copies excluded)."""
        if self.kind == "pycuda":
            a, b = self.drv.Event(), self.drv.Event()
            a.record(stream)
            for _ in range(n):
                fn()
            b.record(stream)
            b.synchronize()
            return a.time_till(b) / n
        a, b = self._ok(self.rt.cudaEventCreate()), self._ok(self.rt.cudaEventCreate())
        self._ok(self.rt.cudaEventRecord(a, stream))
        for _ in range(n):
            fn()
        self._ok(self.rt.cudaEventRecord(b, stream))
        self._ok(self.rt.cudaEventSynchronize(b))
        ms = self._ok(self.rt.cudaEventElapsedTime(a, b))
        return float(ms) / n

"""The three ways to reach the CUDA runtime: the board's libcudart through ctypes (default), NVIDIA's
cuda-python, and pycuda (cuda_pycuda.py). Each offers the same few calls; errors become one-line ``CudaError``s that
name the call, the CUDA error and the fix. Board side: stdlib + numpy, Python 3.8.
"""

import ctypes
import ctypes.util
import glob
import os
import sys
from typing import List, Optional, Tuple


from ...errors import EdgenasError

H2D, D2H = 1, 2
CAPTURE_THREAD_LOCAL = 1
ATTR_CC_MAJOR, ATTR_CC_MINOR, ATTR_SM_COUNT = 75, 76, 16

# What to do about the errors users meet, by cudaError_t value.
_FIXES = {
    2: "out of GPU memory; close other GPU programs or use a smaller model/workspace",
    3: "the CUDA driver failed to initialise; check `nvidia-smi` (x86) or `tegrastats` (Jetson) and reboot if it fails",
    35: "the CUDA runtime is newer than the driver supports; use the board's own libcudart (unset EDGENAS_CUDA: on "
        "JetPack 5 that is the only choice, no cuda-python release is built for CUDA 11.4) or, on a CUDA 12 driver, "
        "pip install '.[cuda12]' (cuda-python>=12.2,<12.7)",
    100: "no CUDA GPU is visible; check `nvidia-smi`, CUDA_VISIBLE_DEVICES and that the driver is loaded",
    101: "invalid device; CUDA_VISIBLE_DEVICES hides the GPU you asked for",
    803: "the CUDA driver and its kernel module do not match; reboot after a driver update",
    804: "this GPU does not support CUDA forward compatibility; use the CUDA runtime that ships with the driver",
    900: "this work cannot be captured into a CUDA graph",
    901: "a CUDA graph capture was invalidated by another call on the stream",
}


def _candidates() -> List[str]:
    env = os.environ.get("EDGENAS_CUDART")
    if env:
        return [env]
    out: List[str] = []
    for pattern in ("/usr/local/cuda/lib64/libcudart.so*", "/usr/local/cuda/targets/*/lib/libcudart.so*"):
        out += sorted(glob.glob(pattern), reverse=True)
    found = ctypes.util.find_library("cudart")
    if found:
        out.append(found)
    for d in sys.path:
        out += sorted(glob.glob(os.path.join(d, "nvidia", "*", "lib", "libcudart.so*")), reverse=True)
    for pattern in ("/usr/local/cuda-*/lib64/libcudart.so*", "/usr/lib/*-linux-gnu/libcudart.so*"):
        out += sorted(glob.glob(pattern), reverse=True)
    return [p for p in dict.fromkeys(out) if not p.endswith(".a")]


class CudaError(EdgenasError):
    """A failed CUDA call: one line with the call, the error's name and what to do."""


class _Cudart:
    """libcudart through ctypes."""

    kind = "libcudart (ctypes)"

    def __init__(self) -> None:
        tried = []
        lib: Optional[ctypes.CDLL] = None
        for path in _candidates():
            try:
                lib = ctypes.CDLL(path)
                self.path = path
                break
            except OSError as e:
                tried.append("{} ({})".format(path, str(e).split(":")[-1].strip()))
        if lib is None:
            raise EdgenasError("cannot load the CUDA runtime (libcudart.so); tried: {}; set EDGENAS_CUDART to its "
                               "path (JetPack: /usr/local/cuda/lib64/libcudart.so)".format(", ".join(tried) or "nothing found"))
        self.lib = lib
        self.lib.cudaGetErrorName.restype = ctypes.c_char_p
        self.lib.cudaGetErrorString.restype = ctypes.c_char_p

    def error_name(self, code: int) -> Tuple[str, str]:
        return (self.lib.cudaGetErrorName(code) or b"?").decode(), (self.lib.cudaGetErrorString(code) or b"").decode()

    def call(self, name: str, *args) -> None:
        code = int(getattr(self.lib, name)(*args))
        if code:
            raise _error(self, name, code)

    def out(self, name: str, ctype, *args):
        v = ctype()
        self.call(name, ctypes.byref(v), *args)
        return v.value

    def versions(self) -> Tuple[int, int]:
        return self.out("cudaRuntimeGetVersion", ctypes.c_int), self.out("cudaDriverGetVersion", ctypes.c_int)

    def device_name(self, dev: int) -> str:
        buf = ctypes.create_string_buffer(8192)  # cudaDeviceProp starts with char name[256] in CUDA 11-13
        fn = "cudaGetDeviceProperties_v2" if hasattr(self.lib, "cudaGetDeviceProperties_v2") else "cudaGetDeviceProperties"
        self.call(fn, buf, dev)
        return buf.raw[:256].split(b"\x00", 1)[0].decode("utf-8", "replace")

    def attribute(self, attr: int, dev: int) -> int:
        return self.out("cudaDeviceGetAttribute", ctypes.c_int, attr, dev)

    def mem_info(self) -> Tuple[int, int]:
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        self.call("cudaMemGetInfo", ctypes.byref(free), ctypes.byref(total))
        return free.value, total.value

    def ptr(self, name: str, *args) -> int:
        p = ctypes.c_void_p()
        self.call(name, ctypes.byref(p), *args)
        return int(p.value or 0)

    def malloc(self, n: int) -> int:
        return self.ptr("cudaMalloc", ctypes.c_size_t(n))

    def free(self, p: int) -> None:
        self.call("cudaFree", ctypes.c_void_p(p))

    def malloc_host(self, n: int) -> int:
        return self.ptr("cudaMallocHost", ctypes.c_size_t(n))

    def free_host(self, p: int) -> None:
        self.call("cudaFreeHost", ctypes.c_void_p(p))

    def copy_async(self, dst: int, src: int, n: int, kind: int, stream: int) -> None:
        self.call("cudaMemcpyAsync", ctypes.c_void_p(dst), ctypes.c_void_p(src), ctypes.c_size_t(n), kind,
                  ctypes.c_void_p(stream))

    def stream_create(self) -> int:
        return self.ptr("cudaStreamCreateWithFlags", ctypes.c_uint(1))  # non-blocking: no legacy-stream sync

    def stream_destroy(self, s: int) -> None:
        self.call("cudaStreamDestroy", ctypes.c_void_p(s))

    def stream_sync(self, s: int) -> None:
        self.call("cudaStreamSynchronize", ctypes.c_void_p(s))

    def event_create(self) -> int:
        return self.ptr("cudaEventCreate")

    def event_destroy(self, e: int) -> None:
        self.call("cudaEventDestroy", ctypes.c_void_p(e))

    def event_record(self, e: int, s: int) -> None:
        self.call("cudaEventRecord", ctypes.c_void_p(e), ctypes.c_void_p(s))

    def event_elapsed_ms(self, a: int, b: int) -> float:
        self.call("cudaEventSynchronize", ctypes.c_void_p(b))
        ms = ctypes.c_float()
        self.call("cudaEventElapsedTime", ctypes.byref(ms), ctypes.c_void_p(a), ctypes.c_void_p(b))
        return float(ms.value)

    def capture_begin(self, s: int) -> None:
        self.call("cudaStreamBeginCapture", ctypes.c_void_p(s), CAPTURE_THREAD_LOCAL)

    def device_count(self) -> int:
        return self.out("cudaGetDeviceCount", ctypes.c_int)

    def capture_end(self, s: int) -> int:
        g = ctypes.c_void_p()
        self.call("cudaStreamEndCapture", ctypes.c_void_p(s), ctypes.byref(g))
        return int(g.value or 0)

    def graph_instantiate(self, g: int) -> int:
        ex = ctypes.c_void_p()  # ...WithFlags exists from CUDA 11.4 on and keeps one signature through 13
        self.call("cudaGraphInstantiateWithFlags", ctypes.byref(ex), ctypes.c_void_p(g), ctypes.c_ulonglong(0))
        return int(ex.value or 0)

    def graph_launch(self, ex: int, s: int) -> None:
        self.call("cudaGraphLaunch", ctypes.c_void_p(ex), ctypes.c_void_p(s))

    def graph_destroy(self, g: int) -> None:
        self.call("cudaGraphDestroy", ctypes.c_void_p(g))

    def graph_exec_destroy(self, ex: int) -> None:
        self.call("cudaGraphExecDestroy", ctypes.c_void_p(ex))


class _CudaPython(_Cudart):
    """NVIDIA's cuda-python (``cuda.bindings.runtime`` or the older ``cuda.cudart``): same calls, other wrapping."""

    kind = "cuda-python"

    def __init__(self) -> None:
        try:
            try:
                from cuda.bindings import runtime as rt  # cuda-python >= 12.6 layout
            except ImportError:
                from cuda import cudart as rt  # type: ignore[no-redef]
        except ImportError:
            raise EdgenasError("EDGENAS_CUDA=cuda-python but cuda-python is not installed; pip install the cuda-python "
                               "matching your driver, or unset EDGENAS_CUDA to use the board's libcudart")
        except Exception as e:  # cuda-python 12 raises a bare RuntimeError without a driver
            raise EdgenasError("cuda-python cannot start: {}; unset EDGENAS_CUDA to use the board's libcudart".format(
                str(e).splitlines()[0] if str(e) else type(e).__name__))
        self.rt, self.path = rt, getattr(rt, "__file__", "cuda-python")

    def error_name(self, code: int) -> Tuple[str, str]:
        name = self.rt.cudaGetErrorName(self.rt.cudaError_t(code))[1]
        text = self.rt.cudaGetErrorString(self.rt.cudaError_t(code))[1]
        return name.decode() if isinstance(name, bytes) else str(name), text.decode() if isinstance(text, bytes) else str(text)

    def _call(self, name: str, *args):
        try:
            res = getattr(self.rt, name)(*args)
        except RuntimeError as e:  # raised instead of an error code when no driver can be loaded
            raise CudaError("{} failed: {}; is the NVIDIA driver installed?".format(name, str(e).splitlines()[0]))
        res = res if isinstance(res, tuple) else (res,)
        if int(res[0]):
            raise _error(self, name, int(res[0]))
        return res[1] if len(res) == 2 else res[1:]

    call = _call  # type: ignore[assignment]

    def versions(self) -> Tuple[int, int]:
        return int(self._call("cudaRuntimeGetVersion")), int(self._call("cudaDriverGetVersion"))

    def device_count(self) -> int:
        return int(self._call("cudaGetDeviceCount"))

    def device_name(self, dev: int) -> str:
        n = self._call("cudaGetDeviceProperties", dev).name
        return (n.decode() if isinstance(n, bytes) else str(n)).split("\x00", 1)[0]

    def attribute(self, attr: int, dev: int) -> int:
        return int(self._call("cudaDeviceGetAttribute", self.rt.cudaDeviceAttr(attr), dev))

    def mem_info(self) -> Tuple[int, int]:
        free, total = self._call("cudaMemGetInfo")
        return int(free), int(total)

    def malloc(self, n: int) -> int:
        return int(self._call("cudaMalloc", n))

    def free(self, p: int) -> None:
        self._call("cudaFree", p)

    def malloc_host(self, n: int) -> int:
        return int(self._call("cudaMallocHost", n))

    def free_host(self, p: int) -> None:
        self._call("cudaFreeHost", p)

    def copy_async(self, dst: int, src: int, n: int, kind: int, stream: int) -> None:
        self._call("cudaMemcpyAsync", dst, src, n, self.rt.cudaMemcpyKind(kind), stream)

    def stream_create(self) -> int:
        return int(self._call("cudaStreamCreateWithFlags", 1))

    def stream_destroy(self, s: int) -> None:
        self._call("cudaStreamDestroy", s)

    def stream_sync(self, s: int) -> None:
        self._call("cudaStreamSynchronize", s)

    def event_create(self) -> int:
        return int(self._call("cudaEventCreate"))

    def event_destroy(self, e: int) -> None:
        self._call("cudaEventDestroy", e)

    def event_record(self, e: int, s: int) -> None:
        self._call("cudaEventRecord", e, s)

    def event_elapsed_ms(self, a: int, b: int) -> float:
        self._call("cudaEventSynchronize", b)
        return float(self._call("cudaEventElapsedTime", a, b))

    def capture_begin(self, s: int) -> None:
        self._call("cudaStreamBeginCapture", s, self.rt.cudaStreamCaptureMode(CAPTURE_THREAD_LOCAL))

    def capture_end(self, s: int) -> int:
        return int(self._call("cudaStreamEndCapture", s))

    def graph_instantiate(self, g: int) -> int:
        return int(self._call("cudaGraphInstantiateWithFlags", g, 0))

    def graph_launch(self, ex: int, s: int) -> None:
        self._call("cudaGraphLaunch", ex, s)

    def graph_destroy(self, g: int) -> None:
        self._call("cudaGraphDestroy", g)

    def graph_exec_destroy(self, ex: int) -> None:
        self._call("cudaGraphExecDestroy", ex)


def _v(v: int) -> str:
    return "{}.{}".format(v // 1000, (v % 1000) // 10)


def _error(impl, call: str, code: int) -> CudaError:
    try:
        name, text = impl.error_name(code)
    except Exception:  # the error-name lookup itself failed: keep the number
        name, text = "error {}".format(code), ""
    fix = _FIXES.get(code, "see NVIDIA's documentation for {}".format(name))
    if code == 35:
        try:
            runtime, driver = impl.versions()
        except Exception:  # the version query can fail for the same reason
            runtime, driver = 0, -1
        if driver == 0:
            fix = "no NVIDIA driver is loaded on this machine; run this on the board or GPU host (check `nvidia-smi`)"
        elif driver > 0:
            fix = "the CUDA runtime {} is newer than the driver's CUDA {}; {}".format(
                _v(runtime), _v(driver), fix.split("; ", 1)[1])
    return CudaError("CUDA call {} failed: {} ({}{}); {}".format(call, name, code, ": " + text if text else "", fix))

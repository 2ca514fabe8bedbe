"""TensorRT runner (board side): loads a pure plan after checking its sidecar, runs it by named I/O
tensors (execute_async_v3, TensorRT >= 8.5) or bindings (execute_async_v2, older)."""

from typing import Callable, Dict, List, Tuple

import numpy as np

from ..deploy.engine_meta import check_engine_compat, read_engine_meta
from ..deploy.trt_compat import TrtFeatures, parse_version
from ..errors import EdgenasError
from .base import Runner


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgenasError("TensorRT is not installed here; on a Jetson it ships with JetPack (python3-libnvinfer), on x86 "
                           "install NVIDIA's tensorrt wheel. Use an onnxruntime target on machines without it")
    return trt


class TrtRunner(Runner):
    def __init__(self, path) -> None:
        super().__init__(path)
        self.meta = read_engine_meta(path)

    def activate(self) -> None:
        from .cuda_mem import Cuda

        trt = import_tensorrt()
        self.cuda = Cuda()
        gpu, cc = self.cuda.device_info()
        check_engine_compat(self.meta, trt.__version__, gpu, cc)
        self.features = TrtFeatures(parse_version(trt.__version__))
        self.logger = trt.Logger(trt.Logger.WARNING)
        with open(self.path, "rb") as f:
            self.engine = trt.Runtime(self.logger).deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise EdgenasError("TensorRT could not deserialize {}".format(self.path))
        self.context = self.engine.create_execution_context()
        self.stream = self.cuda.stream()
        self.io: List[Tuple[str, bool, Tuple[int, ...], np.dtype]] = []
        for i in range(self.engine.num_io_tensors if self.features.named_tensors else self.engine.num_bindings):
            if self.features.named_tensors:
                name = self.engine.get_tensor_name(i)
                is_in = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
                shape = tuple(max(d, 1) for d in self.engine.get_tensor_shape(name))
                dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            else:
                name = self.engine.get_binding_name(i)
                is_in = self.engine.binding_is_input(i)
                shape = tuple(max(d, 1) for d in self.engine.get_binding_shape(i))
                dtype = np.dtype(trt.nptype(self.engine.get_binding_dtype(i)))
            self.io.append((name, is_in, shape, dtype))
        self.host = {n: np.empty(s, d) for n, _, s, d in self.io}
        self.dev = {n: self.cuda.malloc(self.host[n].nbytes) for n, _, _, _ in self.io}
        for n, is_in, s, _ in self.io:
            if self.features.named_tensors:
                if is_in:
                    self.context.set_input_shape(n, s)
                self.context.set_tensor_address(n, int(self.dev[n]))
        self.active = True

    def deactivate(self) -> None:
        for ptr in getattr(self, "dev", {}).values():
            self.cuda.free(ptr)
        self.dev, self.active = {}, False

    def input_specs(self):
        return [(n, s, d) for n, is_in, s, d in self.io if is_in]

    def _execute(self) -> None:
        if self.features.named_tensors:
            ok = self.context.execute_async_v3(self.cuda.handle(self.stream))
        else:
            ok = self.context.execute_async_v2([int(self.dev[n]) for n, _, _, _ in self.io], self.cuda.handle(self.stream))
        if not ok:
            raise EdgenasError("TensorRT execution failed for {}".format(self.path))

    def infer(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        for n, is_in, _, d in self.io:
            if is_in:
                self.host[n][...] = np.ascontiguousarray(feed[n], dtype=d)
                self.cuda.htod(self.dev[n], self.host[n], self.stream)
        self._execute()
        for n, is_in, _, _ in self.io:
            if not is_in:
                self.cuda.dtoh(self.host[n], self.dev[n], self.stream)
        self.cuda.sync(self.stream)
        return {n: self.host[n].copy() for n, is_in, _, _ in self.io if not is_in}

    def timed_call(self, feed: Dict[str, np.ndarray]) -> Callable[[], object]:
        """Inputs copied once; each call returns its CUDA-event time in ms (host copies excluded)."""
        self.infer(feed)
        return lambda: self.cuda.elapsed_ms(self.stream, self._execute, 1)

    def gpu_time_ms(self, n: int = 100) -> float:
        """Per-inference time from CUDA events on the stream (no host copies, no Python in between)."""
        return self.cuda.elapsed_ms(self.stream, self._execute, n)

"""TensorRT runner (board side): loads a pure plan after checking its sidecar, runs it by named I/O
tensors with ``execute_async_v3`` (TensorRT >= 8.5), and times GPU work without host gaps.

Timing: after one warm inference, the enqueue is captured once into a CUDA graph and each timed call
replays it ``inner`` times between two CUDA events (trtexec's --useCudaGraph). Where capture fails
(some engines cannot be captured; pycuda cannot capture), the same events time back-to-back enqueues
instead, and ``timing`` records the fallback and why. The host time of one enqueue is kept beside it.
"""

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ...errors import EdgenasError
from ...runtime.base import Runner
from ...runtime.shapes import at, describe, select_profile
from .compat import import_tensorrt
from .cuda import CudaError, DeviceBuffer, Graph, PinnedArray, Stream, device_info
from .dtypes import numpy_dtype
from .engine_meta import check_engine_compat, engine_profiles, read_engine_meta
from .versions import trt_errors


def _dims(d) -> List[int]:
    """A TensorRT Dims as ints (Dims is tuple-like: length and indexing)."""
    return [int(d[i]) for i in range(len(d))]


class TrtRunner(Runner):
    max_active = 16  # engines a profiler keeps activated at once (each holds a context and device memory)

    def __init__(self, path, use_graph: bool = True, inner: int = 10) -> None:
        super().__init__(path)
        self.meta = read_engine_meta(path)
        self.use_graph, self.inner = use_graph, max(1, int(inner))
        self.timing: Dict[str, Any] = {}
        self._owned: List[Any] = []
        self.graph: Optional[Graph] = None

    def activate(self) -> None:
        """Deserialize the engine, create its context and I/O buffers. On any failure everything created so
        far is destroyed again, and an error that is not an EdgenasError becomes one line naming the
        TensorRT / numpy / CUDA versions and the fix (versions.trt_errors)."""
        try:
            with trt_errors("loading engine {}".format(self.path)):
                self._activate()
        except BaseException:
            try:
                self.deactivate()
            except CudaError:  # the error that stopped activate is the one to report
                pass
            raise
        self.active = True

    def _activate(self) -> None:
        import_tensorrt()  # clear errors for a missing or half-installed TensorRT
        import tensorrt as trt  # typed by NVIDIA's tensorrt-stubs in CI
        gpu = device_info()
        check_engine_compat(self.meta, trt.__version__, gpu["name"], gpu["compute_capability"])
        self.stream = Stream()
        self._owned.append(self.stream)
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)  # kept: the runtime must outlive the engines it deserialized
        with open(self.path, "rb") as f:
            self.engine = self.runtime.deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise EdgenasError("TensorRT could not deserialize {}; rebuild it on this board".format(self.path))
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise EdgenasError("TensorRT could not create an execution context for {} (out of GPU memory?)".format(self.path))
        self.profiles = engine_profiles(self.meta)
        self.profile_index = 0
        self.io: List[Tuple[str, bool, Tuple[int, ...], np.dtype]] = []
        self.host: Dict[str, np.ndarray] = {}
        self._flat: Dict[str, np.ndarray] = {}
        self.dev: Dict[str, DeviceBuffer] = {}
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        fixed = {n: tuple(max(d, 1) for d in _dims(self.engine.get_tensor_shape(n))) for n in inputs}
        first = at(self.profiles[0], "opt") if self.profiles else {}
        # buffers hold the largest shape of every profile: set each profile's max and read the output shapes
        elems: Dict[str, int] = {}
        for p, prof in enumerate(self.profiles or [{}]):
            self._select(p, dict(fixed, **at(prof, "max")) if prof else fixed)
            for n in names:
                elems[n] = max(elems.get(n, 1), int(np.prod([max(d, 1) for d in _dims(self.context.get_tensor_shape(n))])))
        self._select(0, dict(fixed, **first))
        for name in names:
            dtype = numpy_dtype(self.engine.get_tensor_dtype(name), name, self.path)
            pinned = PinnedArray((elems[name],), dtype)
            self._owned.append(pinned)
            self._flat[name] = pinned.array
            self.dev[name] = DeviceBuffer(pinned.array.nbytes)
            self._owned.append(self.dev[name])
            if not self.context.set_tensor_address(name, self.dev[name].ptr):
                raise EdgenasError("TensorRT refused the device address of '{}' in {}".format(name, self.path))
            self.io.append((name, name in inputs, (), dtype))
        self._views()

    def _select(self, index: int, shapes: Dict[str, Tuple[int, ...]]) -> None:
        """Make profile ``index`` active (where it changes) and set every input's shape."""
        if self.profiles and (index != self.profile_index or not self.io):
            if not self.context.set_optimization_profile_async(index, self.stream.handle):
                raise EdgenasError("TensorRT refused optimization profile {} of {}".format(index, self.path))
            self.profile_index = index
        for name, shape in shapes.items():
            if not self.context.set_input_shape(name, tuple(int(d) for d in shape)):
                raise EdgenasError("TensorRT refused input shape {} for '{}' in {} ({})".format(
                    list(shape), name, self.path, describe(self.profiles) if self.profiles else "a static engine"))

    def _views(self) -> None:
        """Host arrays of the current shapes over the pinned buffers (outputs follow the input shapes)."""
        io = []
        for name, is_in, _, dtype in self.io:
            shape = tuple(max(d, 1) for d in _dims(self.context.get_tensor_shape(name)))
            self.host[name] = self._flat[name][: int(np.prod(shape))].reshape(shape)
            io.append((name, is_in, shape, dtype))
        self.io = io

    def _reshape(self, feed: Dict[str, np.ndarray]) -> None:
        """Switch to the profile and shapes of ``feed`` where they differ from the current ones; an input outside
        every profile (or another shape on a static engine) is a one-line error naming the ranges."""
        want = {n: tuple(int(d) for d in np.shape(feed[n])) for n, is_in, _, _ in self.io if is_in}
        if all(want[n] == s for n, is_in, s, _ in self.io if is_in):
            return
        if not self.profiles:
            have = ", ".join("{} {}".format(n, "x".join(map(str, s))) for n, is_in, s, _ in self.io if is_in)
            raise EdgenasError("engine {} takes {} (static shapes); got {}: resize the input, or export with dynamic dims "
                               "and build with --shapes".format(self.path, have, ", ".join(
                                   "{} {}".format(n, "x".join(map(str, s))) for n, s in want.items())))
        index = select_profile(self.profiles, want, "engine " + self.path)
        self._select(index, want)
        self._views()
        graph, self.graph, self.timing = self.graph, None, {}  # a captured graph holds the old shapes
        if graph is not None:
            graph.close()

    def deactivate(self) -> None:
        """Destroy what activate created, in reverse order; safe after a half-finished activate."""
        owned, self._owned, self.active = self._owned, [], False
        graph, self.graph = self.graph, None
        try:
            if graph is not None:
                graph.close()
        finally:
            self.context = self.engine = self.runtime = None  # type: ignore[assignment]  # context, engine, runtime
            first: Optional[CudaError] = None
            for obj in reversed(owned):
                try:
                    obj.close()
                except CudaError as e:  # free the rest first, then report the first failure
                    first = first or e
            if first is not None:
                raise first

    def input_specs(self):
        return [(n, s, d) for n, is_in, s, d in self.io if is_in]

    def _execute(self) -> None:
        if not self.context.execute_async_v3(self.stream.handle):
            raise EdgenasError("TensorRT execution failed for {}".format(self.path))

    def infer(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        with trt_errors("running engine {}".format(self.path)):
            return self._infer(feed)

    def _infer(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        self._reshape(feed)
        c = self.stream.cuda
        for n, is_in, _, d in self.io:
            if is_in:
                self.host[n][...] = np.asarray(feed[n], dtype=d)
                c.copy_async(self.dev[n].ptr, self.host[n].ctypes.data, self.host[n].nbytes, 1, self.stream.handle)
        self._execute()
        for n, is_in, _, _ in self.io:
            if not is_in:
                c.copy_async(self.host[n].ctypes.data, self.dev[n].ptr, self.host[n].nbytes, 2, self.stream.handle)
        self.stream.sync()
        return {n: self.host[n].copy() for n, is_in, _, _ in self.io if not is_in}

    def _launcher(self) -> Callable[[], None]:
        """Graph replay where capture works, else the plain enqueue; ``timing`` says which and why."""
        if self.graph is None and self.use_graph and not self.timing:
            try:
                self.graph = Graph(self.stream, self._execute)
                self.timing = {"method": "cuda-graph replay", "inner": self.inner}
            except (CudaError, EdgenasError) as e:
                self.timing = {"method": "back-to-back enqueue", "inner": self.inner, "fallback_reason": str(e)[:200]}
        elif not self.timing:
            self.timing = {"method": "back-to-back enqueue", "inner": self.inner, "fallback_reason": "graphs disabled"}
        return self.graph.launch if self.graph is not None else self._execute

    def timed_call(self, feed: Dict[str, np.ndarray]) -> Callable[[], object]:
        """Inputs copied once; each call returns GPU milliseconds per inference from CUDA events around
        ``inner`` replays (host copies and launch gaps excluded)."""
        self.infer(feed)
        with trt_errors("timing engine {}".format(self.path)):
            launch = self._launcher()
            self.timing["enqueue_ms"] = round(self.enqueue_ms(), 5)
        return lambda: self.stream.time_ms(launch, self.inner)

    def gpu_time_ms(self, n: int = 100) -> float:
        return self.stream.time_ms(self._launcher(), n)

    def enqueue_ms(self, n: int = 20) -> float:
        """Host milliseconds of one ``execute_async_v3`` call (what the graph replay hides)."""
        self.stream.sync()
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            self._execute()
            t.append(time.perf_counter() - t0)
            self.stream.sync()
        return 1000.0 * float(np.median(t))

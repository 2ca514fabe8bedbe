"""A torch module on a CUDA device, captured once into a CUDA graph and timed by replaying it between
CUDA events: launch gaps of eager Python (which made per-op sums predict only 17-45% of networks
within 10% on an H200) are not timed; graph replays gave 100% there."""

import os
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ...errors import EdgenasError
from ...runtime.base import Runner

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
EAGER_METHOD = "eager launches between CUDA events (EDGENAS_TORCH_TIMING=eager: a diagnostic, host gaps included)"


def graph_timing() -> bool:
    """CUDA-graph replays (the default), or eager launches when EDGENAS_TORCH_TIMING=eager: the comparison
    tools/gpu_check.py makes, since per-op sums predict networks well only without host launch gaps."""
    return os.environ.get("EDGENAS_TORCH_TIMING", "graph").strip().lower() != "eager"


class TorchCudaRunner(Runner):
    max_active = 64  # captured graphs kept at once (each holds its own memory pool)

    def __init__(self, module_fn: Callable, input_shape, precision: str = "fp16", device: str = "cuda", inner: int = 20,
                 name: str = "module", channels_last: bool = True, graph: Optional[bool] = None) -> None:
        super().__init__(name)
        if precision not in DTYPES:
            raise EdgenasError("precision '{}' is not a torch precision; choose {}".format(precision, ", ".join(DTYPES)))
        self.module_fn, self.shape, self.precision, self.device = module_fn, tuple(input_shape), precision, device
        self.inner, self.channels_last = max(1, int(inner)), channels_last
        self.use_graph = graph_timing() if graph is None else bool(graph)
        self.timing = {"method": "cuda-graph replay (torch.cuda.CUDAGraph)" if self.use_graph else EAGER_METHOD,
                       "inner": self.inner}

    def activate(self) -> None:
        import torch

        if self.device == "cpu":  # eager on the CPU, host-timed (no graphs there): for tests and CPU-only servers
            self.module = self.module_fn().eval()
            self.x = torch.randn(*self.shape)
            self.timing = {"method": "perf_counter (CPU, eager)", "inner": self.inner}
            self.active = True
            return
        if not torch.cuda.is_available():
            raise EdgenasError("the torch backend needs a CUDA GPU and a CUDA build of torch; this machine has none")
        dtype = getattr(torch, DTYPES[self.precision])
        fmt = torch.channels_last if self.channels_last and len(self.shape) == 4 else torch.contiguous_format
        self.module = self.module_fn().eval().to(self.device, dtype=dtype, memory_format=fmt)
        self.x = torch.randn(*self.shape, device=self.device, dtype=dtype).contiguous(memory_format=fmt)
        self.stream = torch.cuda.Stream()
        with torch.no_grad():
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):  # warm up on a side stream (cuDNN picks its kernels) before capture
                for _ in range(3):
                    self.y = self.module(self.x)
            torch.cuda.current_stream().wait_stream(self.stream)
            if self.use_graph:
                self.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph):
                    self.y = self.module(self.x)
        self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        self.active = True

    def deactivate(self) -> None:
        for name in ("graph", "module", "x", "y"):
            if hasattr(self, name):
                delattr(self, name)
        self.active = False

    def input_specs(self) -> List[Tuple[str, Tuple[int, ...], np.dtype]]:
        return [("input", self.shape, np.dtype(np.float32))]

    def infer(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        import torch

        if self.device == "cpu":
            with torch.no_grad():
                return {"output": self.module(torch.from_numpy(np.ascontiguousarray(next(iter(feed.values()))))).numpy()}
        self.x.copy_(torch.from_numpy(np.ascontiguousarray(next(iter(feed.values())))).to(self.x.device, self.x.dtype))
        self._launch()
        torch.cuda.synchronize()
        return {"output": self.y.float().cpu().numpy()}

    def _launch(self) -> None:
        if self.use_graph:
            self.graph.replay()
            return
        import torch

        with torch.no_grad():
            self.y = self.module(self.x)

    def gpu_time_ms(self, n: int) -> float:
        if self.device == "cpu":
            import time

            import torch

            with torch.no_grad():
                t0 = time.perf_counter()
                for _ in range(n):
                    self.module(self.x)
                return (time.perf_counter() - t0) * 1000.0 / n
        self.start.record()
        for _ in range(n):
            self._launch()
        self.end.record()
        self.end.synchronize()
        return self.start.elapsed_time(self.end) / n

    def timed_call(self, feed: Dict[str, np.ndarray]) -> Callable[[], object]:
        """Each call returns GPU milliseconds per inference over ``inner`` back-to-back graph replays (or
        eager launches, see graph_timing)."""
        self.infer(feed)
        return lambda: self.gpu_time_ms(self.inner)

"""ONNX Runtime runner."""

from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from ...errors import EdgenasError
from ...runtime.base import Runner

_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
           "all": "ORT_ENABLE_ALL"}
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(int8)": np.int8,
           "tensor(bool)": np.bool_}


class OrtRunner(Runner):
    def __init__(self, path, threads: int = 1, graph_optimization: str = "all",
                 providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        super().__init__(path)
        self.threads = threads
        self.graph_optimization = graph_optimization
        self.providers = list(providers) or ["CPUExecutionProvider"]
        self.session = None

    def activate(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _LEVELS[self.graph_optimization])
        opts.log_severity_level = 3
        missing = [p for p in self.providers if p not in ort.get_available_providers()]
        if missing:
            raise EdgenasError("ONNX Runtime here lacks {} (available: {}); install the matching onnxruntime "
                               "package or use another target".format(", ".join(missing), ", ".join(ort.get_available_providers())))
        try:
            self.session = ort.InferenceSession(self.path, opts, providers=self.providers)
        except Exception as e:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise EdgenasError("ONNX Runtime cannot load {}: {}".format(self.path, first[:300]))
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.active = True

    def deactivate(self) -> None:
        self.session = None
        self.active = False

    def input_specs(self) -> List[Tuple[str, Tuple[int, ...], np.dtype]]:
        specs = []
        for i in self.session.get_inputs():
            shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in i.shape)
            specs.append((i.name, shape, np.dtype(_DTYPES.get(i.type, np.float32))))
        return specs

    def infer(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        return dict(zip(self.output_names, self.session.run(self.output_names, feed)))

    def timed_call(self, feed: Dict[str, np.ndarray]) -> Callable[[], object]:
        run, names = self.session.run, self.output_names
        return lambda: run(names, feed)

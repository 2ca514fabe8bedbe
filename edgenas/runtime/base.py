"""The Runner interface (Polygraphy style): load once, activate, infer many times, deactivate."""

import abc
from typing import Callable, Dict, List, Tuple

import numpy as np


class Runner(abc.ABC):
    """One model on one backend. Use as a context manager: ``with runner: runner.infer(feed)``."""

    def __init__(self, path) -> None:
        self.path = str(path)
        self.active = False

    @abc.abstractmethod
    def activate(self) -> None:
        """Load the model and allocate what inference needs."""

    def deactivate(self) -> None:
        self.active = False

    @abc.abstractmethod
    def input_specs(self) -> List[Tuple[str, Tuple[int, ...], np.dtype]]:
        """(name, shape, dtype) of each input; dynamic dims are reported as 1."""

    @abc.abstractmethod
    def infer(self, feed: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run once and return every output by name."""

    def timed_call(self, feed: Dict[str, np.ndarray]) -> Callable[[], object]:
        """A zero-argument callable doing one inference by the cheapest path, for timing loops."""
        return lambda: self.infer(feed)

    def random_feed(self, seed: int = 0) -> Dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        feed = {}
        for name, shape, dtype in self.input_specs():
            if np.issubdtype(dtype, np.floating):
                feed[name] = rng.standard_normal(shape).astype(dtype)
            elif dtype in (np.uint8, np.int8):
                info = np.iinfo(dtype)
                feed[name] = rng.integers(int(info.min), int(info.max) + 1, size=shape).astype(dtype)
            else:
                feed[name] = rng.integers(0, 2, size=shape).astype(dtype)
        return feed

    def __enter__(self) -> "Runner":
        if not self.active:
            self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()

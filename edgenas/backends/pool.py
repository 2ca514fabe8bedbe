"""A bounded pool of activated runners: a profiler visits hundreds of models per round, and a TensorRT
board cannot hold hundreds of engines (each with its context and device memory) at once."""

from collections import OrderedDict
from typing import Any, Callable, Dict, Optional

from . import make_runner


class RunnerPool:
    """Activates the runner for an item when it is visited, keeping at most ``max_active`` (the
    backend's own bound unless given); the least recently used is deactivated first."""

    def __init__(self, files: Dict[str, Any], target, seed: int = 0, max_active: Optional[int] = None) -> None:
        self.files, self.target, self.seed = files, target, seed
        self.order = {name: i for i, name in enumerate(sorted(files))}
        self.max_active = max_active
        self.active: "OrderedDict[str, Any]" = OrderedDict()
        self.timers: Dict[str, Dict[str, Any]] = {}
        self.peak = 0
        self.activations = 0

    def acquire(self, name: str) -> Callable[[], object]:
        if name in self.active:
            self.active.move_to_end(name)
            return self.active[name][1]
        runner = make_runner(self.files[name], self.target)
        bound = self.max_active or getattr(runner, "max_active", None)
        while bound and len(self.active) >= bound:
            self.active.popitem(last=False)[1][0].deactivate()
        runner.activate()
        call = runner.timed_call(runner.random_feed(self.seed + self.order[name]))
        self.activations += 1
        if getattr(runner, "timing", None):
            self.timers[name] = dict(runner.timing)
        self.active[name] = (runner, call)
        self.peak = max(self.peak, len(self.active))
        return call

    def close(self) -> None:
        while self.active:
            self.active.popitem(last=False)[1][0].deactivate()

    def timer_summary(self, default: str) -> Dict[str, Any]:
        """How the items were timed: the default host timer, or the backend's own (e.g. CUDA-graph replay)."""
        if not self.timers:
            return {"method": default}
        methods: Dict[str, int] = {}
        for t in self.timers.values():
            methods[t["method"]] = methods.get(t["method"], 0) + 1
        reasons = sorted({t["fallback_reason"] for t in self.timers.values() if t.get("fallback_reason")})
        return {"method": max(methods, key=lambda k: methods[k]), "counts": methods, "fallback_reasons": reasons[:5]}

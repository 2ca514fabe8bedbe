"""The CUDA/TensorRT lifecycle logic (what is created per call, what is destroyed, how timing falls back)
checked here against a recording stand-in for libcudart, since no GPU exists on this machine or in CI.
tools/check_cuda.py runs the same layer for real on a GPU (device info, copies, events, graph replay,
and host memory over 100k timed calls)."""

import pytest

from edgenas.backends.tensorrt import cuda as cudamod
from edgenas.backends.tensorrt.cuda_bindings import CudaError


class Recorder:
    """Counts every CUDA object created and destroyed; capture can be made to fail."""

    kind, path = "recorder", "-"

    def __init__(self, capture_fails: bool = False, instantiate_fails: bool = False, events_allowed: int = 10 ** 9) -> None:
        self.live = {"stream": set(), "event": set(), "graph": set(), "exec": set(), "host": set(), "dev": set()}
        self.created = {k: 0 for k in self.live}
        self.capture_fails, self.next, self.launches, self.capturing = capture_fails, 1, 0, False
        self.instantiate_fails, self.events_allowed = instantiate_fails, events_allowed

    def _new(self, kind: str) -> int:
        self.next += 1
        self.live[kind].add(self.next)
        self.created[kind] += 1
        return self.next

    def _del(self, kind: str, h: int) -> None:
        assert h in self.live[kind], "{} {} destroyed twice or never created".format(kind, h)
        self.live[kind].remove(h)

    def stream_create(self):
        return self._new("stream")

    def stream_destroy(self, s):
        self._del("stream", s)

    def stream_sync(self, s):
        pass

    def event_create(self):
        if self.created["event"] >= self.events_allowed:
            raise CudaError("CUDA call cudaEventCreate failed: cudaErrorMemoryAllocation (2)")
        return self._new("event")

    def event_destroy(self, e):
        self._del("event", e)

    def event_record(self, e, s):
        pass

    def event_elapsed_ms(self, a, b):
        return 1.0

    def capture_begin(self, s):
        if self.capture_fails:
            raise CudaError("CUDA call cudaStreamBeginCapture failed: cudaErrorStreamCaptureUnsupported (900)")
        self.capturing = True

    def capture_end(self, s):
        self.capturing = False
        return self._new("graph")

    def graph_instantiate(self, g):
        if self.instantiate_fails:
            raise CudaError("CUDA call cudaGraphInstantiateWithFlags failed: cudaErrorInvalidValue (1)")
        return self._new("exec")

    def graph_launch(self, ex, s):
        self.launches += 1

    def graph_destroy(self, g):
        self._del("graph", g)

    def graph_exec_destroy(self, ex):
        self._del("exec", ex)


@pytest.fixture
def recorder(monkeypatch):
    def install(**kw):
        rec = Recorder(**kw)
        monkeypatch.setitem(cudamod._LOADED, "cudart", rec)
        monkeypatch.delenv("EDGENAS_CUDA", raising=False)
        return rec
    return install


def test_timed_calls_create_nothing_and_close_destroys_everything(recorder):
    """D4: two events per stream for its whole life, not two per timed call; all destroyed on close."""
    rec = recorder()
    s = cudamod.Stream()
    g = cudamod.Graph(s, lambda: None)
    for _ in range(1000):
        assert s.time_ms(g.launch, 10) == pytest.approx(0.1)
    assert rec.created["event"] == 2 and rec.launches == 10000
    g.close()
    s.close()
    assert all(not v for v in rec.live.values()), rec.live


def _runner(rec_stream, executes):
    from edgenas.backends.tensorrt.runner import TrtRunner

    r = TrtRunner.__new__(TrtRunner)
    r.path, r.use_graph, r.inner, r.timing, r.graph, r._owned = "m.engine", True, 10, {}, None, [rec_stream]

    class Context:
        def execute_async_v3(self, stream):
            executes.append(stream)
            return True

    r.context, r.stream = Context(), rec_stream
    return r


def test_runner_times_graph_replays_and_records_the_method(recorder):
    """D9: the timed call replays a captured graph between events; the method is recorded."""
    rec = recorder()
    executes = []
    r = _runner(cudamod.Stream(), executes)
    launch = r._launcher()
    assert r.timing["method"] == "cuda-graph replay" and len(executes) == 1  # captured once
    r.stream.time_ms(launch, 10)
    assert rec.launches == 10 and len(executes) == 1  # replays, no host enqueues
    r.deactivate()
    assert all(not v for v in rec.live.values()), rec.live


def test_runner_falls_back_to_back_to_back_enqueues_and_says_why(recorder):
    recorder(capture_fails=True)
    executes = []
    r = _runner(cudamod.Stream(), executes)
    launch = r._launcher()
    assert r.timing["method"] == "back-to-back enqueue" and "StreamCaptureUnsupported" in r.timing["fallback_reason"]
    r.stream.time_ms(launch, 10)
    assert len(executes) == 10
    r.deactivate()


@pytest.mark.parametrize("how", ["instantiate", "enqueue", "event"])
def test_failures_while_creating_streams_and_graphs_leak_nothing(recorder, how):
    """Issue 20: a failed graph instantiation left the captured graph alive; a failed enqueue during capture
    left the half-captured graph; a failed second event left the stream."""
    rec = recorder(instantiate_fails=how == "instantiate", events_allowed=1 if how == "event" else 10 ** 9)
    if how == "event":
        with pytest.raises(CudaError, match="cudaEventCreate"):
            cudamod.Stream()
        assert rec.created["stream"] == 1 and all(not v for v in rec.live.values()), rec.live
        return
    s = cudamod.Stream()

    def enqueue():
        if how == "enqueue":
            raise RuntimeError("execute_async_v3 failed inside the capture")

    with pytest.raises((CudaError, RuntimeError)):
        cudamod.Graph(s, enqueue)
    assert not rec.capturing and rec.created["graph"] == 1  # the capture was ended and its graph ...
    s.close()
    assert all(not v for v in rec.live.values()), rec.live  # ... destroyed with everything else

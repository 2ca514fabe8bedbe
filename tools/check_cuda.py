#!/usr/bin/env python3
"""Run the CUDA layer the TensorRT backend uses, for real, on any CUDA GPU (no TensorRT needed):
device info, pinned/device buffers and async copies (data checked), events, a copy captured into a
CUDA graph and replayed, the timing's own overhead (an empty event pair on the GPU, host time per timed
call), and host (RSS) and device memory over many timed calls, which must not grow.

    python tools/check_cuda.py --calls 100000 --json OUT.json [--binding cudart|cuda-python]
"""

import argparse
import json
import os
import sys
import time

try:
    import edgenas  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from edgenas.errors import EdgenasError  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=100000)
    p.add_argument("--binding", default=None, help="cudart (default) or cuda-python")
    p.add_argument("--json")
    args = p.parse_args(argv)
    if args.binding:
        os.environ["EDGENAS_CUDA"] = args.binding
    from edgenas.backends.tensorrt import cuda as cu

    out = {"binding": args.binding or "cudart"}
    try:
        out["device"] = cu.device_info()
        c = cu.cuda()
        n = 1 << 20
        host_in, host_out = cu.PinnedArray((n,), np.float32), cu.PinnedArray((n,), np.float32)
        dev_a, dev_b = cu.DeviceBuffer(4 * n), cu.DeviceBuffer(4 * n)
        stream = cu.Stream()
        host_in.array[:] = np.arange(n, dtype=np.float32)
        c.copy_async(dev_a.ptr, host_in.array.ctypes.data, 4 * n, 1, stream.handle)
        c.copy_async(host_out.array.ctypes.data, dev_a.ptr, 4 * n, 2, stream.handle)
        stream.sync()
        out["copy_roundtrip_ok"] = bool(np.array_equal(host_in.array, host_out.array))

        def d2d():  # device-to-device copy a -> b, the unit of work captured below
            c.copy_async(dev_b.ptr, dev_a.ptr, 4 * n, 3, stream.handle)

        out["copy_event_ms"] = stream.time_ms(d2d, 100)
        graph = cu.Graph(stream, d2d)
        host_out.array[:] = 0
        graph.launch()
        c.copy_async(host_out.array.ctypes.data, dev_b.ptr, 4 * n, 2, stream.handle)
        stream.sync()
        out["graph_replay_ok"] = bool(np.array_equal(host_in.array, host_out.array))
        out["graph_replay_ms"] = stream.time_ms(graph.launch, 100)
        out["copy_gbps"] = 2 * 4 * n / (out["graph_replay_ms"] / 1000) / 1e9
        for _ in range(2000):  # let allocator pools settle before the baseline
            stream.time_ms(graph.launch, 1)
        empty = sorted(stream.time_ms(lambda: None, 1) for _ in range(1000))  # two events, nothing between
        out["empty_event_pair_ms_median"] = round(empty[len(empty) // 2], 5)
        out["empty_event_pair_ms_p90"] = round(empty[int(len(empty) * 0.9)], 5)
        free0 = c.mem_info()[0]
        r0, t0 = rss_mib(), time.time()
        for _ in range(args.calls):
            stream.time_ms(graph.launch, 1)
        elapsed = time.time() - t0
        out["timed_calls"] = args.calls
        out["rss_growth_mib"] = round(rss_mib() - r0, 3)
        out["device_free_mib_before"], out["device_free_mib_after"] = free0 >> 20, c.mem_info()[0] >> 20
        out["device_mem_growth_mib"] = round((free0 - c.mem_info()[0]) / 2.0 ** 20, 3)
        out["calls_per_s"] = round(args.calls / elapsed)
        out["host_us_per_timed_call"] = round(1e6 * elapsed / args.calls, 2)  # record + launch + record + sync + read
        graph.close()
        stream.close()
        for obj in (host_in, host_out, dev_a, dev_b):
            obj.close()
        out["closed_ok"] = True
        out["pass"] = (out["copy_roundtrip_ok"] and out["graph_replay_ok"] and out["rss_growth_mib"] < 1.0
                       and out["device_mem_growth_mib"] < 2.0)
    except EdgenasError as e:
        out["error"], out["pass"] = str(e), False
    for k, v in out.items():
        print("{:<18} {}".format(k, v))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0 if out["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())

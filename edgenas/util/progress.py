"""Progress bars: tqdm where installed, a plain line printer otherwise (boards may lack tqdm)."""

import sys
import time


class _PlainBar:
    def __init__(self, total, desc, unit):
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self.start = self.last = time.monotonic()

    def update(self, k=1):
        self.n += k
        now = time.monotonic()
        if now - self.last >= 5 or self.n >= self.total:
            self.last = now
            rate = self.n / max(now - self.start, 1e-9)
            eta = (self.total - self.n) / rate if rate > 0 else float("inf")
            sys.stderr.write("{}: {}/{} {} ETA {:.0f}s\n".format(self.desc, self.n, self.total, self.unit, eta))

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total, desc, unit="it", disable=False):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - board without tqdm
        return _PlainBar(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr, dynamic_ncols=True)

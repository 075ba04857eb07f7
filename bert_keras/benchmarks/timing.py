"""How the benchmarks time a call: the fastest of several runs (throughput) or the median (per-item latency)."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence


def best_seconds(fn: Callable[[], object], repeats: int, warmups: int = 1) -> float:
    """Fastest of `repeats` timed calls after `warmups` untimed ones (tracing, caches)."""
    for _ in range(warmups):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def median_ms(fn: Callable[[object], object], items: Sequence[object]) -> float:
    """Median milliseconds of `fn(item)` over `items`, after one warm-up call on the first."""
    fn(items[0])
    times = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)

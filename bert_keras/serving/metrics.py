"""Server metrics in the Prometheus text format (TF Serving exposes its own at /monitoring/prometheus/metrics)."""

from __future__ import annotations

import bisect
import collections
import threading

LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class _Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip(list(self.buckets) + ["+Inf"], self.counts):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}')
        out.append(f"{name}_sum{{{labels}}} {self.total:g}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


class ServerMetrics:
    """Request counts by (API, model, status), request latency and batch size histograms."""

    def __init__(self):
        self._lock = threading.Lock()
        self.requests: collections.Counter = collections.Counter()
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.batch_sizes = _Histogram(BATCH_BUCKETS)
        self.padded_batch_sizes = _Histogram(BATCH_BUCKETS)

    def record_request(self, api: str, model: str, status: str, latency_ms: float) -> None:
        with self._lock:
            self.requests[(api, model, status)] += 1
            self.latency.setdefault((api, model), _Histogram(LATENCY_BUCKETS_MS)).observe(latency_ms)

    def record_batch(self, size: int, padded: int) -> None:
        with self._lock:
            self.batch_sizes.observe(size)
            self.padded_batch_sizes.observe(padded)

    def batch_size_counts(self) -> dict[str, int]:
        """Batches per size bucket (for tests and logs)."""
        with self._lock:
            bounds = [str(b) for b in BATCH_BUCKETS] + ["+Inf"]
            return dict(zip(bounds, self.batch_sizes.counts))

    def prometheus(self) -> str:
        with self._lock:
            lines = ["# TYPE bert_keras_requests_total counter"]
            for (api, model, status), count in sorted(self.requests.items()):
                lines.append(f'bert_keras_requests_total{{api="{api}",model="{model}",status="{status}"}} {count}')
            lines.append("# TYPE bert_keras_request_latency_ms histogram")
            for (api, model), histogram in sorted(self.latency.items()):
                lines += histogram.lines("bert_keras_request_latency_ms", f'api="{api}",model="{model}"')
            lines.append("# TYPE bert_keras_batch_size histogram")
            lines += self.batch_sizes.lines("bert_keras_batch_size", "")
            lines.append("# TYPE bert_keras_padded_batch_size histogram")
            lines += self.padded_batch_sizes.lines("bert_keras_padded_batch_size", "")
        return "\n".join(lines) + "\n"

"""Prometheus metrics of one relay app, in a registry of its own so several apps can coexist."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# GitHub's 10 s budget is the upper end that matters.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0)


class RelayMetrics:
    """Deliveries by event, action and outcome; how long answering took; signals sent."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "relay_webhook_deliveries",
            "GitHub webhook deliveries answered, by event, action and outcome.",
            ["event", "action", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "relay_webhook_duration_seconds",
            "Time from receiving a delivery to answering it.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.signals = Counter(
            "relay_signals_sent",
            "Signals sent to task workflows, by signal name.",
            ["signal"],
            registry=self.registry,
        )

    def record(self, event: str, action: str, outcome: str, seconds: float) -> None:
        self.deliveries.labels(event=event, action=action, outcome=outcome).inc()
        self.latency.labels(outcome=outcome).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics, one registry per app so several apps (tests) never collide."""

from __future__ import annotations

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_accepted = Counter(
            "omnirelay_events_accepted", "Events accepted and stored", registry=self.registry
        )
        self.events_routed = Counter(
            "omnirelay_events_routed",
            "Stored events routed by the worker, by result",
            ["result"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "omnirelay_deliveries",
            "Delivery attempts by destination and outcome",
            ["destination", "outcome"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "omnirelay_attempt_duration_seconds",
            "HTTP request duration per destination",
            ["destination"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "omnirelay_queue_depth",
            "Deliveries waiting or in flight, by status",
            ["status"],
            registry=self.registry,
        )
        self.pending_events = Gauge(
            "omnirelay_pending_events", "Stored events not yet routed", registry=self.registry
        )
        self.dead_letters = Gauge(
            "omnirelay_dead_letters", "Deliveries in the dead-letter state", registry=self.registry
        )


def metrics_response(metrics: Metrics) -> Response:
    """The registry in Prometheus' text format."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

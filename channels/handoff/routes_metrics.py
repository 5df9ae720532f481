"""Handoff figures: Prometheus metrics at `/metrics` and JSON for the console at
`/agent/stats`. The figures live in Redis (see analytics.py), so every server
process answers the same.

`/metrics` is open, like Rasa's own endpoints: scrapers seldom send tokens, and it
carries counts only, never a customer's words. `/agent/stats` (which names
conversations and quotes customers) needs an agent token.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse, json, raw

from channels.handoff.analytics import Analytics, Snapshot
from channels.handoff.context import ChannelContext
from channels.handoff.errors import BadRequest
from channels.handoff.http import agent_of, api, runtime_of

logger = logging.getLogger(__name__)

TOP_DEFAULT = 10
TOP_MAX = 50


def analytics_of(request: Request) -> Analytics:
    return runtime_of(request).analytics


class SnapshotCollector(Collector):
    """The figures of one snapshot as Prometheus metric families."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        totals = s.totals

        def counter(name: str, documentation: str, field: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, documentation, value=totals.get(field, 0))

        handoffs = CounterMetricFamily(
            "handoff_handoffs",
            "Conversations handed to people, by reason: fallback (the bot did not understand), "
            "request_human (the customer asked), takeover (an agent took over from the bot), "
            "recovered (a paused conversation queued late), other.",
            labels=["reason"],
        )
        for reason, count in s.by_reason(totals).items():
            handoffs.add_metric([reason], count)
        yield handoffs

        messages = CounterMetricFamily(
            "handoff_customer_messages",
            "Customer messages, by who had the conversation when each arrived: the bot or people "
            "(waiting or with an agent).",
            labels=["handled_by"],
        )
        messages.add_metric(["bot"], totals.get("customer_messages:bot", 0))
        messages.add_metric(["human"], totals.get("customer_messages:human", 0))
        yield messages
        yield counter("handoff_bot_messages", "Messages the bot sent through the handoff channel.", "bot_messages")
        yield counter("handoff_agent_messages", "Messages agents sent to customers.", "agent_messages")
        rate = s.fallback_rate(totals)
        yield GaugeMetricFamily(
            "handoff_fallback_rate",
            "Fallback handoffs per customer message the bot handled, since counting began "
            '(handoff_handoffs_total{reason="fallback"} / handoff_customer_messages_total{handled_by="bot"}); '
            "0 before the first message.",
            value=rate or 0.0,
        )
        yield GaugeMetricFamily("handoff_queue_length", "Customers waiting for an agent now.", value=s.queue_length)
        yield GaugeMetricFamily(
            "handoff_longest_wait_seconds",
            "How long the customer waiting longest has waited so far (0 when nobody waits).",
            value=s.longest_wait_s or 0.0,
        )
        yield counter("handoff_claims", "Waiting customers an agent took (Start Chat).", "claims")
        yield counter("handoff_releases", "Conversations agents handed back to the bot (Assign to Bot).", "releases")
        yield counter(
            "handoff_abandoned_waits",
            "Waits that ended back with the bot before any agent took the customer "
            "(the customer cancelled, or nobody took them in time).",
            "abandoned",
        )
        yield counter("handoff_requeues", "Conversations an agent put back in the Waiting queue.", "requeues")
        yield counter("handoff_transfers", "Conversations an agent passed to another agent.", "transfers")
        for name, documentation in (
            ("time_to_claim", "From joining the Waiting queue to an agent taking the customer."),
            ("handling_time", "From an agent taking the customer to handing them back to the bot."),
        ):
            histogram = s.histogram(name)
            buckets = [(floatToGoString(bound), count) for bound, count in histogram.buckets]
            buckets.append(("+Inf", histogram.count))
            yield HistogramMetricFamily(
                f"handoff_{name}_seconds", documentation, buckets=buckets, sum_value=histogram.sum_s
            )
        yield GaugeMetricFamily(
            "handoff_training_examples",
            "Training examples stored now, waiting for the next export (read from Redis when scraped).",
            value=s.training_examples,
        )
        yield counter(
            "handoff_training_examples_added",
            "New training examples agents added (repeats of a stored example not counted).",
            "training_examples:added",
        )
        yield counter(
            "handoff_training_exports",
            "Exports of the training examples as Rasa NLU YAML (over HTTP and by the export-training command).",
            "training_examples:exported",
        )
        yield counter(
            "handoff_analytics_events",
            "Live-feed events counted into these figures (each once, whatever the number of processes).",
            "events",
        )


def exposition(snapshot: Snapshot) -> bytes:
    """The Prometheus text format, from a registry made for this one answer."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)


def top_argument(request: Request) -> int:
    try:
        top = int(request.args.get("top", TOP_DEFAULT))
    except ValueError as bad:
        raise BadRequest("invalid_query", "'top' must be a whole number.") from bad
    if not 0 <= top <= TOP_MAX:
        raise BadRequest("invalid_query", f"'top' must be 0 to {TOP_MAX}.")
    return top


def register(bp: Blueprint, context: ChannelContext) -> None:
    config = context.config

    @bp.route("/metrics", methods=["GET"])
    @api
    async def metrics_exposition(request: Request) -> HTTPResponse:
        snapshot = await analytics_of(request).snapshot(top=0)
        return raw(exposition(snapshot), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    @bp.route("/agent/stats", methods=["GET"])
    @api
    async def agent_stats(request: Request) -> HTTPResponse:
        agent_of(request, config)
        snapshot = await analytics_of(request).snapshot(top=top_argument(request))
        return json(snapshot.to_dict(), headers={"Cache-Control": "no-store"})

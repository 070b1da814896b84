"""Prometheus metrics of one control-room worker (its own registry: tests run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingested = Counter("control_room_ingested_messages", "Messages stored, by topic "
                                "pattern", ["kind"], registry=r)
        self.duplicates = Counter("control_room_duplicate_messages", "Messages already stored "
                                  "(same envelope id), dropped", registry=r)
        self.quarantined = Counter("control_room_quarantined_messages", "Messages refused by "
                                   "the contract, kept in quarantine", registry=r)
        self.ignored = Counter("control_room_ignored_messages", "Command requests seen under "
                               "the root (not telemetry)", registry=r)
        self.batches = Counter("control_room_batches", "Ingest transactions", registry=r)
        self.db_latency = Histogram("control_room_db_commit_seconds", "Time to write and commit "
                                    "one ingest batch", registry=r,
                                    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.lag = Histogram("control_room_ingest_lag_seconds", "Message ts (gateway clock) to "
                             "commit", registry=r,
                             buckets=(.025, .05, .1, .15, .2, .3, .4, .5, .75, 1, 2.5, 5, 10,
                                      30, 60, 300, 3600))
        self.pending = Gauge("control_room_ingest_pending", "Messages received, not yet "
                             "committed and acknowledged", registry=r)
        self.db_up = Gauge("control_room_database_up", "1 while the database answers",
                           registry=r)
        self.mqtt_up = Gauge("control_room_mqtt_connected", "1 while connected to the broker",
                             registry=r)
        self.losses = Counter("control_room_seq_lost", "Messages judged lost (seq holes no "
                              "outbox/dropped explains)", registry=r)
        self.commands = Counter("control_room_commands", "Commands sent, by outcome",
                                ["status"], registry=r)
        self.alert_evaluations = Counter("control_room_alert_evaluations", "Alert engine runs",
                                         registry=r)
        self.db_up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)

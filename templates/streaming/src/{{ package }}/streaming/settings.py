"""Settings of the Kafka consumer: connection, topics, batching, delivery and probes.

Every field is an ``APP_*`` environment variable or a key of ``settings.yaml``. Security
options map one to one to librdkafka properties; anything else librdkafka knows goes in
``kafka_config`` (both clients), ``consumer_config`` or ``producer_config``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr

from ..settings import AppSettings

KafkaValue = str | int | float | bool


class StreamingSettings(AppSettings):
    """``APP_*`` variables or ``settings.yaml`` keys; see settings.yaml for the defaults."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="comma-separated host:port")
    input_topic: str = "events"
    output_topic: str = "predictions"
    dlq_topic: str = Field("events.dlq", description="dead letters: poison events, with reasons")
    group_id: str = Field("model-consumer", description="consumer group; one per deployment")
    client_id: str | None = None
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="where a new group starts; earliest loses nothing"
    )

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512...")
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    kafka_config: dict[str, KafkaValue] = Field(
        default_factory=dict, description="extra librdkafka properties for both clients"
    )
    consumer_config: dict[str, KafkaValue] = Field(default_factory=dict)
    producer_config: dict[str, KafkaValue] = Field(default_factory=dict)

    max_batch_size: int = Field(500, ge=1, description="most events per model call")
    max_batch_wait_ms: float | None = Field(
        None,
        ge=0,
        description="longest wait for a fuller batch (default: half of the batch's share of "
        "the budget; only when the arrival rate brings two events or more meanwhile)",
    )
    batch_latency_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="share of the latency budget one batch may spend waiting and being scored",
    )
    commit_interval_ms: float = Field(
        200.0,
        ge=0,
        description="offsets of acknowledged batches are committed at most this often (always "
        "on revocation and shutdown); longer: fewer commits, more redone after a crash",
    )
    max_in_flight_batches: int = Field(
        8, ge=1, description="batches produced but not yet acknowledged; then partitions pause"
    )
    session_timeout_ms: int = Field(10_000, ge=1000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    max_poll_interval_ms: int = Field(300_000, ge=1000)
    fetch_wait_max_ms: int | None = Field(
        None,
        ge=1,
        description="longest a fetch waits on the broker for new events (default: a fifth of "
        "the latency budget, within 5-100 ms)",
    )
    reconnect_backoff_ms: int = Field(250, ge=1, description="first retry after a broker loss")
    reconnect_backoff_max_ms: int = Field(10_000, ge=1, description="retries back off to this")
    linger_ms: float | None = Field(
        None, ge=0, description="producer batching delay (default: budget/50, at most 5 ms)"
    )
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    stats_interval_ms: int = Field(5_000, ge=100, description="lag and broker state refresh")
    drain_timeout_s: float = Field(
        30.0, ge=0, description="SIGTERM: time to finish, flush and commit before exiting"
    )
    model_retry_backoff_ms: float = Field(
        500.0, gt=0, description="first retry after the model failed for a whole batch"
    )
    model_retry_backoff_max_ms: float = Field(
        30_000.0, gt=0, description="retries of a failing model back off to this"
    )
    model_failure_restart_s: float = Field(
        300.0,
        gt=0,
        description="the model failed every retry this long: /health fails so the process is "
        "restarted with a fresh runtime",
    )
    stall_timeout_s: float = Field(
        120.0,
        gt=0,
        description="outputs unacknowledged this long while a broker is reachable: the "
        "producer is replaced and they are sent again",
    )

    health_host: str = "127.0.0.1"
    health_port: int = Field(8080, ge=0, le=65535, description="/health, /ready and /metrics")
    liveness_timeout_s: float = Field(
        60.0, gt=0, description="/health fails when the loop has not turned for this long"
    )
    latency_budget_ms: float = Field(
        1000.0,
        gt=0,
        description="end-to-end p99: sizes batches, waits and the latency histogram's buckets",
    )
    drift_window: int = Field(1000, ge=10)

    def fetch_wait_ms(self) -> int:
        """The fetch wait, a share of the budget: some brokers (Tansu) hold a fetch this long
        even when events arrive meanwhile; shorter waits cost a fetch request each."""
        if self.fetch_wait_max_ms is not None:
            return self.fetch_wait_max_ms
        return round(min(100.0, max(5.0, self.latency_budget_ms / 5)))

    def producer_linger_ms(self) -> float:
        if self.linger_ms is not None:
            return self.linger_ms
        return min(5.0, self.latency_budget_ms / 50)

    def common_config(self) -> dict[str, Any]:
        """librdkafka properties both clients share: brokers, security, backoff."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
            "reconnect.backoff.ms": self.reconnect_backoff_ms,
            "reconnect.backoff.max.ms": self.reconnect_backoff_max_ms,
            "statistics.interval.ms": self.stats_interval_ms,
        }
        optional = {
            "client.id": self.client_id,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": _secret(self.sasl_password),
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": _secret(self.ssl_key_password),
        }
        config.update({k: v for k, v in optional.items() if v is not None})
        config.update(self.kafka_config)
        return config

    def consumer(self) -> dict[str, Any]:
        """Manual commits only after outputs are acknowledged: at-least-once."""
        config = self.common_config()
        config.update(
            {
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": self.auto_offset_reset,
                "session.timeout.ms": self.session_timeout_ms,
                "heartbeat.interval.ms": self.heartbeat_interval_ms,
                "max.poll.interval.ms": self.max_poll_interval_ms,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": self.fetch_wait_ms(),
            }
        )
        config.update(self.consumer_config)
        return config

    def producer(self) -> dict[str, Any]:
        """Idempotent, acks=all, no delivery timeout: a broker outage delays, never drops."""
        config = self.common_config()
        config.update(
            {
                "enable.idempotence": True,
                "acks": "all",
                "message.timeout.ms": 0,
                "linger.ms": self.producer_linger_ms(),
                "compression.type": self.compression,
                "queue.buffering.max.messages": max(
                    100_000, 4 * self.max_batch_size * self.max_in_flight_batches
                ),
            }
        )
        config.update(self.producer_config)
        return config


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None

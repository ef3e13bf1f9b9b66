"""``python -m <package>.streaming.topics``: create the input, output and dead-letter topics.

For local brokers and tests. In production, topics are usually owned by the platform team;
the partition count of the input topic caps how many consumers can share the work.
"""

from __future__ import annotations

import argparse
import sys

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from .kafka_logs import kafka_logger
from .settings import StreamingSettings


def create_topics(settings: StreamingSettings, partitions: int, replication: int = 1) -> list[str]:
    """Create the three topics where missing; returns the ones created."""
    config = settings.common_config()
    config.pop("statistics.interval.ms", None)
    admin = AdminClient({**config, "logger": kafka_logger("admin")})
    names = [settings.input_topic, settings.output_topic, settings.dlq_topic]
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication) for name in names], request_timeout=30
    )
    created = []
    for name, future in futures.items():  # keep `admin` alive until every future resolves
        try:
            future.result(timeout=60)
            created.append(name)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create the consumer's topics")
    parser.add_argument("--partitions", type=int, default=3, help="input/output partitions")
    parser.add_argument("--replication", type=int, default=1)
    args = parser.parse_args(argv)
    settings = StreamingSettings()
    created = create_topics(settings, args.partitions, args.replication)
    print(f"created: {', '.join(created) or 'none (all exist)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

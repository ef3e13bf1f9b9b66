"""The naive streaming baseline: how Kafka inference consumers often start.

One message per ``poll``, one model call per message, and ``producer.flush()`` after every
prediction (a broker round trip per event); offsets are never committed. It scores with
the generated project's own inference core, so only the transport differs.

    python benchmarks/naive_consumer.py   (settings from the same APP_* variables)
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
from typing import Any


def main() -> int:
    package = os.environ["NAIVE_PACKAGE"]
    from confluent_kafka import Consumer, Producer

    settings_module = importlib.import_module(f"{package}.settings")
    predictor_module = importlib.import_module(f"{package}.inference.predictor")
    settings = settings_module.AppSettings(device="cpu")
    predictor = predictor_module.load_predictor(settings)
    servers = os.environ["APP_BOOTSTRAP_SERVERS"]
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": os.environ["APP_GROUP_ID"],
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 3000,
            "heartbeat.interval.ms": 1000,
        }
    )
    producer = Producer({"bootstrap.servers": servers})
    consumer.subscribe([os.environ["APP_INPUT_TOPIC"]])
    output = os.environ["APP_OUTPUT_TOPIC"]
    running = True

    def stop(*_: Any) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    while running:
        message = consumer.poll(1.0)
        if message is None or message.error():
            continue
        prediction = predictor.predict([json.loads(message.value())])[0]
        producer.produce(output, json.dumps(prediction).encode(), message.key())
        producer.flush()
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The streaming transport: a Kafka consumer that scores events with the inference core."""

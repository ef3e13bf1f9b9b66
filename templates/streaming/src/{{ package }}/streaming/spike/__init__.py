"""A bounded, open-model load test of the running consumer, through the broker.

Events are sent on a fixed schedule (``--rate`` per second, uniform or Poisson) whatever the
consumer does, and each event's latency runs from its *scheduled* send time to its
prediction reaching a reader of the output topic: a stalled consumer, broker or load
generator shows up as latency instead of silently slowing the load (no coordinated
omission). Sends that left more than ``--late-threshold-ms`` after their time are counted
as late, as ``mlship spike`` does. ``python -m <package>.streaming.spike --json`` prints
one JSON document (see :mod:`.report`) for tools such as ``mlship spike``.
"""

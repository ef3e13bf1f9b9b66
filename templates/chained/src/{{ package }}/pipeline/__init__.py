"""A pipeline of models: stages declared in ``pipeline.yaml``, run by one executor.

Each stage is a model of the shared inference core, called in-process or over HTTP (the v1
protocol of an mlship online service); the executor owns ordering, deadlines, retries,
circuit breakers and fallbacks.
"""

"""Scripts a spike runs with a project's own Python (never imported by mlship itself).

They use only the standard library and what the project installs (numpy, onnxruntime,
confluent-kafka), and print one JSON document or write raw records, so that mlship reads
their results without importing any of the project's libraries.
"""

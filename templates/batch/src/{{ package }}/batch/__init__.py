"""The batch transport: score files of records through the inference core, resumably.

``python -m <package>.batch run`` plans the input into parts, scores each part into its own
Parquet file (written under a temporary name, renamed when complete), writes bad records to
a rejects file, reconciles the counts and leaves a run manifest and Prometheus metrics.
"""

"""The batch transport: score files of records through the inference core, resumably.

``python -m <package>.batch run`` plans the input into parts, scores each part into its own
Parquet file (written under a temporary name, renamed when complete), writes bad records to
a rejects file, reconciles the counts and leaves a run manifest and Prometheus metrics.
"""

import os

# Arrow's default allocator (mimalloc) keeps freed pages per thread: about 25 MB more resident
# memory for this job's few, large allocations than the system allocator, which hands them
# back. Read once, when pyarrow allocates first; a value set by the user wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

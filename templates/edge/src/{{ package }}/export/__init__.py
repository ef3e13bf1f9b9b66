"""The edge pipeline: export to ONNX, check parity, quantize, benchmark, judge, bundle.

``python -m <package>.export`` (``make export``) runs every step; each module does one.
"""

from .config import ExportConfig, load_config
from .pipeline import PipelineError, run_pipeline

__all__ = ["ExportConfig", "PipelineError", "load_config", "run_pipeline"]

"""The inference core: load a verified model, validate inputs, run it, post-process.

Nothing here knows about HTTP, jobs or queues; every transport calls :class:`Predictor`.
"""

from .errors import InferenceError, InputSchemaError, ModelLoadError
from .manifest import Manifest, load_manifest
from .predictor import Predictor, load_predictor

__all__ = [
    "InferenceError",
    "InputSchemaError",
    "Manifest",
    "ModelLoadError",
    "Predictor",
    "load_manifest",
    "load_predictor",
]

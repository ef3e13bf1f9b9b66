"""Model runtimes behind one small interface: ``run(float32 batch) -> scores``.

Heavy libraries are imported only by the runtime that needs them, so an ONNX service does
not pay for scikit-learn or torch at start-up.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..settings import AppSettings
from . import device as devices
from .errors import ModelLoadError
from .manifest import Manifest
from .sklearn_paths import fast_method

log = logging.getLogger(__name__)

_SAFE_SKOPS_PREFIXES = ("sklearn.", "numpy.")
_PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_STATE_DICT_SUFFIXES = (".pth", ".bin", ".safetensors")


class Runtime(Protocol):
    framework: str
    info: devices.DeviceInfo
    gains_from_batching: bool

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Scores for a 2-D float32 batch: class probabilities, or regression values."""
        ...


def _preload_cuda_libraries(ort: Any) -> None:
    """Load the CUDA and cuDNN libraries that NVIDIA's pip wheels installed.

    The GPU image takes CUDA from wheels instead of a CUDA base image, so the libraries sit
    in site-packages where the dynamic loader does not look; onnxruntime-gpu (1.21 and
    newer) can load them itself before the CUDA provider needs them.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload()
    except Exception as error:  # the provider check below reports what is missing
        log.warning("could not preload the CUDA libraries: %s", error)


class OnnxRuntime:
    """onnxruntime with explicit thread counts; CUDA provider when asked and present."""

    framework = "onnx"

    def __init__(self, path: Path, manifest: Manifest, settings: AppSettings) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.intra_op_threads
        options.inter_op_num_threads = settings.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        use_gpu = False
        if settings.device != "cpu" and has_cuda:
            _preload_cuda_libraries(ort)
            session = ort.InferenceSession(
                str(path), options, providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
            )
            use_gpu = session.get_providers()[0] == "CUDAExecutionProvider"
            why = "the CUDA provider did not initialise (no visible GPU or CUDA libraries)"
        else:
            session = None
            why = "this onnxruntime build has no CUDAExecutionProvider (install onnxruntime-gpu)"
        device = devices.resolve(settings.device, use_gpu, why)
        if session is None or device == "cpu":
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        on_gpu = device == "cuda"
        self.info = devices.DeviceInfo(
            device=device,
            gpu_name=devices.gpu_name() if on_gpu else None,
            cuda_version=devices.driver_cuda_version() if on_gpu else None,
            driver_version=devices.driver_version() if on_gpu else None,
        )
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(f"{path}: expected one input tensor, the model has {len(inputs)}")
        self._input = inputs[0].name
        self._outputs = [_pick_output([o.name for o in session.get_outputs()], manifest)]
        self._run = session.run
        batch_dim = inputs[0].shape[0]
        # a graph exported with a fixed batch size takes exactly that many rows per call
        self.fixed_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else None
        if self.fixed_batch:
            log.warning(
                "%s: the batch dimension is fixed to %d; rows are run in chunks of that size",
                path.name,
                self.fixed_batch,
            )
        # One call on many rows costs little more than on one row for every ONNX graph (the
        # per-call overhead dominates small models), and fewer thread hand-offs cut the tail
        # under load: measured for tree ensembles and for logistic regression alike.
        self.gains_from_batching = self.fixed_batch is None

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.fixed_batch and len(batch) != self.fixed_batch:
            return self._run_in_chunks(batch, self.fixed_batch)
        result: np.ndarray = self._run(self._outputs, {self._input: batch})[0]
        return result

    def _run_in_chunks(self, batch: np.ndarray, size: int) -> np.ndarray:
        parts = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            rows = len(chunk)
            if rows < size:  # pad the last chunk; the padding rows' outputs are dropped
                chunk = np.concatenate(
                    [chunk, np.zeros((size - rows, batch.shape[1]), batch.dtype)]
                )
            parts.append(self._run(self._outputs, {self._input: chunk})[0][:rows])
        return np.concatenate(parts)


def _pick_output(names: list[str], manifest: Manifest) -> str:
    for wanted in (manifest.output.name, "probabilities"):
        if wanted and wanted in names:
            return wanted
    if manifest.task == "classification" and len(names) > 1:
        return names[-1]  # converters put labels first and probabilities last
    return names[0]


class SklearnRuntime:
    """scikit-learn through skops (no pickle); joblib only when explicitly allowed."""

    framework = "sklearn"

    def __init__(self, path: Path, manifest: Manifest, settings: AppSettings) -> None:
        import sklearn

        device = devices.resolve(settings.device, False, "scikit-learn runs on the CPU only")
        self.info = devices.DeviceInfo(device=device)
        if path.suffix in _PICKLE_SUFFIXES:
            model = _load_joblib(path, settings)
        else:
            model = _load_skops(path)
        # inputs are validated (finite float32) before they reach the model
        sklearn.set_config(assume_finite=True)
        if settings.intra_op_threads > 0:  # BLAS/OpenMP threads per call, as for onnxruntime
            from threadpoolctl import threadpool_limits

            threadpool_limits(settings.intra_op_threads)
        self._model = model
        wants_proba = manifest.task != "regression" and hasattr(model, "predict_proba")
        # scikit-learn's per-call overhead (validation, configuration) is most of a small
        # model's time: common families are scored from their attributes instead
        fast = fast_method(model, manifest.input.n_features, wants_proba)
        self._predict = fast or (model.predict_proba if wants_proba else model.predict)
        log.info(
            "scikit-learn %s: %s",
            type(model).__name__,
            "scored from its fitted attributes" if fast else "scored by its own method",
        )
        # every estimator is vectorised: many rows in one call cost little more than one
        self.gains_from_batching = True

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(batch))


def _load_skops(path: Path) -> Any:
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    unsafe = [name for name in untrusted if not name.startswith(_SAFE_SKOPS_PREFIXES)]
    if unsafe:
        raise ModelLoadError(
            f"{path}: refusing to load types outside scikit-learn and numpy: {', '.join(unsafe)}. "
            "Review them and export the model without custom code."
        )
    return skops.io.load(path, trusted=untrusted)


def _load_joblib(path: Path, settings: AppSettings) -> Any:
    if not settings.allow_unsafe_joblib:
        raise ModelLoadError(
            f"{path}: joblib/pickle files execute code when loaded; export the model with skops "
            "(skops.io.dump) or, for a file you trust, set APP_ALLOW_UNSAFE_JOBLIB=true"
        )
    import joblib

    log.warning(
        "loading %s with joblib: this executes code stored in the file; "
        "APP_ALLOW_UNSAFE_JOBLIB=true says you trust it",
        path,
    )
    return joblib.load(path)


class TorchRuntime:
    """TorchScript, or a state dict with a module factory; inference mode, optional fp16."""

    framework = "torch"
    gains_from_batching = True

    def __init__(self, path: Path, manifest: Manifest, settings: AppSettings) -> None:
        import torch

        if torch.version.cuda is None:
            why = f"this torch build ({torch.__version__}) has no CUDA support"
        else:
            why = "torch.cuda.is_available() is False"
        device = devices.resolve(settings.device, torch.cuda.is_available(), why)
        if settings.intra_op_threads > 0:
            torch.set_num_threads(settings.intra_op_threads)
        module = _load_torch_module(path, settings)
        if path.suffix != ".pt2":  # an exported program is in inference form already
            module.eval()
        module.to(device)
        self._half = settings.half_precision and device == "cuda"
        if settings.half_precision and not self._half:
            log.warning("half precision needs a CUDA device; running in float32 on the CPU")
        if self._half:
            module.half()
        self._module = module
        self._torch = torch
        self._device = torch.device(device)
        self.info = devices.DeviceInfo(
            device=device,
            gpu_name=torch.cuda.get_device_name(0) if device == "cuda" else None,
            cuda_version=torch.version.cuda if device == "cuda" else None,
            driver_version=devices.driver_version() if device == "cuda" else None,
        )

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            tensor = torch.from_numpy(batch).to(self._device, non_blocking=True)
            if self._half:
                tensor = tensor.half()
            result = self._module(tensor)
            out: np.ndarray = result.float().cpu().numpy()
            return out


def _load_torch_module(path: Path, settings: AppSettings) -> Any:
    import torch

    if path.suffix in _STATE_DICT_SUFFIXES or settings.torch_model_factory:
        if not settings.torch_model_factory:
            raise ModelLoadError(
                f"{path}: a state dict needs the architecture: set APP_TORCH_MODEL_FACTORY "
                "to 'module:function' returning the nn.Module"
            )
        module_name, _, function = settings.torch_model_factory.partition(":")
        module = getattr(importlib.import_module(module_name), function)()
        state = torch.load(path, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
        return module
    if path.suffix == ".pt2":
        # A torch.export program (no pickle); what the on-device converters take as input.
        try:
            return torch.export.load(str(path)).module()
        except (RuntimeError, ValueError, KeyError) as error:
            raise ModelLoadError(f"{path}: not a torch.export program ({error})") from error
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as error:
        raise ModelLoadError(f"{path}: not a TorchScript file ({error})") from error


_RUNTIMES: dict[str, type[OnnxRuntime] | type[SklearnRuntime] | type[TorchRuntime]] = {
    "onnx": OnnxRuntime,
    "sklearn": SklearnRuntime,
    "torch": TorchRuntime,
}


def load_runtime(path: Path, manifest: Manifest, settings: AppSettings) -> Runtime:
    """Instantiate the runtime the manifest's ``framework`` names."""
    try:
        factory = _RUNTIMES[manifest.framework]
    except KeyError:  # the manifest model already restricts it; kept for clear errors
        raise ModelLoadError(f"unsupported framework {manifest.framework!r}") from None
    try:
        return factory(path, manifest, settings)
    except ImportError as error:
        raise ModelLoadError(
            f"the {manifest.framework} runtime is not installed ({error.name}); "
            f"install the project's '{manifest.framework}' extra"
        ) from error

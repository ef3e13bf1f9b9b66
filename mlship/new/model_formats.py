"""Read what a model file says about its input, per format, without serving it.

Each reader returns a :class:`ModelFacts` or raises ``InputError`` naming the file and
the problem. Readers avoid running code from the file: ONNX is a protobuf, a skops file
is a zip whose ``schema.json`` describes the object tree; pickles are loaded only when
the user opted in, and torch files are checked for their archive layout only.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlship.errors import InputError

SAFE_SKOPS_PREFIXES = ("sklearn.", "numpy.")  # what the generated service trusts
# The readers need libraries mlship installs only with its `models` extra, so that
# `mlship --help` and a plain install stay light; each reader is imported when used.
READER_MODULES: dict[str, tuple[str, ...]] = {
    "onnx": ("numpy", "onnx"),
    "skops": ("numpy", "sklearn", "skops"),
    "pickle": ("numpy", "sklearn", "skops", "joblib"),
    "torch": (),  # a torch archive is checked as a zip file
}
MODELS_EXTRA = "pip install 'mlship[models]' (in a checkout: pip install -e '.[models]')"


def missing_reader(path: Path, kind: str, missing: list[str]) -> InputError:
    """The error for a model whose reader's libraries are not installed."""
    return InputError(
        f"model: reading {path.name} needs {', '.join(missing)}, which this mlship "
        "installation lacks (they come with its `models` extra)",
        hint=f"install the model readers: {MODELS_EXTRA}",
    )


def require_reader(path: Path, kind: str) -> None:
    """Refuse early, naming the install command, when a reader's libraries are missing."""
    import importlib.util

    missing = [m for m in READER_MODULES[kind] if importlib.util.find_spec(m) is None]
    if missing:
        raise missing_reader(path, kind, missing)


@dataclass
class ModelFacts:
    """What could be read from a model file; ``None`` where the file does not say."""

    framework: str  # the runtime that loads it: onnx | sklearn | torch
    input_name: str = "input"
    dtype: str = "float32"
    n_features: int | None = None
    features: list[str] | None = None
    output_name: str = "output"
    classes: list[Any] | None = None
    task: str = "unknown"
    warnings: list[str] = field(default_factory=list)
    trusted_types: list[str] = field(default_factory=list)
    skops_bytes: bytes | None = None  # a pickle converted to skops, to write instead
    estimator: Any = None  # the loaded scikit-learn object, where reading had to load it


def _refuse(path: Path, problem: str, hint: str | None = None) -> InputError:
    return InputError(f"model: {path}: {problem}", hint=hint)


# --- ONNX -------------------------------------------------------------------------------


def read_onnx(path: Path) -> ModelFacts:
    """Graph inputs, dtypes and shapes of an ONNX model; refuses what mlship cannot serve."""
    import numpy as np
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as error:  # protobuf DecodeError, onnx ValidationError, ...
        raise _refuse(path, f"not a valid ONNX model ({type(error).__name__}: {error})") from error
    graph = proto.graph
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer):
        raise _refuse(
            path,
            "its weights are stored in external data files",
            hint="save the model as one file (onnx.save_model(..., save_as_external_data=False))",
        )
    initialisers = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialisers]
    if len(inputs) != 1:
        names = ", ".join(repr(i.name) for i in inputs) or "none"
        raise _refuse(
            path,
            f"it has {len(inputs)} inputs ({names}); mlship serves models with exactly one "
            "input of shape (batch, features)",
            hint="export the model with one 2-D input, or combine the inputs in the model",
        )
    (tensor_input,) = inputs
    kind = tensor_input.type.WhichOneof("value")
    if kind != "tensor_type":
        raise _refuse(path, f"input {tensor_input.name!r} is a {kind}, not a tensor")
    tensor = tensor_input.type.tensor_type
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
    if dtype != "float32":
        raise _refuse(
            path,
            f"input {tensor_input.name!r} has dtype {dtype}; the generated service feeds float32",
            hint="export the model with a float32 input (skl2onnx: pass float32 sample data)",
        )
    if not tensor.HasField("shape"):
        raise _refuse(path, f"input {tensor_input.name!r} has no declared shape")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if len(dims) != 2:
        shown = ["?" if d is None else d for d in dims]
        raise _refuse(
            path,
            f"input {tensor_input.name!r} has shape {shown}; mlship needs a 2-D input "
            "(batch, features)",
        )
    facts = ModelFacts(
        framework="onnx", input_name=tensor_input.name, dtype=dtype, n_features=dims[1]
    )
    if dims[0] is not None:
        facts.warnings.append(
            f"the model's batch dimension is fixed to {dims[0]}: export it with a dynamic "
            "batch axis so the service can batch requests"
        )
    _onnx_outputs(path, graph, facts)
    return facts


def _onnx_outputs(path: Path, graph: Any, facts: ModelFacts) -> None:
    """Classes from a classifier node (skl2onnx style); the scores output to serve."""
    if any(node.op_type == "ZipMap" for node in graph.node):
        raise _refuse(
            path,
            "its probabilities come out as a ZipMap (a list of dicts), not a tensor",
            hint="convert it again with skl2onnx options={'zipmap': False}",
        )
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_ints" and attribute.ints:
                facts.classes = list(attribute.ints)
            elif attribute.name == "classlabels_strings" and attribute.strings:
                facts.classes = [s.decode() for s in attribute.strings]
    outputs = [o.name for o in graph.output]
    score_matrices = [o.name for o in graph.output if _is_float_matrix(o)]
    facts.output_name = outputs[0]
    if "probabilities" in outputs:
        facts.output_name = "probabilities"
    elif len(outputs) > 1 and score_matrices:
        # a label output beside a (batch x classes) score matrix: serve the scores, which
        # the label can be derived from, not the other way round (e.g. skl2onnx's MLP
        # classifier, which carries no classlabels attribute)
        facts.output_name = score_matrices[-1]
    if facts.classes is not None or facts.output_name != outputs[0]:
        facts.task = "classification"


def _is_float_matrix(value_info: Any) -> bool:
    """A 2-D float tensor output: what a classifier's scores look like."""
    tensor = value_info.type.tensor_type
    return tensor.elem_type in (1, 10, 11) and len(tensor.shape.dim) == 2  # float, f16, double


# --- scikit-learn -----------------------------------------------------------------------


def _json_value(node: dict[str, Any]) -> Any:
    """The value of a skops JsonNode (its content is JSON text)."""
    return json.loads(node["content"])


def _state(node: dict[str, Any]) -> dict[str, Any]:
    content = node.get("content")
    if isinstance(content, dict) and content.get("__loader__") == "DictNode":
        inner = content.get("content")
        return inner if isinstance(inner, dict) else {}
    return {}


def _pipeline_ends(root: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first and last estimator of a Pipeline node (or the node itself twice)."""
    if root.get("__class__") != "Pipeline":
        return root, root
    steps = _state(root).get("steps", {}).get("content", [])
    estimators = [s["content"][1] for s in steps if len(s.get("content", [])) == 2]
    estimators = [e for e in estimators if e.get("__loader__") == "ObjectNode"]
    if not estimators:
        return root, root
    return estimators[0], estimators[-1]


def _array(archive: zipfile.ZipFile, node: dict[str, Any]) -> Any:
    """A value the schema stores as JSON or as a plain .npy file; None if it cannot say.

    ``np.load`` runs with ``allow_pickle=False``: object arrays are not read from here.
    """
    import io

    import numpy as np

    if node.get("__loader__") == "JsonNode":
        return _json_value(node)
    if node.get("type") == "json":
        return [_json_value(item) for item in node.get("content", [])]
    if node.get("type") == "numpy" and node.get("file"):
        try:
            array = np.load(io.BytesIO(archive.read(node["file"])), allow_pickle=False)
        except ValueError:
            return None
        return array.tolist()
    return None


def read_skops(path: Path) -> ModelFacts:
    """Input facts from a skops file's schema; loading it only if the schema is silent."""
    import skops.io as sio

    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
            first, last = _pipeline_ends(schema)
            first_state, last_state = _state(first), _state(last)
            facts = ModelFacts(framework="sklearn")
            if "n_features_in_" in first_state:
                count = _array(archive, first_state["n_features_in_"])
                facts.n_features = int(count) if isinstance(count, int) else None
            if "feature_names_in_" in first_state:
                names = _array(archive, first_state["feature_names_in_"])
                facts.features = [str(n) for n in names] if names else None
            if "classes_" in last_state:
                facts.classes = _array(archive, last_state["classes_"])
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as error:
        raise _refuse(
            path, f"not a readable skops file ({type(error).__name__}: {error})"
        ) from error
    facts.trusted_types = list(untrusted)
    foreign = [name for name in untrusted if not name.startswith(SAFE_SKOPS_PREFIXES)]
    if foreign:
        raise _refuse(
            path,
            f"it needs types from outside scikit-learn and numpy: {', '.join(foreign)}; "
            "the generated service refuses to load those",
            hint="export the model without custom code, or convert it to ONNX",
        )
    if facts.n_features is None:
        # only scikit-learn and numpy types remain: loading builds objects, runs no code
        try:
            estimator = sio.load(path, trusted=list(untrusted) or None)
        except Exception as error:  # skops raises many kinds for a damaged file
            problem = f"could not be loaded with skops ({type(error).__name__}: {error})"
            raise _refuse(path, problem) from error
        if untrusted:
            facts.warnings.append(
                "n_features_in_ is not in the skops schema: read it by loading the model with "
                f"skops, trusting {', '.join(untrusted)}"
            )
        _from_estimator(estimator, facts)
        facts.estimator = estimator
    _sklearn_task(last.get("__class__", ""), facts)
    return facts


def _from_estimator(estimator: Any, facts: ModelFacts) -> None:
    n_features = getattr(estimator, "n_features_in_", None)
    facts.n_features = int(n_features) if n_features is not None else None
    names = getattr(estimator, "feature_names_in_", None)
    facts.features = [str(n) for n in names] if names is not None else None
    classes = getattr(estimator, "classes_", None)
    if classes is None and hasattr(estimator, "steps"):
        classes = getattr(estimator.steps[-1][1], "classes_", None)
    facts.classes = (
        [c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None
    )


def _sklearn_task(class_name: str, facts: ModelFacts) -> None:
    if facts.classes is not None:
        facts.task = "classification"
        facts.output_name = "probabilities"
    elif "Regress" in class_name:
        facts.task = "regression"
        facts.output_name = "value"


def read_pickle(path: Path, trust: bool) -> ModelFacts:
    """A joblib/pickle file, loaded only on explicit trust, then converted to skops."""
    if not trust:
        raise _refuse(
            path,
            "is a pickle (joblib) file; loading it runs code stored in the file",
            hint="save the model with skops (skops.io.dump) or convert it to ONNX; or pass "
            "--trust-pickle if you trust where the file came from",
        )
    import joblib
    import skops.io as sio

    try:
        estimator = joblib.load(path)
    except Exception as error:  # a pickle can fail in any way
        raise _refuse(path, f"could not be loaded ({type(error).__name__}: {error})") from error
    if not hasattr(estimator, "predict"):
        raise _refuse(path, f"holds a {type(estimator).__name__}, not a fitted estimator")
    facts = ModelFacts(framework="sklearn", estimator=estimator)
    _from_estimator(estimator, facts)
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    _sklearn_task(type(last).__name__, facts)
    facts.skops_bytes = sio.dumps(estimator)
    facts.trusted_types = list(sio.get_untrusted_types(data=facts.skops_bytes))
    foreign = [t for t in facts.trusted_types if not t.startswith(SAFE_SKOPS_PREFIXES)]
    if foreign:
        raise _refuse(
            path,
            f"it holds types from outside scikit-learn and numpy: {', '.join(foreign)}; "
            "the generated service refuses to load those",
            hint="export the model without custom code, or convert it to ONNX",
        )
    facts.warnings.append(
        f"{path.name} was unpickled (this ran code from the file, as --trust-pickle allowed) "
        "and saved as skops, so the project never unpickles it"
    )
    return facts


def load_sklearn(path: Path, facts: ModelFacts) -> Any:
    """The scikit-learn object of a skops file whose types were checked by ``read_skops``."""
    if facts.estimator is not None:
        return facts.estimator
    import skops.io as sio

    try:
        facts.estimator = sio.load(path, trusted=list(facts.trusted_types) or None)
    except Exception as error:  # skops raises many kinds for a damaged file
        problem = f"could not be loaded with skops ({type(error).__name__}: {error})"
        raise _refuse(path, problem) from error
    return facts.estimator


# --- torch ------------------------------------------------------------------------------


def read_torch(path: Path) -> ModelFacts:
    """Check a torch file's archive layout; its input must come from --input-schema.

    ``.pt``/``.ts`` must be TorchScript (the service loads it with ``torch.jit.load``);
    ``.pth`` is a state dict, which the service loads into the module that
    ``APP_TORCH_MODEL_FACTORY`` builds. Nothing is unpickled here.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as error:
        raise _refuse(
            path, "not a torch archive (torch.jit.save and torch.save write zip archives)"
        ) from error
    if not any(n.endswith(("/data.pkl", "/constants.pkl")) for n in names):
        raise _refuse(path, "a zip archive, but not one written by torch.jit.save or torch.save")
    facts = ModelFacts(framework="torch")
    scripted = any("/code/" in n for n in names)
    if path.suffix.lower() == ".pth":
        if scripted:
            raise _refuse(
                path,
                "TorchScript saved as .pth, which the service reads as a state dict",
                hint="rename it to .pt",
            )
        facts.warnings.append(
            f"{path.name} is a state dict: set APP_TORCH_MODEL_FACTORY=module:function "
            "(a function returning the nn.Module) in the project before serving"
        )
    elif not scripted:
        raise _refuse(
            path,
            "not TorchScript (the archive has no code/), and a .pt file is loaded with "
            "torch.jit.load",
            hint="save it with torch.jit.save(torch.jit.script(model), path), or save the "
            "state dict as .pth and set APP_TORCH_MODEL_FACTORY, or export to ONNX",
        )
    return facts

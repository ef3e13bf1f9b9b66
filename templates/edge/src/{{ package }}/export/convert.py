"""Export the project's model to one self-contained, checked ONNX file.

scikit-learn goes through skl2onnx; TorchScript through torch's TorchScript exporter and a
plain ``nn.Module`` through its newer ``torch.export``-based exporter, both with a dynamic
batch axis; an ONNX model is taken as it is. Weights that an exporter wrote to a separate
``.data`` file are embedded, so the model is one file to ship (unless it passes the 2 GB
protobuf limit, in which case the data file is kept and listed for the bundle).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import onnx.version_converter
from onnx.external_data_helper import uses_external_data

from ..inference.predictor import Predictor

SCORE_OUTPUTS = ("probabilities", "output_probability", "variable", "output")
EMBED_LIMIT_BYTES = 1_800_000_000


@dataclass
class Exported:
    path: Path
    exporter: str
    opset: int
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    score_output: str
    external_data: list[str] = field(default_factory=list)


def export_model(predictor: Predictor, source: Path, dest: Path, opset: int) -> Exported:
    """Write ``dest`` from the loaded model; check it with ``onnx.checker``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in (dest, dest.with_name(dest.name + ".data")):
        stale.unlink(missing_ok=True)
    framework = predictor.manifest.framework
    width = predictor.schema.n_features
    name = predictor.manifest.input.name
    if framework == "onnx":
        shutil.copyfile(source, dest)
        exporter = _to_opset(dest, opset)
    elif framework == "sklearn":
        exporter = _from_sklearn(predictor.runtime._model, width, name, dest, opset)  # type: ignore[attr-defined]
    else:
        exporter = _from_torch(predictor.runtime._module, width, name, dest, opset)  # type: ignore[attr-defined]
    external = embed_external_data(dest)
    onnx.checker.check_model(str(dest), full_check=True)
    model = onnx.load(str(dest), load_external_data=False)
    outputs = [_describe(o) for o in model.graph.output]
    return Exported(
        path=dest,
        exporter=exporter,
        opset=_default_opset(model),
        inputs=[_describe(i) for i in model.graph.input],
        outputs=outputs,
        score_output=score_output_name(outputs, predictor),
        external_data=external,
    )


def _to_opset(path: Path, opset: int) -> str:
    """Keep an ONNX model as it is, converted to ``opset`` when the converter can."""
    model = onnx.load(str(path))
    current = _default_opset(model)
    if current == opset:
        return "none (the model is ONNX already)"
    try:
        converted = onnx.version_converter.convert_version(model, opset)
        onnx.checker.check_model(converted)
    except Exception as error:  # the converter raises several unrelated types
        return f"none (kept opset {current}: conversion to {opset} failed: {error})"
    onnx.save_model(converted, str(path))
    return f"onnx.version_converter {current} -> {opset}"


def _from_sklearn(model: Any, width: int, name: str, dest: Path, opset: int) -> str:
    import skl2onnx
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    converted = convert_sklearn(
        model,
        initial_types=[(name, FloatTensorType([None, width]))],
        options={id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None,
        target_opset={"": opset, "ai.onnx.ml": 3},
    )
    dest.write_bytes(converted.SerializeToString())
    return f"skl2onnx {skl2onnx.__version__}"


def _from_torch(module: Any, width: int, name: str, dest: Path, opset: int) -> str:
    import torch

    example = (torch.zeros(2, width),)
    if isinstance(module, torch.jit.ScriptModule):
        # torch.export cannot trace TorchScript; the TorchScript exporter can.
        torch.onnx.export(
            module,
            example,
            str(dest),
            dynamo=False,
            input_names=[name],
            output_names=["probabilities"],
            dynamic_axes={name: {0: "batch"}, "probabilities": {0: "batch"}},
            opset_version=opset,
        )
        return f"torch {torch.__version__} TorchScript exporter (dynamo=False)"
    forward_arg = next(iter(_forward_parameters(module)), "x")
    program = torch.onnx.export(
        module,
        example,
        input_names=[name],
        output_names=["probabilities"],
        dynamic_shapes={forward_arg: {0: torch.export.Dim("batch")}},
        opset_version=max(opset, 18),
        dynamo=True,
    )
    program.save(str(dest))
    return f"torch {torch.__version__} torch.export exporter (dynamo=True)"


def _forward_parameters(module: Any) -> list[str]:
    import inspect

    return list(inspect.signature(module.forward).parameters)


def embed_external_data(path: Path) -> list[str]:
    """Fold ``model.onnx.data`` (and the like) into the model; return files still needed."""
    model = onnx.load(str(path), load_external_data=False)
    external = sorted(
        {
            entry.value
            for tensor in model.graph.initializer
            if uses_external_data(tensor)
            for entry in tensor.external_data
            if entry.key == "location"
        }
    )
    if not external:
        return []
    total = sum((path.parent / name).stat().st_size for name in external)
    if total > EMBED_LIMIT_BYTES:
        return external
    full = onnx.load(str(path), load_external_data=True)
    onnx.save_model(full, str(path), save_as_external_data=False)
    for name in external:
        (path.parent / name).unlink(missing_ok=True)
    return []


def _describe(value: Any) -> dict[str, Any]:
    tensor = value.type.tensor_type
    shape = [
        d.dim_param or (d.dim_value if d.HasField("dim_value") else None) for d in tensor.shape.dim
    ]
    return {
        "name": value.name,
        "dtype": onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type).name,
        "shape": shape,
    }


def _default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def score_output_name(outputs: list[dict[str, Any]], predictor: Predictor) -> str:
    """The float output that carries scores (probabilities or values), not integer labels."""
    floats = [o["name"] for o in outputs if str(o["dtype"]).startswith("float")]
    for candidate in (predictor.manifest.output.name, *SCORE_OUTPUTS):
        if candidate in floats:
            return str(candidate)
    return str(floats[-1] if floats else outputs[0]["name"])

"""Real model files made on the spot for the tests of ``mlship new --model``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = ["mean radius", "mean texture", "mean perimeter", "mean area"]


def training_data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return data.data[:, :4].astype(np.float32), data.target


def logistic_regression(with_names: bool = True) -> object:
    """A fitted LogisticRegression; with the feature names it gets from a DataFrame.

    pandas is not installed here, so the names are set the way ``fit`` sets them.
    """
    from sklearn.linear_model import LogisticRegression

    x, y = training_data()
    model = LogisticRegression(max_iter=1000).fit(x, y)
    if with_names:
        model.feature_names_in_ = np.array(FEATURES, dtype=object)
    return model


def skops_file(path: Path, model: object | None = None) -> Path:
    import skops.io as sio

    sio.dump(model if model is not None else logistic_regression(), path)
    return path


def onnx_classifier(path: Path) -> Path:
    """The logistic regression converted with skl2onnx, probabilities as a plain array."""
    from skl2onnx import to_onnx

    x, _ = training_data()
    onx = to_onnx(logistic_regression(with_names=False), x[:1], options={"zipmap": False})
    path.write_bytes(onx.SerializeToString())
    return path


def onnx_graph(path: Path, inputs: list[tuple[str, int, list[int | str | None]]]) -> Path:
    """A small valid ONNX graph with the given inputs (name, elem type, shape): their sum."""
    from onnx import TensorProto, checker, helper

    value_infos = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    first = inputs[0][0]
    if len(inputs) > 1:
        node = helper.make_node("Add", [inputs[0][0], inputs[1][0]], ["y"])
    else:
        node = helper.make_node("Identity", [first], ["y"])
    output = helper.make_tensor_value_info("y", inputs[0][1], inputs[0][2])
    graph = helper.make_graph([node], "g", value_infos, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    assert TensorProto.FLOAT == 1
    return path

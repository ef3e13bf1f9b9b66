// Loads ../model.onnx with the vendored onnxruntime-web and scores the example row that
// make export wrote (example.json), next to the scores Python's onnxruntime gave for it.
"use strict";

const TOLERANCE = 1e-4;

function show(id, text) {
  document.getElementById(id).textContent = text;
}

async function main() {
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  ort.env.wasm.numThreads = 1; // threads need cross-origin isolation headers
  const example = await (await fetch("example.json")).json();
  const session = await ort.InferenceSession.create("../model.onnx", {
    executionProviders: ["wasm"],
  });
  const input = new ort.Tensor("float32", Float32Array.from(example.instance), [1, example.features]);
  const results = await session.run({ [example.input_name]: input }, [example.output_name]);
  const scores = Array.from(results[example.output_name].data);
  const top = scores.indexOf(Math.max(...scores));
  const label = example.classes ? example.classes[top] : top;
  const expected = example.expected_scores_python;
  const gap = Math.max(...scores.map((value, i) => Math.abs(value - expected[i])));
  show("label", String(label));
  show("agrees", gap <= TOLERANCE ? "yes" : `no (max difference ${gap})`);
  show("scores", JSON.stringify({ label, scores, max_abs_diff_vs_python: gap }));
  show("status", "done");
  document.body.dataset.label = String(label);
  document.body.dataset.gap = String(gap);
}

main().catch((error) => {
  show("status", `error: ${error}`);
});

"""Import an ONNX file with both ONNX importers, compile it, and verify it against onnxruntime.

The model is one the `onnx` wheel ships (under `onnx/backend/test/data/`): by default a
convolution exported from PyTorch, whose output depends on its input so the check means
something. (The `light/` models, e.g. `light/light_squeezenet.onnx`, are real networks with
their weights replaced by constants: they verify, but flagged weak.) Each importer
(`onnx_importer="torch-mlir"`, `"iree"`) brings the model into the torch dialect, lowered here
to linalg; `verify` with `via="onnx"` or `"onnx-iree"` compiles by that importer and compares
with onnxruntime on seeded random inputs.

    uv run python examples/onnx_file.py
    uv run python examples/onnx_file.py --model light/light_squeezenet.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx

import frontend_mess

SHIPPED = Path(onnx.__file__).parent / "backend" / "test" / "data"
#: ONNX importer -> the `via` that compiles through it
IMPORTERS = {"torch-mlir": "onnx", "iree": "onnx-iree"}


def signature_inputs(artifact: frontend_mess.Artifact) -> list:
    """The input types of the artifact's one function, as recorded when it was compiled."""
    (signature,) = artifact.signatures.values()
    return signature.inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default="pytorch-converted/test_Conv2d/model.onnx",
        help="an .onnx file, or a path under onnx/backend/test/data",
    )
    args = parser.parse_args()
    path = Path(args.model) if Path(args.model).is_file() else SHIPPED / args.model

    ok = True
    outputs = {}
    for importer, via in IMPORTERS.items():
        model = frontend_mess.import_model(str(path), to="linalg", onnx_importer=importer)
        print(f"== {importer} importer: {model.choices}")  # opset upgrades show here
        print(f"{sum(model.stats().values())} ops in the linalg module")
        artifact = model.compile()
        print(artifact)
        # Run each compiled module on the same input: both importers must agree.
        rng = np.random.default_rng(0)
        inputs = [spec.random(rng) for spec in signature_inputs(artifact)]
        outputs[importer] = artifact.run(*inputs)

        report = frontend_mess.verify(str(path), via=via)
        print(report.text(), end="")
        ok = ok and report.ok

    agree = all(
        np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(*outputs.values(), strict=True)
    )
    print(f"the two importers' modules agree: {agree}")
    if not (ok and agree):
        sys.exit("FAIL: IREE differs from onnxruntime, or the importers differ")
    print("OK: both importers match onnxruntime")


if __name__ == "__main__":
    main()

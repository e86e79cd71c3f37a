"""One stage run on one MLIR file, in the fresh process this module runs as (mlir_run.py
starts it for every candidate, so a compiler that crashes or hangs takes only the candidate):
print the stage's verdict as a matrix record would give it (status, stage, error class).

    python -m frontend_mess.reduce.mlir_stage '{"stage": "compile", "file": "m.mlir",
        "input_type": "tosa", "target": "llvm-cpu"}'
    python -m frontend_mess.reduce.mlir_stage '{"stage": "lower", "file": "m.mlir", "to": "tosa"}'

`compile` is iree-compile with the target's flags (the matrix's compile stage); `lower` is
torch-mlir's backend pipeline from a torch-backend module to `to` (the FX paths' lower stage).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: the stages an MLIR file can be reduced against
STAGES = ("compile", "lower")


def run_stage(request: dict) -> dict:
    from frontend_mess.matrix.cell import failure_fields
    from frontend_mess.support.errors import FrontendError

    stage, path = request["stage"], Path(request["file"])
    text = path.read_text()
    try:
        if stage == "compile":
            from frontend_mess.backend.compiler import compile_text
            from frontend_mess.backend.targets import target_spec

            arch = {"cuda_arch": request["cuda_arch"]} if request.get("cuda_arch") else {}
            spec = target_spec(request["target"], **arch)
            compile_text(text, spec, input_type=request.get("input_type"), name="model.mlir")
        else:
            from torch_mlir import ir
            from torch_mlir.dialects import torch as torch_d

            from frontend_mess.importers.fx import lower_torch_module

            context = ir.Context()
            torch_d.register_dialect(context)
            lower_torch_module(ir.Module.parse(text, context), request["to"], name="model.mlir")
    except FrontendError as exc:
        return failure_fields(exc, exc.stage or stage, str(path), "model.mlir")
    except Exception as exc:  # noqa: BLE001 - not the stage's verdict: the harness's failure
        return {
            "status": "error",
            "stage": stage,
            "error": f"{type(exc).__name__}: {str(exc).strip()[:300]}",
            "error_class": f"harness error: {type(exc).__name__}",
        }
    return {"status": "pass", "stage": "", "error": "", "error_class": ""}


def main(argv: list[str]) -> int:
    print(json.dumps(run_stage(json.loads(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

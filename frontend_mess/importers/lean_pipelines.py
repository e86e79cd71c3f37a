"""torch-mlir's pass pipelines without its eager print of the whole module.

`torch_mlir.compiler_utils.run_pipeline_with_repro_report`, which every lowering of
torch-mlir's runs through (`fx._module_lowering`, `lower_mlir_module`, the ONNX path), prints
the module before running the pipeline, for a repro file it writes to /tmp should the
pipeline fail. It passes `large_elements_limit` but not `large_resource_limit`, so the weights
(`dense_resource` blobs) are printed in full: 94 MB of text and 0.94 s for resnet18, twice
per import to linalg (about half of the import itself), and a MemoryError for a
644M-parameter model (regnet_y_128gf: fx._masked_cause). frontend-mess keeps no such repro
file (its errors carry the first diagnostic, `--keep-diagnostics` the rest), so within
`lean_pipelines()` the pipelines run as torch-mlir runs them, minus the print: the same
pipeline strings, the same context setting, the same exception type and message shape.
Test: tests/unit/test_torch_importer.py::test_torch_mlirs_pipeline_runner_prints_the_module
(pins the print, and shows the lean runner gives the same module).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def run_pipeline(module, pipeline: str, description: str, enable_ir_printing: bool = False):
    """`run_pipeline_with_repro_report`'s contract (raises `TorchMlirCompilerError` with the
    diagnostics), without printing the module first."""
    from torch_mlir.compiler_utils import TorchMlirCompilerError
    from torch_mlir.passmanager import PassManager

    with module.context as context:
        # torch-mlir #3506: passes can emit errors without signalling failure
        context.emit_error_diagnostics = True
        try:
            manager = PassManager.parse(pipeline)
            if enable_ir_printing:
                context.enable_multithreading(False)
                manager.enable_ir_printing()
            manager.run(module.operation)
        except Exception as exc:  # MLIRError: the diagnostics are its text
            message = f"{description or 'torch-mlir'} failed with the following diagnostics:\n{exc}"
            raise TorchMlirCompilerError(message) from exc


@contextlib.contextmanager
def lean_pipelines() -> Iterator[None]:
    """torch-mlir's lowering functions, while inside, run their pipelines with `run_pipeline`:
    the name is swapped where they look it up (compiler_utils, and fx, which imported it)."""
    import torch_mlir.compiler_utils as compiler_utils
    import torch_mlir.fx as torch_mlir_fx

    holders = (compiler_utils, torch_mlir_fx)
    saved = [holder.run_pipeline_with_repro_report for holder in holders]
    for holder in holders:
        holder.run_pipeline_with_repro_report = run_pipeline
    try:
        yield
    finally:
        for holder, original in zip(holders, saved, strict=True):
            holder.run_pipeline_with_repro_report = original

"""An `nn.Module` -> an ONNX file, for the `onnx` and `onnx-iree` paths: torch.onnx.export with
torch's current exporter (`dynamo`: torch.export + onnxscript, which torch 2.14 recommends and
which needs the `onnxscript` package, locked in pyproject.toml) or the older TorchScript tracer
(`--onnx-exporter torchscript`). Dynamic dims become named ONNX dims on the dynamo exporter's
`dynamic_shapes`, or `dynamic_axes` on TorchScript's.
"""

from __future__ import annotations

from pathlib import Path

from frontend_mess.shapes import DynamicDim
from frontend_mess.support.capture import upstream_output
from frontend_mess.support.errors import ExportError, first_lines
from frontend_mess.support.progress import QUIET, Progress


def _dynamic_axes(count: int, dynamic: list[DynamicDim]) -> dict:
    axes: dict[str, dict[int, str]] = {}
    for entry in dynamic:
        for index in entry.inputs(count):
            axes.setdefault(f"input{index}", {})[entry.dim] = entry.symbol()
    return axes


def export_onnx(
    function,
    path: Path,
    exporter: str = "dynamo",
    dynamic: list[DynamicDim] | None = None,
    name: str = "model",
    progress: Progress = QUIET,
) -> Path:
    """Write `function.module` traced on `function.example_args` to `path` as ONNX."""
    import torch

    args = tuple(function.example_args)
    names = [f"input{i}" for i in range(len(args))]
    with progress.step(f"torch.onnx.export ({exporter}) {name}"), upstream_output():
        try:
            if exporter == "dynamo":
                shapes = None
                if dynamic:
                    from frontend_mess.importers.fx import dynamic_shapes

                    args, shapes = dynamic_shapes(function.module, args, dynamic, progress)
                program = torch.onnx.export(
                    function.module, args, dynamo=True, dynamic_shapes=shapes, input_names=names
                )
                program.save(str(path))
            else:
                torch.onnx.export(
                    function.module,
                    args,
                    str(path),
                    dynamo=False,
                    input_names=names,
                    dynamic_axes=_dynamic_axes(len(args), dynamic or []) or None,
                )
        except Exception as exc:
            raise ExportError(
                f"torch.onnx.export ({exporter}) failed on {name}: {type(exc).__name__}: "
                f"{first_lines(exc, 1)}"
            ) from exc
    return path

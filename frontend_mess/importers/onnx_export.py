"""An `nn.Module` -> an ONNX file, for the `onnx` and `onnx-iree` paths: torch.onnx.export with
torch's current exporter (`dynamo`: torch.export + onnxscript, which torch 2.14 recommends and
which needs the `onnxscript` package, locked in pyproject.toml) or the older TorchScript tracer
(`--onnx-exporter torchscript`). Dynamic dims become named ONNX dims on the dynamo exporter's
`dynamic_shapes`, or `dynamic_axes` on TorchScript's.

Known: torch 2.13+'s dynamo exporter fails on `scalar - integer tensor` (`1.0 - mask`, as in
XLNet) in its type-promotion pass (pytorch #194381, open), and on Swin's window reshape ("Cannot
view a tensor with shape ... and strides"); TorchScript exports both, so the default exporter,
`auto`, falls back to it (as torch.onnx.export's own `fallback=True` once did). Pinned by
tests/unit/test_pipeline.py::test_dynamo_onnx_exporter_scalar_minus_int_tensor (strict xfail)
and test_auto_onnx_exporter_falls_back_to_torchscript.
"""

from __future__ import annotations

import re
from pathlib import Path

from frontend_mess.shapes import DynamicDim
from frontend_mess.support.capture import upstream_output
from frontend_mess.support.errors import ExportError, FrontendError, first_lines
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
    """Write `function.module` traced on `function.example_args` to `path` as ONNX. `auto`
    (the default) is `dynamo`, and TorchScript where dynamo fails: the choice is noted."""
    if exporter == "auto":
        try:
            return export_onnx(function, path, "dynamo", dynamic, name, progress)
        except ExportError as dynamo_error:
            if isinstance(dynamo_error.__cause__, FrontendError):
                raise dynamo_error.__cause__ from None  # the user's options, not the exporter
            try:
                export_onnx(function, path, "torchscript", dynamic, name, progress)
            except ExportError as exc:
                raise dynamo_error from exc
            progress.note(
                f"onnx exporter: torchscript, as dynamo failed on {name} "
                f"({str(dynamo_error).partition(': ')[2]}); --onnx-exporter dynamo keeps to it"
            )
            return path
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
            cause = root_cause(exc)
            raise ExportError(
                f"torch.onnx.export ({exporter}) failed on {name}: {type(cause).__name__}: "
                f"{first_lines(_ANSI.sub('', str(cause)), 1)}"
            ) from exc
    return path


# The dynamo exporter colours its step banners ("[96mThis is step 2/3[0m"); a one-line error
# keeps the words.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def root_cause(exc: BaseException) -> BaseException:
    """The innermost `__cause__`: the dynamo exporter wraps the real error (an op it cannot
    convert) in a ConversionError whose first line only says which of its steps failed."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc

"""A repro directory: the reduced model, the one command that shows the failure, the tool
versions and flags, the first error, and the text of an upstream issue, ready to paste.

    DIR/model.onnx     the reduced graph (its weights inline: a few nodes' worth)
    DIR/model.mlir     or the reduced MLIR function (write_mlir_repro), in generic form
    DIR/repro.json     what failed, how, the counts, versions, flags and the command
    DIR/ISSUE.md       the upstream issue's text (title, steps, expected, actual, versions)
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from frontend_mess.support.atomic import write_atomically
from frontend_mess.support.errors import FrontendError

#: who owns a failure, by the stage it is in and the path's importer
_UPSTREAM = {
    ("import", "onnx"): "torch-mlir (its ONNX importer, torch_mlir.extras.onnx_importer)",
    ("import", "onnx-iree"): "IREE (iree-import-onnx)",
    ("lower", "onnx"): "torch-mlir (torch-onnx-to-torch-backend-pipeline)",
    ("lower", "onnx-iree"): "torch-mlir (the ONNX to torch lowering IREE runs)",
}


def upstream_of(stage: str, path: str, error: str = "", error_class: str = "") -> str:
    if "ONNXRuntimeError" in error:  # the reference itself refused: not the compiler's bug
        return "onnxruntime, the reference (it rejects the model; check the model first)"
    # an ONNX or torch op left unconverted is torch-mlir's conversion, run inside iree-compile
    if "at input conversion" in error or error_class.startswith(
        ("onnx.", "torch.")
    ):  # torch-mlir's torch-to-linalg, run by iree-compile
        return "torch-mlir (the torch dialect's conversion to linalg, run inside iree-compile)"
    if stage in ("compile", "run", "compare"):
        return (
            "IREE (iree-compile / the IREE runtime)"
            if stage != "compare"
            else ("IREE or torch-mlir (a numerical mismatch: compare the lowered IR)")
        )
    return _UPSTREAM.get((stage, path), "torch-mlir or IREE")


#: statuses whose failure `compile model.onnx` shows by itself (no reference is needed)
_COMPILE_SHOWS = ("import-fail", "lower-fail", "compile-fail")


def command(cell: dict, status: str = "") -> list[str]:
    """The one command that shows the failure. A node case judged by its own outputs (a
    mismatch, a failed run) is shown by its matrix cell; anything else by the model file."""
    if cell.get("suite") == "onnx-node":
        if status in _COMPILE_SHOWS:
            return ["frontend-mess", "compile", "model.onnx", "--via", cell["path"],
                    "--target", cell["target"], "-o", "model.vmfb"]  # fmt: skip
        return ["frontend-mess", "matrix", "--suite", "onnx-node", "--match", cell["source"],
                "--path", cell["path"], "--target", cell["target"]]  # fmt: skip
    return [
        "frontend-mess",
        "verify",
        "model.onnx",
        "--via",
        cell["path"],
        "--target",
        cell["target"],
    ]


def write_repro(directory: Path, reduced, context: dict) -> Path:
    """Write the repro directory for a `run.Reduced` (each file atomically)."""
    import onnx

    cell, record = reduced.failure.cell, reduced.record
    data = reduced.model.SerializeToString()
    ops = [n.op_type for n in reduced.model.graph.node]
    failure = reduced.failure.record
    info = {
        "original": {**cell, "ops": reduced.original_ops},
        "failure": {k: failure.get(k, "") for k in ("status", "stage", "error_class", "error")},
        "reduced": {"ops": reduced.ops, "op_types": ops, "error": record.get("error", "")},
        "command": shlex.join(command(cell, failure.get("status", ""))),
        "candidates_run": reduced.candidates,
        "seconds": reduced.seconds,
        **context,
    }
    # every file's content first, so that a failure leaves no partial directory behind
    files = {
        "model.onnx": data,
        "repro.json": (json.dumps(info, indent=1) + "\n").encode(),
        "ISSUE.md": _issue_text(reduced, info, onnx.printer.to_text(reduced.model.graph)).encode(),
        **reduced.data,
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrontendError(f"cannot make {directory}: {exc.strerror}") from exc
    for name, content in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / name, lambda handle, content=content: handle.write(content))
    return directory


def _issue_text(reduced, info: dict, graph_text: str) -> str:
    cell, failure = reduced.failure.cell, info["failure"]
    versions = "\n".join(f"- {k} {v}" for k, v in info.get("versions", {}).items())
    flags = " ".join(info.get("flags", []))
    stage = failure["stage"] or "?"
    title_ops = ", ".join(dict.fromkeys(info["reduced"]["op_types"]))
    if cell.get("suite") == "onnx-node":
        import onnx

        bound = reduced.failure.record.get("specialized") or []
        bound_text = (
            f"; its input{'s' if len(bound) > 1 else ''} {', '.join(bound)} bound to the case's "
            f"values, as the compiler needs {'them' if len(bound) > 1 else 'it'} constant"
            if bound
            else ""
        )
        nodes = f"{reduced.ops} node{'s' if reduced.ops != 1 else ''}"
        what = (
            f"ONNX's conformance case {cell['source']} (onnx {onnx.__version__}, "
            f"`onnx.backend.test.case.node`; {nodes}{bound_text}) fails at the {stage} stage on "
            f"{cell['target']} via {cell['path']}. `test_data_set_0/` holds its inputs and "
            f"expected outputs (TensorProto files, as onnx's backend tests keep them)."
        )
        expected = "The graph imports, compiles and runs, and its outputs match the case's own."
    else:
        what = (
            f"A {reduced.ops}-node ONNX graph (reduced from {cell['source']}, "
            f"{reduced.original_ops} nodes, by `frontend-mess reduce`) fails at the {stage} "
            f"stage on {cell['target']} via {cell['path']}."
        )
        expected = "The graph imports, compiles and runs, and its outputs match onnxruntime's."
    return f"""# {failure["status"]} at {stage}: {failure["error_class"]} ({title_ops})

Upstream: {upstream_of(stage, cell["path"], failure["error"], failure["error_class"])}

{what}

## Reproduce

```sh
{info["command"]}
```

The graph (`model.onnx`, printed by `onnx.printer`):

```
{graph_text.strip()}
```

iree-compile flags: `{flags}` (host ISA {info.get("host_isa", "?")})

## Expected

{expected}

## Actual

```
{info["reduced"]["error"] or failure["error"]}
```

## Versions

{versions}
"""


#: torch-mlir's pipeline from a torch-backend module to each kind (its `torch-mlir-opt` name)
BACKEND_PIPELINES = {
    "linalg": "torch-backend-to-linalg-on-tensors-backend-pipeline",
    "tosa": "torch-backend-to-tosa-backend-pipeline",
    "stablehlo": "torch-backend-to-stablehlo-backend-pipeline",
}


def mlir_command(request: dict) -> list[str]:
    """The stage, run on DIR/model.mlir: it prints the verdict the reduction kept."""
    stage = {k: v for k, v in request.items() if v is not None}
    return [
        "python",
        "-m",
        "frontend_mess.reduce.mlir_stage",
        json.dumps({**stage, "file": "model.mlir"}),
    ]


def _mlir_steps(request: dict, flags: list[str]) -> str:
    if request["stage"] == "compile":
        input_type = request.get("input_type")
        typed = [f"--iree-input-type={input_type}"] if input_type else []
        return shlex.join(["iree-compile", "model.mlir", *typed, *flags, "-o", "model.vmfb"])
    return shlex.join(["torch-mlir-opt", f"--{BACKEND_PIPELINES[request['to']]}", "model.mlir"])


def write_mlir_repro(directory: Path, reduced, context: dict) -> Path:
    """Write the repro directory for a `mlir_run.ReducedMlir` (each file atomically)."""
    cell, failure, request = reduced.cell, reduced.failure, reduced.request
    info = {
        "original": {**cell, "ops": reduced.original_ops},
        "stage": request,
        "failure": {k: failure.get(k, "") for k in ("status", "stage", "error_class", "error")},
        "reduced": {
            "ops": reduced.ops,
            "op_names": reduced.op_names,
            "error": reduced.record.get("error", ""),
        },
        "command": shlex.join(mlir_command(request)),
        "candidates_run": reduced.candidates,
        "seconds": reduced.seconds,
        **context,
    }
    files = {
        "model.mlir": reduced.text.encode(),
        "repro.json": (json.dumps(info, indent=1) + "\n").encode(),
        "ISSUE.md": _mlir_issue_text(reduced, info).encode(),
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FrontendError(f"cannot make {directory}: {exc.strerror}") from exc
    for name, content in files.items():
        write_atomically(directory / name, lambda handle, content=content: handle.write(content))
    return directory


def _mlir_issue_text(reduced, info: dict) -> str:
    cell, failure, request = reduced.cell, info["failure"], reduced.request
    versions = "\n".join(f"- {k} {v}" for k, v in info.get("versions", {}).items())
    stage = failure["stage"] or request["stage"]
    if request["stage"] == "lower":
        upstream = f"torch-mlir (`{BACKEND_PIPELINES[request['to']]}`)"
        what = f"torch-mlir's lowering of a torch-backend module to {request['to']}"
    elif request.get("input_type") in ("torch", "onnx"):  # converted inside iree-compile
        upstream = upstream_of(stage, cell["path"], failure["error"], failure["error_class"])
        what = f"iree-compile for {cell['target']}"
    else:  # torch-mlir made the IR, IREE refuses it
        upstream = (
            f"IREE (iree-compile, its {request.get('input_type') or 'linalg'} input), or "
            f"torch-mlir if the op it made is outside the dialect's specification"
        )
        what = f"iree-compile for {cell['target']}"
    ops = ", ".join(dict.fromkeys(n for n in info["reduced"]["op_names"]))
    flags = [f for f in info.get("flags", []) if request["stage"] == "compile"]
    return f"""# {failure["status"]} at {stage}: {failure["error_class"]} ({ops})

Upstream: {upstream}

A function of {reduced.ops} ops (reduced from {cell["source"]} via {cell["path"]}, whose
{request["stage"]} stage takes {reduced.original_ops} ops, by `frontend-mess reduce`) fails in
{what}.

## Reproduce

```sh
{_mlir_steps(request, flags)}
```

(the stage's flags; frontend-mess also adds its signature annotations and, for some inputs,
flags of their own), or exactly as the reduction ran it, with frontend-mess installed (it
prints the verdict):

```sh
{info["command"]}
```

The function (`model.mlir`, in generic form, which IREE's parser and torch-mlir's read alike):

```mlir
{_elided(reduced.text)}
```

Host ISA {info.get("host_isa", "?")}.

## Expected

The function {"lowers" if request["stage"] == "lower" else "compiles"}, or is refused by a \
diagnostic that says what is unsupported.

## Actual

```
{info["reduced"]["error"] or failure["error"]}
```

## Versions

{versions}
"""


def _elided(text: str, limit: int = 120) -> str:
    """The module's text for the issue: its long lines (a weight's hex) cut short."""
    lines = [
        line if len(line) <= 4 * limit else line[:limit] + " ..." for line in text.splitlines()
    ]
    return "\n".join(lines[:200]) + ("\n..." if len(lines) > 200 else "")

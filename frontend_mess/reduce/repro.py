"""A repro directory: the reduced model, the one command that shows the failure, the tool
versions and flags, the first error, and the text of an upstream issue, ready to paste.

    DIR/model.onnx     the reduced graph (its weights inline: a few nodes' worth)
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

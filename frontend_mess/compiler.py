"""MLIR -> IREE `.vmfb`: input-dialect detection, the target's flags, and failures reported
by stage (parse, input conversion, codegen) with the first error and the op it names."""

from __future__ import annotations

import io
import re
from pathlib import Path

from .artifact import Artifact
from .capture import upstream_output
from .errors import FrontendError
from .progress import QUIET, Progress
from .targets import TargetSpec, input_flags

# Op-name prefixes that give the input dialect away, checked in this order.
_DIALECT_SIGNS = (
    ("onnx", re.compile(r'torch\.operator\s*"onnx\.|name = "onnx\.')),
    ("torch", re.compile(r"\btorch\.(aten|vtensor|prim|constant)\b")),
    ("stablehlo", re.compile(r"\bstablehlo\.")),
    ("tosa", re.compile(r"\btosa\.")),
)


def detect_input_type(text: str) -> str:
    """The `--iree-input-type` an MLIR module needs, from the ops it contains."""
    body = text.split("{-#", 1)[0]  # skip the resource blobs, which can be most of the text
    for input_type, sign in _DIALECT_SIGNS:
        if sign.search(body):
            return input_type
    return "none"


def classify_stage(diagnostics: str) -> str:
    """Which stage of iree-compile failed, from its first error."""
    first = next((line for line in diagnostics.splitlines() if "error:" in line), "")
    if re.search(
        r"custom op '.*' expected|expected .* but got|unknown (op|dialect)|"
        r"bytecode version|failed to parse|Dialect `.*' not found",
        first,
    ):
        return "parse"
    if re.search(
        r"failed to legalize operation '(torch|tosa|stablehlo|onnx)\.|"
        r"torch\.operator|unsupported by backend contract|"
        r"'(tosa|stablehlo|torch)\.\w+' op ",  # input-dialect validation, e.g. TOSA profiles
        first,
    ):
        return "input conversion"
    return "codegen"


def first_error(diagnostics: str) -> str:
    """`error: ...` plus the op it points at (the source line IREE prints under it)."""
    lines = diagnostics.splitlines()
    for index, line in enumerate(lines):
        if "error:" in line:
            message = line[line.index("error:") :].strip()
            op = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if op and "error:" not in op and not op.startswith(("^", "note:")):
                message += f" [at: {op[:160]}]"
            return message
    return diagnostics.strip().splitlines()[0] if diagnostics.strip() else "unknown failure"


_PUBLIC_FUNC = re.compile(r"^\s*func\.func @[^\n]*", re.MULTILINE)


def has_f64_interface(mlir: str | bytes) -> bool:
    """Whether a public function of this MLIR text takes or returns f64 tensors (ONNX
    importers print each signature on its `func.func` line); bytecode: no."""
    if not isinstance(mlir, str):
        return False
    return any(
        "f64" in line.split("attributes", 1)[0]
        for line in _PUBLIC_FUNC.findall(mlir)
        if "private" not in line.split("@", 1)[0]
    )


SIGNATURE_KEY = "frontend_mess.signature"
_VTENSOR = re.compile(r"!torch\.vtensor<\[([^\]]*)\],([a-zA-Z0-9]+)>")  # f8E4M3FN: capitals


def _tensor_text(type_text: str) -> str:
    """`!torch.vtensor<[8,16],si64>` or `tensor<8x16xi64>` -> `tensor<8x16xi64>`."""
    match = _VTENSOR.fullmatch(type_text)
    if match:
        dims = "".join(
            f"{'?' if d.strip() == '-1' else d.strip()}x" for d in match[1].split(",") if d.strip()
        )
        element = {"si64": "i64", "si32": "i32", "si16": "i16", "si8": "i8"}.get(match[2], match[2])
        return f"tensor<{dims}{element}>"
    return type_text


def annotate_signatures(mlir: str | bytes) -> str | bytes:
    """Record each public function's tensor signature in its `iree.reflection`, which IREE
    carries into the `.vmfb`. IREE writes its own `iree.abi.declaration` only for some input
    dialects (not for torch), and `frontend-mess run` checks inputs against it. Input that
    IREE's MLIR cannot parse is returned unchanged, for iree-compile to report."""
    from iree.compiler import ir

    try:
        context = ir.Context()
        context.allow_unregistered_dialects = True
        module = ir.Module.parse(mlir, context)
    except Exception:
        return mlir
    with context:
        for op in module.body.operations:
            if op.operation.name != "func.func" or "sym_visibility" in op.attributes:
                continue
            function_type = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
            inputs = ", ".join(_tensor_text(str(t)) for t in function_type.inputs)
            outputs = ", ".join(_tensor_text(str(t)) for t in function_type.results)
            name = ir.StringAttr(op.attributes["sym_name"]).value
            entries = {SIGNATURE_KEY: ir.StringAttr.get(f"func @{name}({inputs}) -> ({outputs})")}
            if "iree.reflection" in op.attributes:
                existing = ir.DictAttr(op.attributes["iree.reflection"])
                entries = {
                    existing[i].name: existing[i].attr for i in range(len(existing))
                } | entries
            op.attributes["iree.reflection"] = ir.DictAttr.get(entries)
    if isinstance(mlir, str):
        # Text stays text: IREE's MLIR writes an empty dense_resource blob (a tensor<0xi64>
        # ONNX constant) to bytecode that it then refuses to read ("expected alignment to be
        # a power-of-two"), which broke ALBERT through ONNX. notes/iree.md.
        return str(module)
    buffer = io.BytesIO()
    module.operation.write_bytecode(buffer)
    return buffer.getvalue()


def compile_text(
    mlir: str | bytes,
    spec: TargetSpec,
    *,
    input_type: str | None = None,
    name: str = "model",
    keep_diagnostics: str | Path | None = None,
    progress: Progress = QUIET,
) -> Artifact:
    """Compile MLIR text or bytecode for `spec`; returns the artifact in memory."""
    from iree.compiler.tools import CompilerToolError, compile_str

    if input_type is None:
        input_type = detect_input_type(mlir if isinstance(mlir, str) else "")
    flags = [*spec.flags, *input_flags(input_type, spec.target, has_f64_interface(mlir))]
    if keep_diagnostics:
        flags.append("--mlir-print-ir-after-failure")
    if spec.substituted:
        progress.note(
            f"IREE 3.13 has no target description for {spec.substituted}: compiling for "
            f"{spec.compiled_for}, whose PTX the driver JIT-compiles on the newer GPU "
            f"(notes/iree.md)"
        )
    with (
        progress.step(f"compiling {name} for {spec.target} (input: {input_type})"),
        upstream_output(),
    ):
        try:
            data = compile_str(annotate_signatures(mlir), extra_args=flags)
        except CompilerToolError as exc:
            diagnostics = _diagnostics(str(exc))
            where = _keep(diagnostics, mlir, keep_diagnostics)
            raise FrontendError(
                f"IREE failed at {classify_stage(diagnostics)} for {name} on {spec.target}: "
                f"{first_error(diagnostics)}{where}"
            ) from None
    return Artifact(data=data, target=spec.target, flags=tuple(flags), input_type=input_type)


def _diagnostics(message: str) -> str:
    """The compiler's stderr, from the text of iree.compiler's CompilerToolError."""
    body = message.split("Diagnostics:\n", 1)[-1]
    return body.split("\n\nInvoked with:", 1)[0]


def _keep(diagnostics: str, mlir: str | bytes, directory: str | Path | None) -> str:
    if not directory:
        return " (--keep-diagnostics DIR keeps the full diagnostics and the failing IR)"
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "diagnostics.txt").write_text(diagnostics)
    suffix = ".mlir" if isinstance(mlir, str) else ".mlirbc"
    (directory / f"input{suffix}").write_bytes(mlir.encode() if isinstance(mlir, str) else mlir)
    return f" (full diagnostics and IR in {directory})"

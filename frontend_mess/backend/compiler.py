"""MLIR -> IREE `.vmfb`: input-dialect detection, the target's flags, and failures reported
by stage (parse, input conversion, codegen) with the first error and the op it names."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from frontend_mess.backend.artifact import Artifact
from frontend_mess.backend.encoder import RECORDED_FILE, compile_flags, recorded
from frontend_mess.backend.integrity import is_module_bytes
from frontend_mess.backend.signature import annotate
from frontend_mess.backend.targets import (
    DATA_TILING_ERRORS,
    DATA_TILING_RETRY_FLAGS,
    TargetSpec,
    input_flags,
)
from frontend_mess.support.capture import upstream_output
from frontend_mess.support.errors import CompileError, FrontendError
from frontend_mess.support.progress import QUIET, Progress

# Op-name prefixes that give the input dialect away, checked in this order.
_DIALECT_SIGNS = (
    ("onnx", re.compile(r'torch\.operator\s*"onnx\.|name = "onnx\.')),
    ("torch", re.compile(r"\btorch\.(aten|vtensor|prim|constant)\b")),
    ("tm_tensor", re.compile(r"\btm_tensor\.")),
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


def _flags(spec: TargetSpec, input_type: str, signatures: dict) -> list[str]:
    """The target's flags, then what the module's interface types need (targets.input_flags)."""
    f64 = any(s.has_f64 for s in signatures.values())
    low = any(s.has_low_precision for s in signatures.values())
    return [*spec.flags, *input_flags(input_type, spec.target, f64, low)]


def _data_tiling_on(flags: list[str]) -> bool:
    """Whether the last data-tiling flag (later flags win) turns it on."""
    given = [f for f in flags if f.split("=")[0] == "--iree-opt-data-tiling"]
    return bool(given) and given[-1] in ("--iree-opt-data-tiling", "--iree-opt-data-tiling=true")


def _compile_str(annotated, flags: list[str], extra: list[str], spec, progress) -> bytes:
    """iree-compile, once more without data tiling where its CPU codegen failed in a way
    data tiling causes (targets.DATA_TILING_ERRORS: the large vectors of iree #24876, a tiled
    load); `flags` then gains the retry's flags, so the artifact records what compiled it."""
    from iree.compiler.tools import CompilerToolError, compile_str

    try:
        return compile_str(annotated, extra_args=[*flags, *extra])
    except CompilerToolError as exc:
        retry = spec.target == "llvm-cpu" and _data_tiling_on(flags)
        known = next((m for m in DATA_TILING_ERRORS if m in str(exc)), None)
        if not (retry and known):
            raise
    progress.note(
        f"IREE's CPU codegen {DATA_TILING_ERRORS[known]}: compiling again without data tiling"
    )
    flags += DATA_TILING_RETRY_FLAGS
    return compile_str(annotated, extra_args=[*flags, *extra])


def compile_text(
    mlir: str | bytes,
    spec: TargetSpec,
    *,
    input_type: str | None = None,
    name: str = "model",
    roles: dict[str, list[str]] | None = None,
    keep_diagnostics: str | Path | None = None,
    pack_parameters: bool = False,
    progress: Progress = QUIET,
) -> Artifact:
    """Compile MLIR text or bytecode for `spec`; returns the artifact in memory. `roles` says,
    per function, which outputs are the model's and which are mutated inputs (signature.py).
    `pack_parameters` (a module whose weights are parameters, on llvm-cpu) splits their
    packing out into an encoder module (backend/encoder.py), kept as `artifact.encoder`."""
    from iree.compiler.tools import CompilerToolError

    if input_type is None:
        input_type = detect_input_type(mlir if isinstance(mlir, str) else "")
    annotated, signatures = annotate(mlir, roles)
    flags = _flags(spec, input_type, signatures)
    if keep_diagnostics:
        flags.append("--mlir-print-ir-after-failure")
    if spec.substituted:
        progress.note(
            f"IREE 3.13 has no target description for {spec.substituted}: compiling for "
            f"{spec.compiled_for}, whose PTX the driver JIT-compiles on the newer GPU "
            f"(notes/iree.md)"
        )
    scratch = tempfile.TemporaryDirectory(prefix="frontend-mess-compile.")
    encoder_file = Path(scratch.name) / RECORDED_FILE
    extra = compile_flags(encoder_file) if pack_parameters and spec.target == "llvm-cpu" else []
    with (
        scratch,
        progress.step(f"compiling {name} for {spec.target} (input: {input_type})"),
        upstream_output(),
    ):
        try:
            data = _compile_str(annotated, flags, extra, spec, progress)
            encoder = encoder_file.read_bytes() if encoder_file.is_file() else None
        except CompilerToolError as exc:
            diagnostics = _diagnostics(str(exc))
            unknown = re.search(r"Unknown command line argument '([^']+)'", diagnostics)
            if unknown:  # a flag the user passed (--iree-flag), not a compiler failure
                raise FrontendError(
                    f"iree-compile {_iree_version()} has no flag {unknown[1]} (given with "
                    f"--iree-flag; `iree-compile --help` lists them)"
                ) from exc
            cpu = re.search(r"Unknown CPU for target architecture (\S+?)\.?$", diagnostics, re.M)
            if cpu:
                raise FrontendError(
                    f"LLVM knows no CPU named {spec.compiled_for!r} for {cpu[1]} (--cpu): use "
                    f"host, generic, or a name such as skylake-avx512 or znver4"
                ) from exc
            where = _keep(diagnostics, mlir, keep_diagnostics)
            phase = classify_stage(diagnostics)
            crashed = _crash(diagnostics)
            what = f"iree-compile crashed (an IREE bug): {crashed}" if crashed else ""
            raise CompileError(
                f"IREE failed at {phase} for {name} on {spec.target}: "
                f"{what or first_error(diagnostics)}{where}",
                phase=phase,
                flags=tuple(flags),
                diagnostics=diagnostics,
            ) from exc
    if not is_module_bytes(data):  # `--iree-flag=--version` or `--help` prints, exit 0
        raise FrontendError(
            f"iree-compile wrote no IREE module for {name} ({len(data)} bytes starting "
            f"{data[:40]!r}): an --iree-flag such as --help or --version makes it print instead"
        )
    return Artifact(
        data=data,
        target=spec.target,
        flags=(*flags, *recorded(extra)),
        input_type=input_type,
        signatures=signatures,
        encoder=encoder or None,
    )


def executable_sources(
    mlir: str | bytes,
    spec: TargetSpec,
    *,
    input_type: str,
    roles: dict | None = None,
    pack_parameters: bool = False,
) -> str:
    """The module as iree-compile has it just before codegen (`--compile-to=executable-sources`):
    the dispatches, their target and encodings, as MLIR text. It is the IR that flags such as
    the CPU or data tiling change, which `store diff` shows. Not made during a compile: the
    flag that dumps these files there also writes their paths into the `.vmfb`."""
    from iree.compiler.tools import CompilerToolError, compile_str

    annotated, signatures = annotate(mlir, roles)
    flags = _flags(spec, input_type, signatures)
    try:
        with upstream_output(), tempfile.TemporaryDirectory() as scratch:
            if pack_parameters and spec.target == "llvm-cpu":  # as compile_text compiles it
                flags += compile_flags(Path(scratch) / RECORDED_FILE)
            out = compile_str(annotated, extra_args=[*flags, "--compile-to=executable-sources"])
    except CompilerToolError as exc:
        raise CompileError(
            f"IREE failed before codegen: {first_error(_diagnostics(str(exc)))}",
            phase=classify_stage(_diagnostics(str(exc))),
            flags=tuple(flags),
            diagnostics=_diagnostics(str(exc)),
        ) from exc
    return out.decode(errors="replace") if isinstance(out, bytes) else out


def _crash(diagnostics: str) -> str:
    """For a crash of iree-compile (its "Please report issues ... crash backtrace" banner and
    a stack dump), the line that says what failed (an assertion, a signal), else ''."""
    if "Please report issues" not in diagnostics and "Stack dump:" not in diagnostics:
        return ""
    for line in diagnostics.splitlines():
        text = line.strip()
        if "Assertion" in text or text.startswith(("LLVM ERROR", "error:")):
            return text[:300]
    return "no message before the stack dump"


def _iree_version() -> str:
    from frontend_mess.support.versions import tool_versions

    return tool_versions().get("iree-base-compiler", "")


def _diagnostics(message: str) -> str:
    """The compiler's stderr, from the text of iree.compiler's CompilerToolError."""
    body = message.split("Diagnostics:\n", 1)[-1]
    return body.split("\n\nInvoked with:", 1)[0]


def _keep(diagnostics: str, mlir: str | bytes, directory: str | Path | None) -> str:
    if not directory:
        return " (--keep-diagnostics DIR keeps the full diagnostics and the failing IR)"
    from frontend_mess.support.atomic import write_atomically

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f" (--keep-diagnostics {directory} could not be made: {exc.strerror})"
    data = mlir.encode() if isinstance(mlir, str) else mlir
    suffix = ".mlir" if isinstance(mlir, str) else ".mlirbc"
    write_atomically(directory / "diagnostics.txt", lambda h: h.write(diagnostics.encode()))
    write_atomically(directory / f"input{suffix}", lambda h: h.write(data))
    return f" (full diagnostics and IR in {directory})"

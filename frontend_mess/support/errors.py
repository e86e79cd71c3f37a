"""The one exception type a user is meant to see, and the exit codes that tell failures apart.

Anything raised as `FrontendError` is a problem with the user's input (exit `EXIT_USAGE`) or a
pipeline stage that failed on valid input (`StageError`, exit `EXIT_FAILED`); the CLI prints
its message as one line. A `StageError` names its stage (`export`, `import`, `lower`,
`compile`, `run`), so the matrix and API users read the stage from the exception, never from
the message text. Errors are raised `from` their cause, so API users keep the traceback.
Anything else is unanticipated: the CLI prints one line and exits with `EXIT_INTERNAL`, and
FRONTEND_MESS_VERBOSE=1 shows the traceback.
"""

from __future__ import annotations

EXIT_OK = 0
#: `verify`: everything ran, and an output differs past the tolerance.
EXIT_MISMATCH = 1
#: a bad command line or bad input (unknown model, malformed shape, unreadable file).
EXIT_USAGE = 2
#: valid input that a stage could not get through (export, import, lower, compile, run).
EXIT_FAILED = 3
#: a failure nobody anticipated: one line by default, the traceback with FRONTEND_MESS_VERBOSE=1.
EXIT_INTERNAL = 4

#: the stages of the pipeline, in order (frontend_mess/pipeline.py).
STAGES = ("load", "export", "import", "lower", "compile", "assemble", "run", "compare")


class FrontendError(Exception):
    """A user-facing failure: what was wrong, with which input, and what to do about it."""

    exit_code = EXIT_USAGE
    stage: str | None = None

    @property
    def message(self) -> str:
        """The message alone (a StageError's str() adds its stage: `[compile] ...`)."""
        return Exception.__str__(self)


class StageError(FrontendError):
    """A pipeline stage failed on input that was itself well-formed."""

    exit_code = EXIT_FAILED
    stage = "run"

    def __str__(self) -> str:
        return f"[{self.stage}] {self.message}"


class ExportError(StageError):
    """torch.export, iree-turbine's aot.export or torch.onnx.export could not trace the model."""

    stage = "export"


class ImporterError(StageError):
    """An importer (torch-mlir's or IREE's FX or ONNX importer) could not build MLIR."""

    stage = "import"


class LoweringError(StageError):
    """torch-mlir's pipelines could not lower the imported module to the asked-for dialect."""

    stage = "lower"


class CompileError(StageError):
    """iree-compile failed. Like IREE's own `CompilerToolError`, it keeps the flags it ran
    with and the full diagnostics, and names the compiler phase that failed."""

    stage = "compile"

    def __init__(
        self, message: str, *, phase: str = "", flags: tuple = (), diagnostics: str = ""
    ) -> None:
        super().__init__(message)
        self.phase, self.flags, self.diagnostics = phase, tuple(flags), diagnostics


class AssembleError(CompileError):
    """ptxas rejected the PTX of a CUDA module for its GPU (backend/ptx.py): the driver would
    too, so the module does not run there though iree-compile made it."""

    stage = "assemble"


class RunError(StageError):
    """IREE's runtime failed to load or run the compiled module."""

    stage = "run"


def first_lines(text: object, limit: int = 2) -> str:
    """The first `limit` non-empty lines of an upstream error, joined on one line.

    Upstream tools (torch.export, MLIR pass pipelines) print pages; the first lines name the
    problem, the rest is context a user can get by rerunning the tool directly.
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return " | ".join(lines[:limit]) if lines else type(text).__name__

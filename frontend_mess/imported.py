"""`ImportedModel`: what an import returns, modelled on iree-turbine's `aot.export` result: an
object you can print, save and inspect rather than a string you must re-parse."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from frontend_mess.defaults import DEFAULT_CPU, DEFAULT_CUDA_ARCH, DEFAULT_TARGET
from frontend_mess.support.atomic import write_atomically
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

BYTECODE_SUFFIX = ".mlirbc"


@dataclass
class ImportedModel:
    source: str
    kind: str
    #: torch_mlir `ir.Module`, or None for the `fx` kind (which is not MLIR).
    mlir_module: object | None = None
    #: function name -> exported program (None for ONNX); kept for `fx` output and verification.
    programs: dict = field(default_factory=dict, repr=False)
    #: function name -> the example inputs it was traced with.
    example_args: dict = field(default_factory=dict, repr=False)
    #: choices made for the user (task, attention, ONNX importer, opset upgrade).
    choices: dict = field(default_factory=dict)
    #: the pipeline's loaded source (pipeline.Loaded), kept so the module can be compiled and
    #: verified against the model it came from.
    loaded: object | None = field(default=None, repr=False)

    def compile(
        self,
        target: str = DEFAULT_TARGET,
        *,
        cpu: str = DEFAULT_CPU,
        cuda_arch: str = DEFAULT_CUDA_ARCH,
        iree_flags: tuple[str, ...] = (),
        progress: Progress = QUIET,
    ):
        """Compile with IREE (-> `Artifact`): this module itself where IREE takes its dialect
        (linalg, tosa, stablehlo, ONNX raw), else (fx, raw, torch) the default fx-torch path
        from the same exported programs."""
        from frontend_mess.backend.targets import target_spec
        from frontend_mess.pipeline import compile_input, imported_for_iree

        spec = target_spec(target, cpu=cpu, cuda_arch=cuda_arch, extra_flags=tuple(iree_flags))
        iree_input = imported_for_iree(self, progress)
        return compile_input(iree_input, spec, name=self.source, progress=progress)

    def verify(self, target: str = DEFAULT_TARGET, **options):
        """Compile, run on fresh random inputs and compare with the framework
        (-> `VerifyReport`); `options` as `frontend_mess.verify` takes them."""
        from frontend_mess.verify import verify_artifact

        if self.loaded is None:
            raise FrontendError("this module was not imported by frontend-mess: nothing to verify")
        artifact = self.compile(target)
        return verify_artifact(self.loaded, artifact, **options)

    @property
    def text(self) -> str:
        """The module as MLIR assembly (or the FX graph for the `fx` kind)."""
        if self.mlir_module is None:
            return "\n".join(
                f"# function {name}\n{program.graph_module.print_readable(print_output=False)}"
                for name, program in self.programs.items()
            )
        return str(self.mlir_module)

    def save(self, path: str | Path) -> Path:
        """Write text, or MLIR bytecode when `path` ends in `.mlirbc`; atomically."""
        path = Path(path)
        if path.suffix == BYTECODE_SUFFIX:
            if self.mlir_module is None:
                raise FrontendError(
                    f"cannot write {path}: the {self.kind!r} output is not MLIR; "
                    f"use a .txt or .py file name"
                )
            return write_atomically(path, self.mlir_module.operation.write_bytecode)
        text = self.text.encode()
        return write_atomically(path, lambda handle: handle.write(text))

    def stats(self) -> Counter[str]:
        """Op histogram: MLIR op names, or FX call targets for the `fx` kind."""
        counts: Counter[str] = Counter()
        if self.mlir_module is None:
            for program in self.programs.values():
                for node in program.graph.nodes:
                    if node.op == "call_function":
                        counts[str(node.target)] += 1
            return counts
        from torch_mlir.ir import WalkResult

        def count(op) -> WalkResult:
            counts[op.name] += 1
            return WalkResult.ADVANCE

        self.mlir_module.operation.walk(count)
        return counts

    def format_stats(self) -> str:
        """The histogram as aligned `count  op` lines, most frequent first."""
        counts = self.stats()
        width = len(str(max(counts.values(), default=0)))
        ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        lines = [f"{n:>{width}}  {op}" for op, n in ordered]
        return "\n".join(lines) + "\n"

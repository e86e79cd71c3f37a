"""`ImportedModel`: what an import returns, modelled on iree-turbine's `aot.export` result: an
object you can print, save and inspect rather than a string you must re-parse."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_atomically
from .errors import FrontendError

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

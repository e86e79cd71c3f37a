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
    #: the exported program; kept so that `fx` output and later verification can use it.
    program: object | None = field(default=None, repr=False)
    example_args: tuple = field(default=(), repr=False)

    @property
    def text(self) -> str:
        """The module as MLIR assembly (or the FX graph for the `fx` kind)."""
        if self.mlir_module is None:
            return self.program.graph_module.print_readable(print_output=False)
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
            for node in self.program.graph.nodes:
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

"""Characterize a model's linalg workload with MLIR's own Python bindings (torch-mlir's):
named-op kinds, then `linalg-generalize-named-ops` + `canonicalize`, then per `linalg.generic`
its loop structure (iterator types, indexing maps), operand types, body ops, work and traffic.

Counting rules (also in notes/analysis.md):
- iteration domain: each loop's size is read from an operand dimension that the loop indexes
  directly (a map result that is exactly `dN`); total iterations are their product.
- MACs: for an op with at least one reduction loop, iterations x the number of multiply-add
  pairs in the body (min of mul and add counts); elementwise ops have none. This is what
  fvcore and ptflops count for convolutions and linear layers.
- FLOPs: iterations x arithmetic ops in the body (`arith.*f`/`arith.*i` math, `math.*`;
  comparisons, selects, casts and constants are not counted), so a MAC is 2 FLOPs.
- bytes: every operand (inputs and inits) read once, every result written once, at its
  static size; arithmetic intensity is FLOPs / (read + written).
Dynamic dimensions make an op's counts unknown (`null` in JSON); they are left out of totals.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from frontend_mess.support.mlir_types import TensorInfo, scalar_info, tensor_info

SCHEMA_VERSION = 2
_NOT_ARITHMETIC = re.compile(
    r"^arith\.(cmp|select|constant|ext|trunc|index_cast|bitcast|sitofp|uitofp|fptosi|fptoui)"
)


@dataclass
class LinalgOp:
    index: int
    named: str  # the op's kind before generalization, e.g. linalg.conv_2d_nchw_fchw
    iterators: str  # e.g. "parallel×4, reduction×3"
    maps: list[str]
    operand_types: list[str]
    body: dict[str, int]
    loop_sizes: list[int | None]
    iterations: int | None
    macs: int | None
    flops: int | None
    bytes_read: int | None
    bytes_written: int | None
    #: element type of each operand (`f32`, `ui8`, `f8E4M3FN`), read with the MLIR bindings.
    operand_elements: list[str] = field(default_factory=list)

    @property
    def intensity(self) -> float | None:
        traffic = (self.bytes_read or 0) + (self.bytes_written or 0)
        return self.flops / traffic if self.flops is not None and traffic else None

    def group_key(self, by: str) -> str:
        if by == "iterators":
            return self.iterators
        if by == "maps":
            return " ; ".join(self.maps)
        return ", ".join(f"{op}×{n}" for op, n in sorted(self.body.items())) or "(copy)"


@dataclass
class Analysis:
    source: str
    named_ops: dict[str, int]
    generic_count: int
    ops: list[LinalgOp] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        keys = ("iterations", "macs", "flops", "bytes_read", "bytes_written")
        return {k: sum(getattr(o, k) or 0 for o in self.ops) for k in keys}

    def unique(self, by: str) -> int:
        return len({o.group_key(by) for o in self.ops})

    def groups(self, by: str) -> list[dict]:
        grouped: dict[str, list[LinalgOp]] = {}
        for op in self.ops:
            grouped.setdefault(op.group_key(by), []).append(op)
        rows = [
            {
                "key": key,
                "ops": len(members),
                "named": dict(Counter(o.named for o in members)),
                "macs": sum(o.macs or 0 for o in members),
                "flops": sum(o.flops or 0 for o in members),
            }
            for key, members in grouped.items()
        ]
        return sorted(rows, key=lambda r: (-r["flops"], -r["ops"], r["key"]))

    def to_json(self) -> dict:
        totals = self.totals()
        traffic = totals["bytes_read"] + totals["bytes_written"]
        return {
            "schema_version": SCHEMA_VERSION,
            "source": self.source,
            "named_ops": dict(sorted(self.named_ops.items())),
            "generic_count": self.generic_count,
            "unique_indexing_maps": len({m for o in self.ops for m in o.maps}),
            "unique_map_lists": self.unique("maps"),
            "unique_iterator_signatures": self.unique("iterators"),
            "unique_bodies": self.unique("body"),
            "iterator_signatures": dict(Counter(o.iterators for o in self.ops).most_common()),
            "body_ops": dict(sum((Counter(o.body) for o in self.ops), Counter()).most_common()),
            "element_types": dict(
                Counter(e for o in self.ops for e in o.operand_elements).most_common()
            ),
            "totals": {**totals, "intensity": totals["flops"] / traffic if traffic else None},
            "ops": [{**asdict(o), "intensity": o.intensity} for o in self.ops],
        }


def _info(value, ir) -> TensorInfo | None:
    """Shape and element of an operand or result, read with the MLIR bindings."""
    return tensor_info(value.type, ir) or scalar_info(value.type, ir)


def _iterator_signature(kinds: list[str]) -> str:
    counts = Counter(kinds)
    return (
        ", ".join(f"{k}×{counts[k]}" for k in ("parallel", "reduction", "window") if counts[k])
        or "none"
    )


def _describe(index: int, named: str, op, ir) -> LinalgOp:
    maps = [ir.AffineMapAttr(a).value for a in ir.ArrayAttr(op.attributes["indexing_maps"])]
    kinds = [
        re.sub(r".*<(\w+)>.*", r"\1", str(a)) for a in ir.ArrayAttr(op.attributes["iterator_types"])
    ]
    operand_types = [str(v.type) for v in op.operands]
    operands = [_info(v, ir) for v in op.operands]
    loop_sizes: list[int | None] = [None] * (maps[0].n_dims if maps else 0)
    for affine_map, info in zip(maps, operands, strict=False):
        shape = info.shape if info is not None else ()
        for position, expr in enumerate(affine_map.results):
            if isinstance(expr, ir.AffineDimExpr) and position < len(shape):
                if loop_sizes[expr.position] is None:
                    loop_sizes[expr.position] = shape[position]
    body = Counter(o.name for o in op.regions[0].blocks[0].operations if o.name != "linalg.yield")
    iterations = None
    if all(s is not None for s in loop_sizes):
        iterations = 1
        for s in loop_sizes:
            iterations *= s
    arithmetic = sum(
        n
        for name, n in body.items()
        if (name.startswith(("arith.", "math.")) and not _NOT_ARITHMETIC.match(name))
    )
    muls = sum(n for name, n in body.items() if name in ("arith.mulf", "arith.muli"))
    adds = sum(n for name, n in body.items() if name in ("arith.addf", "arith.addi"))
    has_reduction = "reduction" in kinds
    sizes = [i.storage_bytes if i is not None else None for i in operands]
    results = [_info(r, ir) for r in op.results]
    written = [i.storage_bytes if i is not None else None for i in results]
    known = iterations is not None
    return LinalgOp(
        index=index,
        named=named,
        iterators=_iterator_signature(kinds),
        maps=[str(m) for m in maps],
        operand_types=operand_types,
        operand_elements=[
            i.element if i is not None else str(v.type)
            for i, v in zip(operands, op.operands, strict=True)
        ],
        body=dict(sorted(body.items())),
        loop_sizes=loop_sizes,
        iterations=iterations,
        macs=(iterations * min(muls, adds) if has_reduction else 0) if known else None,
        flops=iterations * arithmetic if known else None,
        bytes_read=sum(sizes) if None not in sizes else None,
        bytes_written=sum(written) if None not in written else None,
    )


def analyze_module(module, source: str = "module") -> Analysis:
    """Analyze a torch_mlir `ir.Module` holding linalg-on-tensors; the module is transformed in
    place (generalized and canonicalized)."""
    from torch_mlir import ir, passmanager

    named: list[str] = []

    def record(op):
        if op.name.startswith("linalg.") and op.name not in ("linalg.yield", "linalg.index"):
            named.append(op.name)
            # Tag it, so the kind survives generalization (canonicalize may reorder or fold).
            op.attributes["frontend_mess.named"] = ir.StringAttr.get(op.name, op.context)
        return ir.WalkResult.ADVANCE

    module.operation.walk(record)
    passmanager.PassManager.parse(
        "builtin.module(func.func(linalg-generalize-named-ops), canonicalize)",
        module.context,
    ).run(module.operation)
    generics = []

    def collect(op):
        if op.name == "linalg.generic":
            generics.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    ops = []
    for index, op in enumerate(generics):
        kind = (
            ir.StringAttr(op.attributes["frontend_mess.named"]).value
            if "frontend_mess.named" in op.attributes
            else "linalg.generic"
        )
        ops.append(_describe(index, kind, op, ir))
    return Analysis(source, dict(Counter(named)), len(generics), ops)

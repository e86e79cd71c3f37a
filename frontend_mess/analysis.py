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

SCHEMA_VERSION = 1
_DIM = re.compile(r"^d(\d+)$")
_NOT_ARITHMETIC = re.compile(
    r"^arith\.(cmp|select|constant|ext|trunc|index_cast|bitcast|sitofp|uitofp|fptosi|fptoui)"
)
_ELEMENT_BYTES = {
    "f64": 8,
    "f32": 4,
    "f16": 2,
    "bf16": 2,
    "i64": 8,
    "i32": 4,
    "i16": 2,
    "i8": 1,
    "i1": 1,
    "index": 8,
}
GROUP_KEYS = ("iterators", "maps", "body")


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
                Counter(_element(t) for o in self.ops for t in o.operand_types).most_common()
            ),
            "totals": {**totals, "intensity": totals["flops"] / traffic if traffic else None},
            "ops": [{**asdict(o), "intensity": o.intensity} for o in self.ops],
        }


def _element(type_text: str) -> str:
    match = re.search(r"x?([a-z]+[0-9]*)>$", type_text)
    return match[1] if match else type_text


def _shape(type_text: str) -> list[int | None] | None:
    match = re.fullmatch(r"(?:tensor|memref)<((?:[0-9?]+x)*)[a-z]+[0-9]*>", type_text)
    if not match:
        return None  # a scalar operand (e.g. the fill value)
    return [None if d == "?" else int(d) for d in match[1].split("x") if d]


def _numel_bytes(type_text: str) -> int | None:
    shape = _shape(type_text)
    size = _ELEMENT_BYTES.get(_element(type_text), 4)
    if shape is None:
        return size
    if any(d is None for d in shape):
        return None
    count = 1
    for d in shape:
        count *= d
    return count * size


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
    loop_sizes: list[int | None] = [None] * (maps[0].n_dims if maps else 0)
    for affine_map, type_text in zip(maps, operand_types, strict=False):
        shape = _shape(type_text) or []
        for position, expr in enumerate(affine_map.results):
            match = _DIM.match(str(expr))
            if match and position < len(shape) and loop_sizes[int(match[1])] is None:
                loop_sizes[int(match[1])] = shape[position]
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
    sizes = [_numel_bytes(t) for t in operand_types]
    results = [_numel_bytes(str(r.type)) for r in op.results]
    known = iterations is not None
    return LinalgOp(
        index=index,
        named=named,
        iterators=_iterator_signature(kinds),
        maps=[str(m) for m in maps],
        operand_types=operand_types,
        body=dict(sorted(body.items())),
        loop_sizes=loop_sizes,
        iterations=iterations,
        macs=(iterations * min(muls, adds) if has_reduction else 0) if known else None,
        flops=iterations * arithmetic if known else None,
        bytes_read=sum(sizes) if None not in sizes else None,
        bytes_written=sum(results) if None not in results else None,
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

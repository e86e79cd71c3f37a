"""MLIR types read with MLIR's own Python bindings, never with regular expressions.

Works with either copy of the bindings (torch-mlir's `torch_mlir.ir`, what `analyze` parses
with, or IREE's `iree.compiler.ir`, what the signature writer parses with): both expose the
same `ShapedType`, `IntegerType` and `FloatType` API, so the module is passed in.

The torch dialect's `!torch.vtensor<[8,?],si64>` has no Python binding in either copy; its
body is respelled as the builtin `tensor<8x?xsi64>`, which the bindings then read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# Integer element names as frontend-mess prints them: signless and signed both print as `iN`
# (what IREE's ABI shows), unsigned as `uiN`.


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's shape (None: dynamic) and element type name (`f32`, `i64`, `ui8`, `i1`,
    `f8E4M3FN`, `bf16`), and the element's width in bits."""

    shape: tuple[int | None, ...]
    element: str
    bits: int | None  # None: not a numeric element (`!torch.str`)

    @property
    def numel(self) -> int | None:
        count = 1
        for d in self.shape:
            if d is None:
                return None
            count *= d
        return count

    @property
    def storage_bytes(self) -> int | None:
        """Bytes the tensor occupies: sub-byte integers (i4, i2) are packed, as IREE packs
        them; i1 takes a byte per element, as IREE stores it; a wider type its width."""
        numel = self.numel
        if numel is None or self.bits is None:
            return None
        if self.bits == 1:
            return numel
        return (numel * self.bits + 7) // 8


def element_name(element_type, ir) -> str:
    """`f32`, `i64` (signless or signed), `ui8`, `i1`, `f8E4M3FN`, `bf16`, `index`."""
    if isinstance(element_type, ir.IntegerType):
        integer = element_type
        return f"{'ui' if integer.is_unsigned else 'i'}{integer.width}"
    return str(element_type)


def element_bits(element_type, ir) -> int | None:
    """Width of an element type in bits (complex: both parts; index: 64); None for a
    non-numeric element (an ONNX string tensor's `!torch.str`)."""
    if isinstance(element_type, ir.IntegerType):
        return element_type.width
    if isinstance(element_type, ir.FloatType):
        return element_type.width
    if isinstance(element_type, ir.ComplexType):
        return 2 * element_bits(element_type.element_type, ir)
    if isinstance(element_type, ir.IndexType):
        return 64
    return None


def _builtin(type_, ir):
    """A builtin type for `type_`: itself, or the builtin spelling of a torch vtensor."""
    if isinstance(type_, ir.ShapedType):
        return type_
    if isinstance(type_, ir.OpaqueType):  # torch not registered in this context
        opaque = ir.OpaqueType(type_)
        namespace, body = opaque.dialect_namespace, opaque.data
    else:  # a context that registers torch prints it, but has no Python class for it
        namespace, _, body = str(type_).lstrip("!").partition(".")
    if namespace != "torch" or not body.startswith("vtensor<[") or "]," not in body:
        return None
    dims, element = body.removeprefix("vtensor<[").removesuffix(">").split("],", 1)
    sizes = ["?" if d.strip() == "-1" else d.strip() for d in dims.split(",") if d.strip()]
    return ir.Type.parse(f"tensor<{''.join(s + 'x' for s in sizes)}{element}>")


def tensor_info(type_, ir) -> TensorInfo | None:
    """Shape and element of a tensor or memref type (builtin or torch vtensor); None for a
    scalar or any other type."""
    shaped = _builtin(type_, ir)
    if shaped is None:
        return None
    element = shaped.element_type
    if shaped.has_rank:
        shape = tuple(
            None if shaped.is_dynamic_dim(i) else shaped.get_dim_size(i) for i in range(shaped.rank)
        )
    else:
        shape = ()
    return TensorInfo(shape, element_name(element, ir), element_bits(element, ir))


def scalar_info(type_, ir) -> TensorInfo | None:
    """A scalar operand (the value of a `linalg.fill`) as a rank-0 tensor; None otherwise."""
    bits = element_bits(type_, ir)
    return TensorInfo((), element_name(type_, ir), bits) if bits is not None else None


def walk(operation) -> Iterator:
    """Every operation nested in `operation` (itself first, then in program order), in either
    copy of the bindings; an explicit stack, so deep nesting cannot exhaust Python's."""
    stack = [operation]
    while stack:
        op = stack.pop()
        yield op
        inner = [o.operation for r in op.regions for b in r.blocks for o in b.operations]
        stack.extend(reversed(inner))


def ops_on_element(module, ir, prefix: str, element: str) -> list[str]:
    """Names of the ops of a dialect (`prefix`, e.g. `tosa.`) with a tensor operand or result
    of `element` (`f64`, `i64`), each once, in the order met."""
    found: list[str] = []
    with module.context:
        for op in walk(module.operation):
            if op.name.startswith(prefix) and op.name not in found:
                infos = (tensor_info(v.type, ir) for v in [*op.operands, *op.results])
                if any(i is not None and i.element == element for i in infos):
                    found.append(op.name)
    return found


def attributes_of(op) -> list:
    """An operation's named attributes, listed up front so that the caller may replace them
    (`op.attributes[name] = ...`) while it goes through them."""
    attributes = op.attributes
    return [attributes[i] for i in range(len(attributes))]


def walk_attributes(operation) -> Iterator:
    """(op, named attribute) for every attribute of every operation in `operation`."""
    for op in walk(operation):
        for named in attributes_of(op):
            yield op, named


def inline_empty_resources(module, ir) -> int:
    """Replace each zero-element `dense_resource` attribute with the same empty `dense<>`, and
    return how many. IREE's MLIR (3.13) writes an empty resource blob to bytecode that its own
    reader then rejects ("expected alignment to be a power-of-two": the check from llvm PR
    #181350 meets a blob written with alignment 0), so a module holding one (an empty ONNX
    initializer: T5 through TorchScript's exporter) fails in iree-compile after the pipeline's
    bytecode round trip. Test: tests/unit/test_onnx.py::test_empty_initializer_survives_bytecode.
    """
    replaced = 0
    with module.context:
        for op, named in walk_attributes(module.operation):
            attr = named.attr
            try:
                ir.DenseResourceElementsAttr(attr)
            except ValueError:
                continue
            shaped = ir.ShapedType(attr.type)
            if shaped.has_static_shape and 0 in shaped.shape:
                op.attributes[named.name] = ir.Attribute.parse(f"dense<> : {attr.type}")
                replaced += 1
    return replaced


def demote_f64_tensors(module, ir) -> int:
    """Rewrite every f64 tensor in `module` to f32: op results and block arguments, and the
    f64 dense constants (`tosa.const`); a cast left from f32 to f32 is removed. Returns how
    many values changed. For a module whose functions take and return no f64 (the caller
    checks): inside, torch-mlir widens to f64 where PyTorch computes in f32 (its variance
    decomposition, a comparison with a Python float), and TOSA's profiles have no f64.
    Test: tests/unit/test_iree.py::test_fx_tosa_demotes_f64."""
    import numpy as np

    def demoted(value_type):
        if not isinstance(value_type, ir.RankedTensorType):
            return None
        if not isinstance(value_type.element_type, ir.F64Type):
            return None
        return ir.RankedTensorType.get(list(value_type.shape), ir.F32Type.get())

    changed = 0
    with module.context, ir.Location.unknown():
        for op in list(walk(module.operation)):
            for region in op.regions:
                for block in region.blocks:
                    for argument in block.arguments:
                        new = demoted(argument.type)
                        if new is not None:
                            argument.set_type(new)
                            changed += 1
            for result in op.results:
                new = demoted(result.type)
                if new is not None:
                    result.set_type(new)
                    changed += 1
            for named in attributes_of(op):
                try:
                    dense = ir.DenseFPElementsAttr(named.attr)
                except ValueError:
                    continue
                new = demoted(dense.type)
                if new is None:
                    continue
                if dense.is_splat:
                    value = ir.FloatAttr.get(ir.F32Type.get(), dense.get_splat_value().value)
                    attr = ir.DenseElementsAttr.get_splat(new, value)
                else:
                    array = np.asarray(np.array(dense), dtype=np.float32)
                    attr = ir.DenseElementsAttr.get(array, type=new)
                op.attributes[named.name] = attr
        for op in list(walk(module.operation)):
            if op.name == "tosa.cast" and op.operands[0].type == op.results[0].type:
                op.results[0].replace_all_uses_with(op.operands[0])
                op.erase()
    return changed

"""TOSA without int64: torch-mlir's TOSA lowering keeps PyTorch's int64 tensors (token ids,
attention masks, position and token-type buffers), and TOSA's profiles have no 64-bit
integers, so IREE's TOSA validation refuses the ops that touch them: `tosa.cast` of the i64
mask to f32 ("got (i64,f32), did you mean (i1,f32)?") and `tosa.gather` from an i64 table
(reports/repros/fx-tosa-compile-fail-compile-tosa.{cast,gather}; 14 of hf-tiny's 26 models
failed on fx-tosa so). IREE's own `--iree-input-demote-i64-to-i32` runs after that
validation and does not help.

So every i64 tensor inside a function becomes i32: op results, region arguments and the i64
constants (inline or `dense_resource`). The function keeps its interface: an i64 argument is
narrowed by `arith.trunci` (IREE converts elementwise arith on tensors to linalg beside the
TOSA), an i64 result widened back by `arith.extsi`. That is what a TOSA consumer computes in;
it is exact while every value fits in 32 bits: constants are checked (one out of range leaves
the module as it is, with a warning), inputs are ids, masks and positions. Test:
tests/unit/test_iree.py::test_fx_tosa_narrows_int64_and_verifies.
"""

from __future__ import annotations

from frontend_mess.support.mlir_types import attributes_of, ops_on_element, walk
from frontend_mess.support.progress import Progress

_INT32 = (-(2**31), 2**31 - 1)


def int64_tosa_ops(module, ir) -> list[str]:
    """Names of the TOSA ops with an i64 tensor operand or result."""
    return ops_on_element(module, ir, "tosa.", "i64")


def _narrowed(value_type, ir):
    """`tensor<...xi64>` as `tensor<...xi32>`; None for any other type."""
    if not isinstance(value_type, ir.RankedTensorType):
        return None
    element = value_type.element_type
    if not (isinstance(element, ir.IntegerType) and element.width == 64):
        return None
    return ir.RankedTensorType.get(list(value_type.shape), ir.IntegerType.get_signless(32))


def _constants(module, ir) -> list:
    """(op, attribute name, new attribute) for every i64 elements attribute, narrowed; raises
    OverflowError when a value does not fit in 32 bits (nothing is changed then)."""
    import numpy as np

    from frontend_mess.backend.params import read_bytes

    found = []
    for op in walk(module.operation):
        for named in attributes_of(op):
            attr = None
            for kind in (ir.DenseIntElementsAttr, ir.DenseResourceElementsAttr):
                try:
                    attr = kind(named.attr)
                    break
                except (ValueError, TypeError):
                    continue
            if attr is None:
                continue
            new_type = _narrowed(attr.type, ir)
            if new_type is not None:
                found.append((op, named.name, attr, new_type))
    if not found:
        return []
    blobs = read_bytes([attr for _, _, attr, _ in found], ir)
    out = []
    for (op, name, _, new_type), blob in zip(found, blobs, strict=True):
        values = np.frombuffer(blob.tobytes(), dtype=np.int64)
        if values.size and (values.min() < _INT32[0] or values.max() > _INT32[1]):
            raise OverflowError(f"{op.name} holds {values.min()}..{values.max()}")
        narrowed = values.astype(np.int32).reshape(list(new_type.shape))
        out.append((op, name, ir.DenseElementsAttr.get(narrowed, type=new_type)))
    return out


def narrow_int64_tensors(module, ir) -> int:
    """Rewrite the module's i64 tensors to i32 (the module docstring); the values changed."""
    changed = 0
    with module.context, ir.Location.unknown():
        constants = _constants(module, ir)  # first: an OverflowError leaves the module as is
        functions = [
            op.operation for op in module.body.operations if op.operation.name == "func.func"
        ]
        clamps = [  # their bounds are typed as their values: i64 bounds of i64 values
            op
            for op in walk(module.operation)
            if op.name == "tosa.clamp" and _narrowed(op.operands[0].type, ir) is not None
        ]
        for op, name, attr in constants:
            op.attributes[name] = attr
        for op in list(walk(module.operation)):
            if op.name in ("builtin.module", "func.func", "func.return"):
                continue  # a function's arguments are its interface (_keep_interface)
            _narrow_regions(op, ir)
            for result in op.results:
                new = _narrowed(result.type, ir)
                if new is not None:
                    result.set_type(new)
                    changed += 1
        for op in clamps:
            _narrow_integer_attributes(op, ir)
        for function in functions:
            if function.regions[0].blocks:
                changed += _keep_interface(function, ir)
        for op in list(walk(module.operation)):
            if op.name == "tosa.cast" and op.operands[0].type == op.results[0].type:
                op.results[0].replace_all_uses_with(op.operands[0])
                op.erase()
    return changed


def _narrow_regions(op, ir) -> None:
    """Narrow the arguments of the blocks of `op`'s regions (a `tosa.while_loop`'s body)."""
    for region in op.regions:
        for block in region.blocks:
            for argument in block.arguments:
                new = _narrowed(argument.type, ir)
                if new is not None:
                    argument.set_type(new)


def _narrow_integer_attributes(op, ir) -> None:
    """The i64 integer attributes of a `tosa.clamp` of narrowed values (its bounds) as i32."""
    for named in attributes_of(op):
        if isinstance(named.attr, ir.IntegerAttr):
            integer = ir.IntegerAttr(named.attr)
            if isinstance(integer.type, ir.IntegerType) and integer.type.width == 64:
                value = max(_INT32[0], min(_INT32[1], integer.value))
                op.attributes[named.name] = ir.IntegerAttr.get(
                    ir.IntegerType.get_signless(32), value
                )


def _keep_interface(function, ir) -> int:
    """The function's i64 arguments narrowed by `arith.trunci` at entry, its i64 results
    widened by `arith.extsi` before the return: the interface stays the model's."""
    block = function.regions[0].blocks[0]
    changed = 0
    first = block.operations[0]
    for argument in block.arguments:
        new = _narrowed(argument.type, ir)
        if new is None or not list(argument.uses):
            continue
        narrow = ir.Operation.create(
            "arith.trunci", results=[new], operands=[argument], ip=ir.InsertionPoint(first)
        )
        argument.replace_all_uses_with(narrow.results[0])
        narrow.operands[0] = argument  # its own operand was replaced too
        changed += 1
    terminator = block.operations[len(block.operations) - 1]
    declared = ir.FunctionType(ir.TypeAttr(function.attributes["function_type"]).value).results
    for index, (value, wanted) in enumerate(zip(terminator.operands, declared, strict=True)):
        if value.type != wanted and _narrowed(wanted, ir) == value.type:
            widen = ir.Operation.create(
                "arith.extsi", results=[wanted], operands=[value], ip=ir.InsertionPoint(terminator)
            )
            terminator.operands[index] = widen.results[0]
            changed += 1
    return changed


#: ops the narrowing rewrites or keeps consistent; an i64 anywhere else (a `func.call` to a
#: function whose interface stays i64, a `tensor.extract` of an i64 scalar, a global) leaves
#: the module as it is
_NARROWABLE = ("tosa.", "arith.constant", "builtin.module", "func.func", "func.return")


def _blocker(module, ir) -> str | None:
    """The first op with an int64 value (tensor or scalar) that the narrowing does not
    rewrite, or a call or global (whose types it does not follow); None where there is none."""
    for op in walk(module.operation):
        if op.name in ("func.call", "util.global", "ml_program.global"):
            return op.name
        if op.name.startswith(_NARROWABLE):
            continue
        values = [*op.operands, *op.results]
        values += [a for r in op.regions for b in r.blocks for a in b.arguments]
        for value in values:
            element = getattr(value.type, "element_type", value.type)
            if isinstance(element, ir.IntegerType) and element.width == 64:
                return op.name
    return None


def tosa_without_int64(module, progress: Progress) -> None:
    """Narrow a TOSA module's int64 to int32 where it has any (the module docstring), or
    leave it with a warning that names what stopped it (a constant out of range, an op the
    narrowing does not rewrite)."""
    from torch_mlir import ir

    from frontend_mess.support.errors import LoweringError, first_lines

    ops = int64_tosa_ops(module, ir)
    if not ops:
        return
    leave = (
        "TOSA's profiles have no int64, and IREE's TOSA input rejects it: compile through "
        "--via fx-linalg or fx-torch instead"
    )
    with module.context:
        blocker = _blocker(module, ir)
    if blocker is not None:
        progress.note(
            f"warning: the TOSA module has int64 in {', '.join(ops)}, and {blocker} on int64 "
            f"that frontend-mess does not narrow; {leave}"
        )
        return
    try:
        count = narrow_int64_tensors(module, ir)
    except OverflowError as exc:
        progress.note(
            f"warning: the TOSA module has int64 in {', '.join(ops)} and a constant that does "
            f"not fit in int32 ({exc}); {leave}"
        )
        return
    try:
        module.operation.verify()
    except Exception as exc:  # MLIRError: a rewrite this module needs that is not made here
        raise LoweringError(
            f"frontend-mess could not narrow the int64 in the TOSA module to int32 "
            f"({first_lines(exc, 1)}); {leave}"
        ) from exc
    progress.note(f"tosa: {count} int64 values narrowed to int32 ({', '.join(ops[:3])}, ...)")

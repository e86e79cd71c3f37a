"""Replace every weight constant with a splat of the same type: the IR keeps its structure and
types (and still parses, compiles and analyzes), but a ResNet-50 becomes kilobytes. For sharing
workloads without weights."""

from __future__ import annotations


def strip_weights(module) -> int:
    """Rewrite, in place, each elements attribute with more than one element (dense or
    dense_resource) to a zero splat. Works on any dialect (torch.vtensor.literal,
    arith.constant, tosa.const, stablehlo.constant). Returns how many were replaced."""
    from torch_mlir import ir

    replaced = 0

    def elements(attr):
        """The attribute as an elements attribute worth stripping, or None."""
        for kind in (ir.DenseResourceElementsAttr, ir.DenseElementsAttr):
            try:
                cast = kind(attr)
            except (ValueError, TypeError):
                continue
            if kind is ir.DenseElementsAttr and cast.is_splat:
                return None
            return cast
        return None

    def visit(op):
        nonlocal replaced
        for name in list(op.attributes):
            attr = elements(op.attributes[name])
            if attr is None:
                continue
            shaped = ir.ShapedType(attr.type)
            element = shaped.element_type
            try:
                zero = ir.FloatAttr.get(element, 0.0)
            except (ValueError, TypeError):
                zero = ir.IntegerAttr.get(element, 0)
            op.attributes[name] = ir.DenseElementsAttr.get_splat(shaped, zero)
            replaced += 1
        return ir.WalkResult.ADVANCE

    with module.context, ir.Location.unknown():
        module.operation.walk(visit)
    return replaced

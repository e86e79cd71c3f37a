"""Faster weight import for the FX importer (torch-mlir's, and IREE's bundled copy of it).

The FX importer turns every weight tensor into an MLIR attribute through `tensor.tolist()` and
back into a NumPy array (fx_importer.py, `_make_vtensor_literal_op`), because it may be handed
fake tensors. Real weights can go straight through `Tensor.numpy()`, which for ResNet-18 cuts
the import from about 15 s to 2 s on this machine (benchmarks/import_literals.py measures
both). The attribute built here is the one the default path builds: same blob name, same
bytes, same type; tests/unit/test_literals.py compares the two outputs text for text.
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch._subclasses.fake_tensor import FakeTensor


def fast_literal_hooks(fx_importer: ModuleType, ir: ModuleType):
    """Hooks for the given importer module (`torch_mlir.extras.fx_importer` or
    `iree.compiler.extras.fx_importer`) and its `ir` module: the two live in different MLIR
    builds, so attributes must come from the matching one."""
    npy_types = fx_importer.TORCH_DTYPE_TO_NPY_TYPE

    class FastLiteralHooks(fx_importer.FxImporterHooks):
        """Resolve real tensor literals with a zero-copy NumPy view, each tensor once.

        The importer's own cache (`RefTracker`) keys a tensor's attribute by `id(tensor)`
        and, since its finalizer was removed (torch-mlir PR #3995, for iree-turbine #281),
        neither holds the tensor nor forgets a dead one: a tensor freed during the import
        leaves its id to the next, which is then handed the dead one's attribute. In a
        matrix cell of hf-generate on fx-tosa, BLOOM's decode step got its 64-wide
        LayerNorm weight where a 64x256 matrix belonged (`'torch.vtensor.literal' op
        inferred type(s) ... are incompatible`; on other paths such a swap of two tensors
        of one type would be silent). This cache holds each tensor it saw, so an id stays
        its tensor's while the importer lives. Test:
        tests/unit/test_literals.py::test_a_dead_tensors_id_does_not_hand_its_attribute_on."""

        def __init__(self) -> None:
            super().__init__()
            self._attributes: dict[int, tuple[torch.Tensor, object]] = {}

        def resolve_literal(self, gni, literal, info):
            if not isinstance(literal, torch.Tensor) or isinstance(literal, FakeTensor):
                return None
            if literal.dtype == torch.bfloat16:
                return _bf16_literal(gni, literal)
            if literal.dtype not in npy_types:
                return None
            cc = getattr(gni, "_cc", None)
            if cc is None:  # the importer changed its internals: use its own path
                return None
            held = self._attributes.get(id(literal))
            if held is None or held[0] is not literal:
                held = (literal, _attribute(literal))
                self._attributes[id(literal)] = held
            return ir.Operation.create(
                name="torch.vtensor.literal",
                results=[cc.tensor_to_vtensor_type(literal)],
                attributes={"value": held[1]},
            ).result

    def _attribute(literal):
        """The attribute the importer's default path makes: a splat for one element (it
        optimizes better, and dense_resource mishandles 0-d tensors), else a blob."""
        array = literal.detach().cpu().contiguous().numpy().view(npy_types[literal.dtype])
        if array.size == 1:
            element = fx_importer.TORCH_DTYPE_TO_MLIR_TYPE[literal.dtype]()
            return ir.DenseElementsAttr.get(array, type=element, shape=list(array.shape))
        shape = "_".join(str(d) for d in literal.shape)
        return ir.DenseResourceElementsAttr.get_from_buffer(
            array,
            f"torch_tensor_{shape}_{literal.dtype}",
            fx_importer.create_mlir_tensor_type(literal),
        )

    def _bf16_literal(gni, literal):
        """A bf16 weight as a plain dense attribute, not a `dense_resource` blob: IREE's
        bf16-to-f32 emulation on CPU (ConvertBf16ArithToF32Pass) cannot convert a resource
        constant that lands inside a dispatch and fails with "'arith.constant' op failed to
        verify that all of {value, result} have same type" (the class of iree #11367;
        tests/unit/test_dtypes.py::test_iree_cannot_emulate_a_bf16_resource_constant and
        ::test_bf16_weights_import_as_plain_dense_attributes)."""
        cc = getattr(gni, "_cc", None)
        if cc is None:  # the importer changed its internals: use its own path
            return None
        words = literal.detach().cpu().contiguous().view(torch.int16).numpy()
        value = ir.DenseElementsAttr.get(words, type=ir.BF16Type.get(), shape=list(literal.shape))
        return ir.Operation.create(
            name="torch.vtensor.literal",
            results=[cc.tensor_to_vtensor_type(literal)],
            attributes={"value": value},
        ).result

    return FastLiteralHooks()


def torch_mlir_hooks():
    from torch_mlir import ir
    from torch_mlir.extras import fx_importer

    return fast_literal_hooks(fx_importer, ir)


def iree_hooks():
    from iree.compiler import ir
    from iree.compiler.extras import fx_importer

    return fast_literal_hooks(fx_importer, ir)

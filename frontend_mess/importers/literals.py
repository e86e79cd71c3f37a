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
        """Resolve real, multi-element tensor literals with a zero-copy NumPy view."""

        def resolve_literal(self, gni, literal, info):
            if (
                not isinstance(literal, torch.Tensor)
                or isinstance(literal, FakeTensor)
                or literal.numel() <= 1  # the default path makes splats of these
            ):
                return None
            if literal.dtype == torch.bfloat16:
                return _bf16_literal(gni, literal)
            if literal.dtype not in npy_types:
                return None
            cc = getattr(gni, "_cc", None)
            tracker = getattr(cc, "_py_attr_tracker", None)
            if tracker is None:  # the importer changed its internals: use its own path
                return None
            mapping = tracker.track(literal)
            if mapping.is_empty:
                array = literal.detach().cpu().contiguous().numpy()
                shape = "_".join(str(d) for d in literal.shape)
                mapping.value = ir.DenseResourceElementsAttr.get_from_buffer(
                    array.view(npy_types[literal.dtype]),
                    f"torch_tensor_{shape}_{literal.dtype}",
                    fx_importer.create_mlir_tensor_type(literal),
                )
            return ir.Operation.create(
                name="torch.vtensor.literal",
                results=[cc.tensor_to_vtensor_type(literal)],
                attributes={"value": mapping.value},
            ).result

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

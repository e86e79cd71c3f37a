"""Weights out of the IR: an MLIR module's large constants moved into an IREE parameter archive
(`.irpa`), the IR referring to each by name, and the runtime mapping the archive from disk.

A model's weights are most of its MLIR and, compiled inline, most of its `.vmfb`. Moved out,
the IR is small enough to read, diff and ship without its weights, the `.vmfb` holds code and
small constants only, and IREE's runtime maps the archive (`mmap`) instead of copying it.

    params = externalize(module, ir)        # rewrites `module` in place
    write_irpa(params, "model.irpa")
    ... compile the module as usual ...
    context.add_vm_module(parameters_module(config.vm_instance, ["model.irpa"]))
    context.add_vm_module(vm_module)        # after the parameters module: it imports it

Each constant op whose value is an elements attribute of at least `min_bytes` becomes

    util.global private @p0 = #stream.parameter.named<"model"::"p0"> : tensor<128x64xf32>
    %0 = util.global.load @p0 : tensor<128x64xf32>
    %1 = torch_c.from_builtin_tensor %0 : tensor<128x64xf32> -> !torch.vtensor<[128,64],f32>

(the last line only where the constant was a torch `!torch.vtensor`): what iree-import-onnx
`--externalize-params` emits, and what `iree-compile --iree-parameter-export` makes of
globals. The constant ops it takes, per import path (what each importer really emits):

- `torch.vtensor.literal` (value): the FX importers (torch dialect, `--via fx-torch`);
- `torch.operator "onnx.Constant"` (torch.onnx.value): torch-mlir's ONNX importer emits
  every initializer as one, its value a `dense_resource` named after the initializer;
- `arith.constant` (value): torch-mlir's linalg output; `tosa.const` (values, `value` in
  older TOSA); `stablehlo.constant` (value).

Splats are left inline: their attribute stores one element whatever the shape, and IREE
folds them into fills. Identical constants (same type, same bytes) share one parameter.

Reading the bytes. A `dense<...>` attribute is read with the bindings (`np.array(attr)`,
zero-copy for the element types NumPy has). A `dense_resource<...>` blob, which is what both
FX importers and the ONNX importer emit, cannot be: MLIR's Python bindings construct
DenseResourceElementsAttr but have no way to read its blob back (llvm-project PR #66319:
"Only construction and type casting are implemented"), and DenseElementsAttr's buffer
protocol refuses bf16 (llvm-project PR #163564). Those are serialized by IREE's own compiler
instead: the attributes are carried, as MLIR, into IREE's context on `util.global`s, and
IREE's `iree-io-export-parameters` pass writes them to a scratch archive exactly as
`iree-compile --iree-parameter-export` would (i1 one byte per element, i4 packed, bf16 and
f8 as stored), which is then read back with `iree.runtime.ParameterIndex`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from frontend_mess.defaults import PARAMS_AUTO_BYTES, PARAMS_MIN_BYTES, PARAMS_MODES, PARAMS_SCOPE
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.mlir_types import tensor_info
from frontend_mess.support.paths import io_error_message

#: op name -> the attributes that may hold its value, first present wins.
_CONSTANT_OPS: dict[str, tuple[str, ...]] = {
    "torch.vtensor.literal": ("value",),
    "torch.operator": ("torch.onnx.value",),  # only `torch.operator "onnx.Constant"`
    "arith.constant": ("value",),
    "tosa.const": ("values", "value"),
    "stablehlo.constant": ("value",),
}


@dataclass
class Parameters:
    """What `externalize` moved out: each parameter's raw bytes (a flat uint8 array, in the
    byte order and layout IREE loads), in key order, under one scope."""

    scope: str
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: how many constant ops were replaced (more than len(arrays) where duplicates shared one)
    replaced: int = 0
    #: constants left inline: below min_bytes, splats, or of a kind not moved
    inline: int = 0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def __len__(self) -> int:
        return len(self.arrays)


@dataclass
class _Candidate:
    op: object
    attr: object
    global_type: object  # builtin tensor type of the util.global
    to_torch: bool  # the op's result is a !torch.vtensor: convert the load back


def externalize(
    module,
    ir: ModuleType,
    *,
    min_bytes: int = PARAMS_MIN_BYTES,
    min_total: int = 0,
    scope: str = PARAMS_SCOPE,
) -> Parameters:
    """Move every constant of at least `min_bytes` out of `module` (rewritten in place) and
    return their bytes, to be written with `write_irpa`; nothing is moved (and no parameter
    returned) when they come to less than `min_total` bytes (`--params auto`). `ir` is the
    bindings `module` was made with: `torch_mlir.ir` (where util and stream are not
    registered, so the context is set to allow unregistered dialects and the new ops are
    generic) or `iree.compiler.ir`.

    Keys are `p0`, `p1`, ... in program order, so the same module always gives the same IR
    and the same archive, byte for byte."""
    context = module.context
    context.allow_unregistered_dialects = True  # util/stream in torch-mlir's context
    with context, ir.Location.unknown():
        candidates, inline = _candidates(module, ir, min_bytes)
        if _total_bytes(candidates, ir) < min_total:
            return Parameters(scope, inline=inline + len(candidates))
        blobs = read_bytes([c.attr for c in candidates], ir)
        params = Parameters(scope, inline=inline)
        # (global type, digest) -> key: identical constants share one entry of the archive,
        # but each constant gets a global of its own. One global loaded by several ops (all
        # of convnext's LayerNorm weights start as ones) made IREE 3.13's llvm-cpu module
        # segfault at run time (notes/store.md; test_params.py::test_a_shared_value_...).
        shared: dict[tuple[str, bytes], str] = {}
        taken = _symbols(module, ir)
        last_global = None
        for candidate, blob in zip(candidates, blobs, strict=True):
            identity = (str(candidate.global_type), hashlib.sha256(blob).digest())
            key = shared.get(identity)
            if key is None:
                key = shared[identity] = f"p{len(params.arrays)}"
                params.arrays[key] = blob
            symbol = _unique(key, taken)  # p3, then p3_1 for the next constant of equal value
            last_global = _add_global(
                module, ir, symbol, key, scope, candidate.global_type, last_global
            )
            _replace(candidate, symbol, ir)
            params.replaced += 1
    return params


def _total_bytes(candidates: list, ir) -> int:
    infos = (tensor_info(c.global_type, ir) for c in candidates)
    return sum(i.storage_bytes or 0 for i in infos if i is not None)


def for_mode(mode: str, module, ir) -> Parameters | None:
    """`--params`: the weights moved out of `module` as `mode` says (external; auto: when
    they come to PARAMS_AUTO_BYTES or more), else None (inline: the module untouched)."""
    if mode not in PARAMS_MODES:
        raise FrontendError(f"unknown --params {mode!r}: use one of {', '.join(PARAMS_MODES)}")
    if mode == "inline":
        return None
    params = externalize(module, ir, min_total=PARAMS_AUTO_BYTES if mode == "auto" else 0)
    return params if params.arrays else None


def archive_bytes(params: Parameters) -> bytes:
    """The `.irpa` of `params` as bytes (what the store keeps; write_irpa writes a file)."""
    with tempfile.TemporaryDirectory(prefix="frontend-mess-params.") as scratch:
        return write_irpa(params, Path(scratch) / "params.irpa").read_bytes()


def _symbols(module, ir) -> set[str]:
    taken = set()
    for op in module.body.operations:
        if "sym_name" in op.attributes:
            taken.add(ir.StringAttr(op.attributes["sym_name"]).value)
    return taken


def _unique(name: str, taken: set[str]) -> str:
    symbol, suffix = name, 0
    while symbol in taken:
        suffix += 1
        symbol = f"{name}_{suffix}"
    taken.add(symbol)
    return symbol


def _constant_ops(module) -> Iterable:
    """The constant ops of the module's own functions, in program order (not those of a
    nested module, which is another program)."""
    stack = [op.operation for op in reversed(list(module.body.operations))]
    while stack:
        op = stack.pop()
        if op.name == "builtin.module":
            continue
        if op.name in _CONSTANT_OPS:
            yield op
        inner = [o.operation for r in op.regions for b in r.blocks for o in b.operations]
        stack.extend(reversed(inner))


def _value_attr(op, ir):
    if op.name == "torch.operator":
        name = op.attributes["name"] if "name" in op.attributes else None
        if name is None or ir.StringAttr(name).value != "onnx.Constant":
            return None
    for attr_name in _CONSTANT_OPS[op.name]:
        if attr_name in op.attributes:
            return op.attributes[attr_name]
    return None


def _elements(attr, ir):
    """`attr` as a non-splat dense or dense_resource elements attribute, else None."""
    if isinstance(attr, ir.DenseResourceElementsAttr):
        return attr
    if isinstance(attr, ir.DenseElementsAttr):
        return None if attr.is_splat else attr
    for kind in (ir.DenseResourceElementsAttr, ir.DenseElementsAttr):
        try:
            cast = kind(attr)
        except (ValueError, TypeError):
            continue
        return None if kind is ir.DenseElementsAttr and cast.is_splat else cast
    return None


def _candidates(module, ir, min_bytes: int) -> tuple[list[_Candidate], int]:
    found: list[_Candidate] = []
    inline = 0
    for op in _constant_ops(module):
        if len(op.results) != 1 or len(op.operands) != 0:
            continue
        value = _value_attr(op, ir)
        if value is None:
            continue
        attr = _elements(value, ir)
        info = tensor_info(value.type, ir) if attr is not None else None
        size = info.storage_bytes if info is not None else None
        if attr is None or size is None or size == 0 or size < min_bytes:
            inline += 1
            continue
        attr_type = ir.RankedTensorType(attr.type)
        result_type = op.results[0].type
        if isinstance(result_type, ir.RankedTensorType):
            if result_type != attr_type:  # e.g. a quantized result type: leave it alone
                inline += 1
                continue
            found.append(_Candidate(op, attr, result_type, to_torch=False))
        elif tensor_info(result_type, ir) is not None:  # !torch.vtensor
            found.append(_Candidate(op, attr, _signless(attr_type, ir), to_torch=True))
        else:
            inline += 1
    return found, inline


def _signless(tensor_type, ir):
    """The builtin tensor type torch_c.from_builtin_tensor takes: signless integers
    (`tensor<3xi64>` for `!torch.vtensor<[3],si64>`), as iree-import-onnx types its globals."""
    element = tensor_type.element_type
    if isinstance(element, ir.IntegerType) and not element.is_signless:
        element = ir.IntegerType.get_signless(element.width)
    return ir.RankedTensorType.get(list(tensor_type.shape), element)


def _add_global(module, ir, symbol: str, key: str, scope: str, tensor_type, after):
    scope_text, key_text = str(ir.StringAttr.get(scope)), str(ir.StringAttr.get(key))
    initial = ir.Attribute.parse(
        f"#stream.parameter.named<{scope_text}::{key_text}> : {tensor_type}"
    )
    with ir.InsertionPoint.at_block_begin(module.body):
        created = ir.Operation.create(
            "util.global",
            attributes={
                "sym_name": ir.StringAttr.get(symbol),
                "sym_visibility": ir.StringAttr.get("private"),
                "type": ir.TypeAttr.get(tensor_type),
                "initial_value": initial,
            },
        )
    if after is not None:  # globals in key order, at the top
        created.move_after(after)
    return created


def _replace(candidate: _Candidate, symbol: str, ir) -> None:
    op = candidate.op
    with ir.InsertionPoint(op), op.location:
        load = ir.Operation.create(
            "util.global.load",
            results=[candidate.global_type],
            attributes={"global": ir.FlatSymbolRefAttr.get(symbol)},
        )
        value = load.results[0]
        if candidate.to_torch:
            value = ir.Operation.create(
                "torch_c.from_builtin_tensor", results=[op.results[0].type], operands=[value]
            ).results[0]
    op.results[0].replace_all_uses_with(value)
    op.erase()


# -- the bytes ------------------------------------------------------------------------------


def _numpy_bytes(attr, ir) -> np.ndarray | None:
    """A dense attribute's bytes through the bindings' buffer protocol, where NumPy has its
    element type at the width IREE stores it; None otherwise (bf16, f8, i4, complex)."""
    if not isinstance(attr, ir.DenseElementsAttr):
        return None
    info = tensor_info(attr.type, ir)
    try:
        array = np.array(attr)
    except (ValueError, TypeError, RuntimeError):
        return None
    if array.dtype == np.object_ or info is None or info.storage_bytes != array.nbytes:
        return None
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def read_bytes(attrs: list, ir) -> list[np.ndarray]:
    """The raw bytes of each elements attribute, in order."""
    out: list[np.ndarray | None] = [_numpy_bytes(a, ir) for a in attrs]
    rest = [i for i, array in enumerate(out) if array is None]
    if rest:
        serialized = _serialize_with_iree([attrs[i] for i in rest], ir)
        for i, array in zip(rest, serialized, strict=True):
            out[i] = array
    return out  # type: ignore[return-value]


def _serialize_with_iree(attrs: list, ir) -> list[np.ndarray]:
    """Bytes of attributes the bindings cannot read (dense_resource blobs, bf16): each put
    on a `util.global` of a scratch module, which is printed (with its resource blobs) and
    parsed into IREE's context, where `iree-io-export-parameters` writes a scratch archive."""
    from iree.compiler import ir as iree_ir
    from iree.compiler.passmanager import PassManager
    from iree.runtime import ParameterIndex

    carrier = ir.Module.create()
    unique: dict = {}
    with ir.InsertionPoint(carrier.body):
        for attr in attrs:
            if attr in unique:
                continue
            unique[attr] = f"c{len(unique)}"
            ir.Operation.create(
                "util.global",
                attributes={
                    "sym_name": ir.StringAttr.get(unique[attr]),
                    "sym_visibility": ir.StringAttr.get("private"),
                    "type": ir.TypeAttr.get(attr.type),
                    "initial_value": attr,
                },
            )
    if ir is iree_ir:  # IREE's context already: the pass runs on the carrier itself
        scratch_module, iree_context = carrier, carrier.context
    else:
        iree_context = iree_ir.Context()
        scratch_module = _carry_over(carrier, iree_ir, iree_context)
    with tempfile.TemporaryDirectory(prefix="frontend-mess-params.") as scratch:
        archive = Path(scratch) / "constants.irpa"
        pipeline = f'builtin.module(iree-io-export-parameters{{path="{archive}" minimum-size=0}})'
        with iree_context:
            try:
                PassManager.parse(pipeline).run(scratch_module.operation)
            except Exception as exc:  # an attribute IREE cannot serialize
                raise FrontendError(f"IREE cannot serialize the module's constants: {exc}") from exc
        index = ParameterIndex()
        index.load(str(archive))  # mapped: the copies below are the only ones
        entries = dict(index.items())
        by_name = {
            name: np.frombuffer(entries[name].file_view, dtype=np.uint8).copy()
            for name in unique.values()
        }
        del entries, index
    return [by_name[unique[attr]] for attr in attrs]


def _carry_over(carrier, iree_ir, iree_context):
    """The carrier module in IREE's MLIR: as bytecode (4x faster than text for resnet18's
    47 MB, and IREE 3.13 reads the bytecode torch-mlir writes for a module of builtin
    attributes and generic ops), else as generic text, the form both MLIR builds read alike."""
    import io

    buffer = io.BytesIO()
    carrier.operation.write_bytecode(buffer)
    try:
        return iree_ir.Module.parse(buffer.getvalue(), iree_context)
    except Exception:  # noqa: BLE001  (a bytecode version IREE's MLIR does not read: text)
        pass
    text = carrier.operation.get_asm(print_generic_op_form=True)
    try:
        return iree_ir.Module.parse(text, iree_context)
    except Exception as exc:  # e.g. an elided blob (`dense_resource<__elided__>`)
        raise FrontendError(f"IREE cannot read the module's constants: {exc}") from exc


# -- the archive ----------------------------------------------------------------------------


def write_irpa(params: Parameters | Mapping[str, object], path: str | os.PathLike[str]) -> Path:
    """Write `params` (what `externalize` returned, or key -> array/bytes) as an IREE
    parameter archive at `path`, entries in the mapping's order. The archive is built under a
    temporary name in the same directory and renamed over `path`, so a reader never sees half
    of one; the same parameters always give the same bytes."""
    from iree.runtime import ParameterIndex

    arrays = params.arrays if isinstance(params, Parameters) else params
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    index = ParameterIndex()
    buffers = []  # the index refers to these until the archive is written
    for key, data in arrays.items():
        buffer = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        buffers.append(buffer)
        index.add_buffer(key, buffer)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=directory
        )
    except OSError as exc:
        exc.filename = str(target)  # the user's name, not a temporary one
        raise FrontendError(io_error_message(exc, "write")) from exc
    os.close(fd)
    try:
        index.create_archive_file(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # an ordinary file, not mkstemp's 0600
        os.replace(tmp, target)
    except (OSError, RuntimeError, ValueError) as exc:  # a full disk, a read-only directory
        Path(tmp).unlink(missing_ok=True)
        raise FrontendError(f"cannot write {target}: {exc}") from exc
    except BaseException:  # Ctrl-C: no temporary left behind
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# -- the runtime ----------------------------------------------------------------------------


def parameters_module(instance, paths: Iterable[str | os.PathLike[str]], scope: str = PARAMS_SCOPE):
    """IREE's `io_parameters` VM module serving the archives at `paths` under `scope`, each
    mapped from disk, not read into memory. Add it to a `SystemContext` before the compiled
    module, which imports it: `context.add_vm_module(parameters_module(...))`, then the
    module. `instance` is the `VmInstance` the module is loaded in (`Config.vm_instance`)."""
    import iree.runtime as rt

    index = rt.ParameterIndex()
    for path in paths:
        try:
            index.load(str(path), mmap=True)
        except (RuntimeError, ValueError, OSError) as exc:  # missing, not an archive
            raise FrontendError(f"{path} is not a readable parameter archive: {exc}") from exc
    provider = index.create_provider(scope=scope)
    return rt.create_io_parameters_module(instance, provider)

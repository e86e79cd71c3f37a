"""A compiled function's signature: written into the module before iree-compile, read back
from the `.vmfb` at run time. Writer and reader live here together so the format is one fact.

IREE writes its own `iree.abi.declaration` only for some input dialects (not for torch), so
frontend-mess records each public function's tensor types in its `iree.reflection` under
SIGNATURE_KEY, as JSON, with the role of each output: `user`, or `mutation:NAME` for an input
the model changed in place (torch.export returns those first; `run` and `verify` drop them,
as torch-mlir's e2e harness does). Types are read with MLIR's Python bindings
(support/mlir_types.py), never with regular expressions.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np

SIGNATURE_KEY = "frontend_mess.signature"
USER = "user"
#: an argument's name, as IREE's own ABI spells it (IREE also writes it into its
#: `iree.abi.declaration`): `func.func @main(%arg0: tensor<1x8xi64> {iree.abi.name = "input_ids"})`
NAME_ATTR = "iree.abi.name"

#: element type names (as support/mlir_types.py spells them) -> NumPy dtypes. IREE's runtime
#: takes and returns ml_dtypes' arrays for bf16 and the f8 types.
ELEMENT_TYPES: dict[str, type] = {
    "f64": np.float64,
    "f32": np.float32,
    "f16": np.float16,
    "bf16": ml_dtypes.bfloat16,
    "f8E4M3FN": ml_dtypes.float8_e4m3fn,
    "f8E5M2": ml_dtypes.float8_e5m2,
    "f8E4M3FNUZ": ml_dtypes.float8_e4m3fnuz,
    "f8E5M2FNUZ": ml_dtypes.float8_e5m2fnuz,
    "i64": np.int64,
    "i32": np.int32,
    "i16": np.int16,
    "i8": np.int8,
    "ui8": np.uint8,
    "ui16": np.uint16,
    "ui32": np.uint32,
    "ui64": np.uint64,
    "i1": np.bool_,
}


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int | None, ...]  # None: dynamic
    dtype: str

    def __str__(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{dims}x{self.dtype}" if dims else self.dtype

    def accepts(self, array: np.ndarray) -> bool:
        if ELEMENT_TYPES.get(self.dtype) != array.dtype.type:
            return False
        if len(self.shape) != array.ndim:
            return False
        return all(d is None or d == n for d, n in zip(self.shape, array.shape, strict=True))

    def random(self, rng: np.random.Generator, dynamic_size: int = 1) -> np.ndarray:
        """Random values of this type; a dynamic dim takes `dynamic_size`."""
        shape = tuple(dynamic_size if d is None else d for d in self.shape)
        dtype = ELEMENT_TYPES[self.dtype]
        if np.issubdtype(dtype, np.floating) or np.dtype(dtype).kind == "V":  # ml_dtypes floats
            return rng.standard_normal(shape).astype(dtype)
        if dtype == np.bool_:
            return rng.integers(0, 2, shape).astype(np.bool_)
        return rng.integers(0, 2, shape).astype(dtype)


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorType, ...]
    outputs: tuple[TensorType, ...]
    #: one per output: `user`, or `mutation:NAME`; empty when unknown (all user outputs).
    roles: tuple[str, ...] = field(default=())
    #: one per input (`input_ids`, `pixel_values`), from the arguments' NAME_ATTR; empty
    #: when the path recorded none.
    names: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        inputs = [str(t) for t in self.inputs]
        if len(self.names) == len(inputs):
            inputs = [f"{n}: {t}" for n, t in zip(self.names, inputs, strict=True)]
        return f"({', '.join(inputs)}) -> ({', '.join(map(str, self.outputs))})"

    def user_outputs(self, count: int) -> list[int]:
        """Indices of the model's own outputs among `count` results."""
        if len(self.roles) != count:
            return list(range(count))
        return [i for i, role in enumerate(self.roles) if role == USER]

    @property
    def has_f64(self) -> bool:
        return any(t.dtype == "f64" for t in (*self.inputs, *self.outputs))

    @property
    def has_low_precision(self) -> bool:
        """Takes or returns f16 or bf16 tensors (a --dtype model)."""
        return any(t.dtype in ("f16", "bf16") for t in (*self.inputs, *self.outputs))

    def to_json(self) -> str:
        def tensors(types):
            return [[list(t.shape), t.dtype] for t in types]

        data = {"inputs": tensors(self.inputs), "outputs": tensors(self.outputs)}
        if self.roles:
            data["roles"] = list(self.roles)
        if self.names:
            data["names"] = list(self.names)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Signature:
        data = json.loads(text)

        def tensors(items):
            return tuple(TensorType(tuple(shape), dtype) for shape, dtype in items)

        return cls(
            tensors(data["inputs"]),
            tensors(data["outputs"]),
            tuple(data.get("roles", ())),
            tuple(data.get("names", ())),
        )

    @classmethod
    def from_declaration(cls, declaration: str) -> Signature:
        """From IREE's own `iree.abi.declaration` (`sync func @main(%input0: tensor<8x16xf32>)
        -> (%output0: tensor<8x4xf32>)`), for modules frontend-mess did not compile: each
        `tensor<...>` in it is parsed as an MLIR type."""
        from iree.compiler import ir

        head, _, tail = declaration.partition("->")
        with ir.Context() as context:
            context.allow_unregistered_dialects = True
            return cls(_declared(head, ir), _declared(tail, ir))


def _declared(text: str, ir) -> tuple[TensorType, ...]:
    from frontend_mess.support.mlir_types import tensor_info

    found, start = [], text.find("tensor<")
    while start >= 0:
        depth, end = 0, start
        for end in range(start, len(text)):
            depth += {"<": 1, ">": -1}.get(text[end], 0)
            if depth == 0 and text[end] == ">":
                break
        info = tensor_info(ir.Type.parse(text[start : end + 1]), ir)
        if info is not None:
            found.append(TensorType(info.shape, info.element))
        start = text.find("tensor<", end)
    return tuple(found)


def read(reflection: dict) -> Signature | None:
    """The signature recorded in a function's reflection, or IREE's own declaration."""
    if SIGNATURE_KEY in reflection:
        return Signature.from_json(reflection[SIGNATURE_KEY])
    if reflection.get("iree.abi.declaration"):
        return Signature.from_declaration(reflection["iree.abi.declaration"])
    return None


def _tensor_types(types, ir) -> tuple[TensorType, ...]:
    from frontend_mess.support.mlir_types import tensor_info

    out = []
    for type_ in types:
        info = tensor_info(type_, ir)
        out.append(TensorType(info.shape, info.element) if info else TensorType((), str(type_)))
    return tuple(out)


def annotate(
    mlir: str | bytes, roles: dict[str, list[str]] | None = None
) -> tuple[str | bytes, dict[str, Signature]]:
    """Record each public function's signature (and output roles, by function name) in its
    `iree.reflection`, which IREE carries into the `.vmfb`. Returns the module (text stays
    text, bytecode stays bytecode) and the signatures. Input that IREE's MLIR cannot parse is
    returned unchanged with no signatures, for iree-compile to report."""
    from iree.compiler import ir

    try:
        context = ir.Context()
        context.allow_unregistered_dialects = True
        module = ir.Module.parse(mlir, context)
    except Exception:
        return mlir, {}
    signatures: dict[str, Signature] = {}
    with context:
        for op in module.body.operations:
            if op.operation.name != "func.func" or "sym_visibility" in op.attributes:
                continue
            function_type = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
            name = ir.StringAttr(op.attributes["sym_name"]).value
            outputs = _tensor_types(function_type.results, ir)
            function_roles = tuple((roles or {}).get(name, ()))
            if len(function_roles) != len(outputs):
                function_roles = ()
            inputs = _tensor_types(function_type.inputs, ir)
            signature = Signature(inputs, outputs, function_roles, _argument_names(op, ir))
            signatures[name] = signature
            entries = {SIGNATURE_KEY: ir.StringAttr.get(signature.to_json())}
            if "iree.reflection" in op.attributes:
                existing = ir.DictAttr(op.attributes["iree.reflection"])
                entries = {
                    existing[i].name: existing[i].attr for i in range(len(existing))
                } | entries
            op.attributes["iree.reflection"] = ir.DictAttr.get(entries)
    if isinstance(mlir, str):
        # Text stays text: IREE's MLIR writes an empty dense_resource blob (a tensor<0xi64>
        # ONNX constant) to bytecode that it then refuses to read ("expected alignment to be
        # a power-of-two"), which broke ALBERT through ONNX. notes/iree.md.
        return str(module), signatures
    buffer = io.BytesIO()
    module.operation.write_bytecode(buffer)
    return buffer.getvalue(), signatures


def _argument_names(op, ir) -> tuple[str, ...]:
    """Each argument's NAME_ATTR, or () unless every argument has one."""
    if "arg_attrs" not in op.attributes:
        return ()
    names = []
    for attrs in ir.ArrayAttr(op.attributes["arg_attrs"]):
        attrs = ir.DictAttr(attrs)
        if NAME_ATTR not in attrs:
            return ()
        names.append(ir.StringAttr(attrs[NAME_ATTR]).value)
    return tuple(names)


def name_arguments(module: object, names: dict[str, list[str]]) -> None:
    """Give each public function's arguments their names (NAME_ATTR), in place: `names` maps
    a function name to one name per argument (a single entry names a single function
    whatever it is called, as an ONNX graph's `main_graph`). A function whose argument count
    differs (an exporter dropped an unused input) is left unnamed rather than misnamed. The
    module may come from any MLIR build (torch-mlir's, IREE's): its own `ir` is used."""
    import importlib

    if not names:
        return
    ir = importlib.import_module(type(module).__module__)
    body = module.body if hasattr(module, "body") else module.regions[0].blocks[0]  # a module op
    functions = [
        op
        for op in body.operations
        if op.operation.name == "func.func" and "sym_visibility" not in op.attributes
    ]
    with module.context:
        for op in functions:
            symbol = ir.StringAttr(op.attributes["sym_name"]).value
            given = names.get(symbol)
            if given is None and len(names) == 1 and len(functions) == 1:
                given = next(iter(names.values()))
            count = len(ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value).inputs)
            if not given or len(given) != count:
                continue
            existing = (
                [ir.DictAttr(a) for a in ir.ArrayAttr(op.attributes["arg_attrs"])]
                if "arg_attrs" in op.attributes
                else [ir.DictAttr.get({}) for _ in range(count)]
            )
            merged = []
            for attrs, name in zip(existing, given, strict=True):
                entries = {attrs[i].name: attrs[i].attr for i in range(len(attrs))}
                entries[NAME_ATTR] = ir.StringAttr.get(name)
                merged.append(ir.DictAttr.get(entries))
            op.attributes["arg_attrs"] = ir.ArrayAttr.get(merged)


def element_type_name(dtype) -> str:
    """NumPy dtype -> the element type name signatures use (`float32` -> `f32`)."""
    for name, numpy_type in ELEMENT_TYPES.items():
        if np.dtype(numpy_type) == np.dtype(dtype):
            return name
    return str(dtype)


def dtype_of(name: str) -> np.dtype | None:
    """Element type name -> NumPy dtype (`f32` -> float32), None if unknown."""
    return np.dtype(ELEMENT_TYPES[name]) if name in ELEMENT_TYPES else None

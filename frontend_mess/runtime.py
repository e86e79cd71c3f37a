"""Running a `.vmfb` with IREE's runtime, with the call checked against the function's
signature first (IREE's own error for a wrong shape is an opaque status code)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .errors import FrontendError, first_lines

# IREE ABI element types -> NumPy dtypes.
_ELEMENT_TYPES = {
    "f64": np.float64,
    "f32": np.float32,
    "f16": np.float16,
    # IREE's runtime takes and returns ml_dtypes' arrays for these.
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
_TENSOR = re.compile(r"tensor<((?:[0-9?]+x)*)([a-zA-Z0-9]+)>")  # f8E4M3FN has capitals


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int | None, ...]  # None: dynamic
    dtype: str

    def __str__(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{dims}x{self.dtype}" if dims else self.dtype

    def accepts(self, array: np.ndarray) -> bool:
        if _ELEMENT_TYPES.get(self.dtype) != array.dtype.type:
            return False
        if len(self.shape) != array.ndim:
            return False
        return all(d is None or d == n for d, n in zip(self.shape, array.shape, strict=True))

    def random(self, rng: np.random.Generator) -> np.ndarray:
        shape = tuple(1 if d is None else d for d in self.shape)
        dtype = _ELEMENT_TYPES[self.dtype]
        if np.issubdtype(dtype, np.floating) or np.dtype(dtype).kind == "V":  # ml_dtypes floats
            return rng.standard_normal(shape).astype(dtype)
        if dtype == np.bool_:
            return rng.integers(0, 2, shape).astype(np.bool_)
        return rng.integers(0, 2, shape).astype(dtype)


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorType, ...]
    outputs: tuple[TensorType, ...]

    @classmethod
    def parse(cls, declaration: str) -> Signature:
        """From IREE's `iree.abi.declaration`: `sync func @main(%input0: tensor<8x16xf32>) ->
        (%output0: tensor<8x4xf32>)`."""
        head, _, tail = declaration.partition("->")
        return cls(_tensors(head), _tensors(tail))

    def __str__(self) -> str:
        return f"({', '.join(map(str, self.inputs))}) -> ({', '.join(map(str, self.outputs))})"


def _tensors(text: str) -> tuple[TensorType, ...]:
    found = []
    for dims, element in _TENSOR.findall(text):
        shape = tuple(None if d == "?" else int(d) for d in dims.split("x") if d)
        found.append(TensorType(shape, element))
    return tuple(found)


class LoadedModule:
    """A vmfb loaded on one device, its functions callable with NumPy arrays."""

    def __init__(self, artifact, device: str) -> None:
        import iree.runtime as rt

        try:
            self.config = rt.Config(device)
        except Exception as exc:
            raise FrontendError(
                f"IREE runtime device {device!r} is not available here: {first_lines(exc, 1)}"
            ) from None
        source = artifact.path or "the compiled module"
        try:
            if artifact.path is not None:
                self.vm_module = rt.VmModule.mmap(self.config.vm_instance, str(artifact.path))
            else:
                self.vm_module = rt.VmModule.copy_buffer(self.config.vm_instance, artifact.data)
            self.context = rt.SystemContext(config=self.config)
            self.context.add_vm_module(self.vm_module)
        except Exception as exc:
            raise FrontendError(
                f"{source} is not a loadable IREE module for {device}: {first_lines(exc, 1)} "
                f"(is it a .vmfb compiled for this device?)"
            ) from None

    def functions(self) -> list[str]:
        return [f for f in self.vm_module.function_names if not f.startswith("__")]

    def default_function(self) -> str:
        """`main` if there is one, else the only synchronous function (ONNX graphs are named
        after the graph, `main_graph` for torch.onnx.export)."""
        names = [f for f in self.functions() if not f.endswith("$async")]
        if "main" in names or len(names) != 1:
            return "main"
        return names[0]

    def signature(self, function: str) -> Signature:
        if function not in self.functions():
            raise FrontendError(
                f"the module has no function {function!r}: it has {', '.join(self.functions())}"
            )
        from .compiler import SIGNATURE_KEY

        reflection = self.vm_module.lookup_function(function).reflection
        declaration = reflection.get(SIGNATURE_KEY) or reflection.get("iree.abi.declaration")
        if not declaration:
            raise FrontendError(
                f"the module does not record the signature of {function}: it was not compiled "
                f"by frontend-mess, so inputs cannot be checked"
            )
        return Signature.parse(declaration)

    def call(self, function: str | None, arrays) -> list[np.ndarray]:
        function = function or self.default_function()
        signature = self.signature(function)
        arrays = [np.asarray(a) for a in arrays]
        check_inputs(signature, arrays, function)
        invoke = self.context.modules[self.vm_module.name][function]
        result = invoke(*arrays)
        results = result if isinstance(result, tuple | list) else [result]
        return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in results]


def element_type_name(dtype) -> str:
    """NumPy dtype -> the element type name IREE signatures use (`float32` -> `f32`)."""
    for name, numpy_type in _ELEMENT_TYPES.items():
        if np.dtype(numpy_type) == np.dtype(dtype):
            return name
    return str(dtype)


def dtype_of(name: str) -> np.dtype | None:
    """IREE element type name -> NumPy dtype (`f32` -> float32), None if unknown."""
    return np.dtype(_ELEMENT_TYPES[name]) if name in _ELEMENT_TYPES else None


def check_inputs(signature: Signature, arrays: list[np.ndarray], function: str) -> None:
    if len(arrays) != len(signature.inputs):
        raise FrontendError(
            f"{function} takes {len(signature.inputs)} input(s) {signature}, got {len(arrays)}"
        )
    for index, (expected, array) in enumerate(zip(signature.inputs, arrays, strict=True)):
        if not expected.accepts(array):
            got = "x".join(map(str, array.shape)) + f"x{element_type_name(array.dtype)}"
            raise FrontendError(
                f"input {index} of {function} must be tensor<{expected}>, got {got} "
                f"(signature: {signature})"
            )


_RANDOM_INPUT = re.compile(r"^((?:\d+x)*)([a-z0-9]+)=random$")


def parse_run_input(text: str, rng: np.random.Generator) -> np.ndarray:
    """`x.npy`, or `1x3x224x224xf32=random` (IREE's own spelling for a typed tensor)."""
    match = _RANDOM_INPUT.match(text)
    if match:
        dims = tuple(int(d) for d in match[1].split("x") if d)
        if match[2] not in _ELEMENT_TYPES:
            raise FrontendError(
                f"unknown element type {match[2]!r} in {text!r}: use one of "
                f"{', '.join(_ELEMENT_TYPES)}"
            )
        return TensorType(dims, match[2]).random(rng)
    if text.endswith(".npy"):
        try:
            return np.load(text, allow_pickle=False)
        except FileNotFoundError:
            raise FrontendError(f"input file {text} does not exist") from None
        except (ValueError, OSError) as exc:
            raise FrontendError(
                f"{text} is not a readable .npy file: {first_lines(exc, 1)}"
            ) from None
    raise FrontendError(
        f"malformed --input {text!r}: give a .npy file or SHAPExDTYPE=random, "
        f"e.g. 1x3x224x224xf32=random"
    )

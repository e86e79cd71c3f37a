"""IREE behind onnx's `onnx.backend.base.Backend` interface, so that onnx's own `BackendTest`
runner (and anything else written against that interface) can drive frontend-mess's ONNX path:

    import onnx.backend.test
    from frontend_mess.onnx_backend import IreeBackend

    globals().update(onnx.backend.test.BackendTest(IreeBackend, __name__)
                     .include("test_relu_").test_cases)

`prepare` does what `frontend-mess compile model.onnx` does (opset upgrade, shape inference,
import, `iree-compile --iree-input-type=onnx`) and returns a rep whose `run` takes and returns
NumPy arrays in the ONNX graph's own element types. It is the same pipeline as every command
(pipeline.py); the matrix's `onnx-node` cells run its stages one by one, timed.
"""

from __future__ import annotations

import numpy as np
from onnx.backend.base import Backend, BackendRep

from frontend_mess.backend.signature import dtype_of, element_type_name
from frontend_mess.backend.targets import DEFAULT_DEVICE, target_spec
from frontend_mess.defaults import DEFAULT_ONNX_IMPORTER
from frontend_mess.sources import SourceOptions

# ONNX device names -> frontend-mess targets.
_TARGETS = {"CPU": "llvm-cpu", "CUDA": "cuda"}


def import_model(model, importer: str = DEFAULT_ONNX_IMPORTER, name: str = "") -> tuple:
    """(prepared ModelProto, raw MLIR text): the model as frontend-mess imports any ONNX file
    (the pipeline's load and import stages)."""
    from frontend_mess import pipeline

    loaded = pipeline.load(model, SourceOptions(onnx_importer=importer))
    return loaded.onnx, pipeline.for_iree(loaded).mlir


def compile_model(mlir: str, device: str = "CPU", name: str = "model"):
    """The pipeline's compile stage for raw ONNX MLIR."""
    from frontend_mess import pipeline

    iree_input = pipeline.IreeInput(mlir, "onnx", "onnx")
    return pipeline.compile_input(iree_input, target_spec(_TARGETS[device]), name=name)


class IreeBackendRep(BackendRep):
    """A compiled model loaded on one device; `run` converts to and from IREE's ABI types."""

    def __init__(self, artifact, model, device: str = "CPU") -> None:
        self.module = artifact.module(DEFAULT_DEVICE[_TARGETS[device]])
        self.function = self.module.default_function()
        self.signature = self.module.signature(self.function)
        self.output_dtypes = [_numpy_dtype(o) for o in model.graph.output]

    def run(self, inputs, **kwargs) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        arrays = [
            _to_abi(np.asarray(a), t) for a, t in zip(inputs, self.signature.inputs, strict=False)
        ]
        results = self.module.call(self.function, arrays)
        return tuple(
            _from_abi(r, d) for r, d in zip(results, self.output_dtypes, strict=False)
        ) + tuple(results[len(self.output_dtypes) :])


class SpecializingRep(BackendRep):
    """A model whose `bound` inputs must be constants to compile: each run's values of them
    are bound into the graph (onnx_specialize.bind) and that program compiled once, then kept
    for later runs with the same values."""

    def __init__(self, backend, model, device: str, bound: list[str]) -> None:
        self.backend, self.model, self.device, self.bound = backend, model, device, bound
        self.programs: dict[tuple, IreeBackendRep] = {}

    def run(self, inputs, **kwargs) -> tuple[np.ndarray, ...]:
        from frontend_mess.importers import onnx_specialize

        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        values, rest = onnx_specialize.split(self.model, self.bound, list(inputs))
        key = onnx_specialize.value_key(values)
        if key not in self.programs:
            bound = onnx_specialize.bind(self.model, values)
            self.programs[key] = self.backend._compiled(bound, self.device)
        return self.programs[key].run(rest)


class IreeBackend(Backend):
    """onnx backend: `prepare(model, device)` imports and compiles; `supports_device` says
    which ONNX devices this machine can run (CUDA only where IREE's runtime finds a GPU)."""

    importer = DEFAULT_ONNX_IMPORTER

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs) -> BackendRep:
        """Import and compile now; or, for a graph taking inputs the compiler needs as
        constants (onnx_specialize.py: a reduction's axes), at each run with new values."""
        super().prepare(model, device, **kwargs)
        from frontend_mess.importers.onnx_specialize import constant_inputs

        bound = constant_inputs(model)
        if bound:
            return SpecializingRep(cls, model, device, bound)
        return cls._compiled(model, device)

    @classmethod
    def _compiled(cls, model, device: str) -> IreeBackendRep:
        from frontend_mess import pipeline

        loaded = pipeline.load(model, SourceOptions(onnx_importer=cls.importer))
        spec = target_spec(_TARGETS[device])
        artifact = pipeline.compile_loaded(loaded, spec)
        return IreeBackendRep(artifact, loaded.onnx, device)

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        if device == "CPU":
            return True
        if device == "CUDA":
            from frontend_mess.backend.targets import gpu_present

            return gpu_present()
        return False


def _numpy_dtype(value_info) -> np.dtype | None:
    from onnx import helper

    if value_info.type.WhichOneof("value") != "tensor_type":
        return None
    return np.dtype(helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type))


def _to_abi(array: np.ndarray, expected) -> np.ndarray:
    """IREE's ABI drops signedness (`ui8` arrives as `i8`): reinterpret, never convert values."""
    if element_type_name(array.dtype) == expected.dtype or array.dtype.kind not in "ub":
        return array
    target = dtype_of(expected.dtype)
    if target is not None and target.itemsize == array.dtype.itemsize:
        return array.view(target)
    return array


def _from_abi(array: np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    if dtype is None or array.dtype == dtype:
        return array
    if dtype == np.bool_:
        return array.astype(np.bool_)
    if array.dtype.kind in "iu" and dtype.kind in "iu" and array.dtype.itemsize == dtype.itemsize:
        return array.view(dtype)
    return array

"""Running a `.vmfb` with IREE's runtime, with the call checked against the function's
signature first (IREE's own error for a wrong shape is an opaque status code)."""

from __future__ import annotations

import functools
import signal

import numpy as np

from frontend_mess.backend.signature import (
    ELEMENT_TYPES,
    Signature,
    TensorType,
    element_type_name,
    read,
)
from frontend_mess.shapes import parse_input_spec
from frontend_mess.support.errors import FrontendError, RunError, first_lines
from frontend_mess.support.paths import input_file

#: what IREE says when a module whose weights are in a parameter archive is loaded without
#: one: no io_parameters module at all, or one that has no archive for the module's scope.
_NO_ARCHIVE = (
    "required module 'io_parameters' not registered",
    "no provider registered that handles scopes",
)


_configured = False


def configure_runtime(*flags: str) -> None:
    """IREE's runtime flags (targets.RUNTIME_FLAGS, then `flags`), set before the process's
    first device: IREE reads them when it creates a driver's task pool, and only then."""
    global _configured
    import iree.runtime as rt

    from frontend_mess.backend.targets import RUNTIME_FLAGS

    if flags or not _configured:
        rt.flags.parse_flags(*RUNTIME_FLAGS, *flags)
    _configured = True


class LoadedModule:
    """A vmfb loaded on one device, its functions callable with NumPy arrays."""

    def __init__(self, artifact, device: str) -> None:
        import iree.runtime as rt

        self._signatures: dict[str, Signature] = {}
        self._artifact = artifact
        configure_runtime()
        try:
            self.config = rt.Config(device)
            self.device = device
        except Exception as exc:
            raise FrontendError(
                f"IREE runtime device {device!r} is not available here: {first_lines(exc, 1)}"
            ) from None
        source = artifact.path or "the compiled module"
        params = None
        if artifact.parameters:  # before the module, which imports it
            from frontend_mess.backend.params import parameters_module

            params = parameters_module(self.config.vm_instance, artifact.parameters)
        try:
            if artifact.path is not None:
                self.vm_module = rt.VmModule.mmap(self.config.vm_instance, str(artifact.path))
            else:
                self.vm_module = rt.VmModule.copy_buffer(self.config.vm_instance, artifact.data)
            self.context = rt.SystemContext(config=self.config)
            if params is not None:
                self.context.add_vm_module(params)
            self.context.add_vm_module(self.vm_module)
        except Exception as exc:
            if any(sign in str(exc) for sign in _NO_ARCHIVE):
                raise FrontendError(
                    f"{source} reads its weights from a parameter archive that was not given: "
                    f"pass it with --params FILE.irpa (what compile wrote beside it)"
                ) from None
            if "parameter" in str(exc).lower() and artifact.parameters:
                raise FrontendError(
                    f"{source} and its parameter archive "
                    f"{', '.join(map(str, artifact.parameters))} do not fit: "
                    f"{first_lines(exc, 1)} (were they compiled together?)"
                ) from None
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
        if function.endswith("$async"):
            raise FrontendError(
                f"{function} is the asynchronous form IREE adds (it takes fences): call "
                f"{function.removesuffix('$async')}"
            )
        if function not in self.functions():
            raise FrontendError(
                f"the module has no function {function!r}: it has {', '.join(self.functions())}"
            )
        if function in self._signatures:  # read once: call() asks on every call
            return self._signatures[function]
        signature = read(dict(self.vm_module.lookup_function(function).reflection))
        if signature is None:
            raise FrontendError(
                f"the module does not record the signature of {function}: it was not compiled "
                f"by frontend-mess, so inputs cannot be checked"
            )
        self._signatures[function] = signature
        return signature

    def call(self, function: str | None, arrays, *, user_only: bool = True) -> list[np.ndarray]:
        """Call `function` on NumPy arrays. With `user_only`, outputs that are inputs the model
        mutated in place (signature roles) are dropped: what the model itself returns."""
        function = function or self.default_function()
        signature = self.signature(function)
        arrays = [np.asarray(a) for a in arrays]
        check_inputs(signature, arrays, function)
        if ISOLATE.enabled:
            arrays = _call_in_child(self._artifact, self.device, function, arrays)
        else:
            arrays = self._invoke(function, arrays)
        if user_only:
            arrays = [arrays[i] for i in signature.user_outputs(len(arrays))]
        return arrays

    def _invoke(self, function: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
        invoke = self.context.modules[self.vm_module.name][function]
        try:
            result = invoke(*arrays)
        except Exception as exc:  # IREE raises RuntimeError/ValueError with a status code
            raise RunError(
                f"IREE's runtime failed running {function} on {self.device}: {first_lines(exc, 1)}"
            ) from exc
        results = result if isinstance(result, tuple | list) else [result]
        # Copies: `to_host()` maps the device buffer, and once its buffer view is dropped the
        # allocator may hand that memory to a later call's result, rewriting an array the
        # caller still holds (greedy decoding's logits changed under it two steps on;
        # tests/unit/test_generation.py::test_generate_on_the_artifact_equals_transformers).
        return [np.array(r.to_host() if hasattr(r, "to_host") else r) for r in results]


class _Isolation:
    """Whether calls run in a child process (the CLI's `run` and `verify` turn it on)."""

    enabled = False


ISOLATE = _Isolation()
# What a signal that kills a call usually means, for the one error line.
_SIGNAL_HINTS = {
    signal.SIGILL: "an instruction this CPU lacks: was it compiled for another CPU (--cpu)?",
    signal.SIGSEGV: "a segmentation fault in the compiled code (an IREE bug, or a dispatch "
    "whose stack outgrew the worker's: see targets.RUNTIME_FLAGS; --cpu generic avoids some, "
    "notes/matrix.md)",
    signal.SIGBUS: "a bus error in the compiled code",
    signal.SIGFPE: "an arithmetic fault in the compiled code",
    signal.SIGABRT: "IREE's runtime aborted",
}


def _child_call(artifact, device: str, job, connection) -> None:
    try:
        connection.send(("ok", job(LoadedModule(artifact, device))))
    except FrontendError as exc:
        connection.send(("error", type(exc).__name__, exc.message))
    except Exception as exc:  # noqa: BLE001  (reported in the parent as a run failure)
        connection.send(("error", "RunError", f"{type(exc).__name__}: {first_lines(exc, 1)}"))
    finally:
        connection.close()


def _invoke_job(function: str, arrays, module: LoadedModule) -> list[np.ndarray]:
    return module._invoke(function, arrays)


def _call_in_child(artifact, device: str, function: str, arrays) -> list[np.ndarray]:
    return run_in_child(
        artifact, device, functools.partial(_invoke_job, function, arrays), function
    )


def run_in_child(artifact, device: str, job, what: str):
    """`job(LoadedModule)` in a fresh child process (spawned: IREE's worker threads do not
    survive a fork), its result returned: compiled code that crashes (SIGILL for a CPU this
    host is not, SIGSEGV) kills the child, and the parent reports it as one line instead of
    dying with it. `job` must pickle (a module-level function, or a partial of one); `run` and
    `verify` make one child per call, `generate` one for the whole decoding loop."""
    import multiprocessing

    from frontend_mess.support import errors

    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child_call, args=(artifact, device, job, send))
    child.start()
    send.close()
    try:
        reply = receive.recv()
    except EOFError:
        reply = None
    child.join()
    if reply is None:
        code = child.exitcode or 0
        name = signal.Signals(-code).name if code < 0 else f"exit {code}"
        hint = _SIGNAL_HINTS.get(-code, "") if code < 0 else ""
        raise RunError(
            f"IREE's runtime crashed running {what} on {device} ({name}"
            f"{': ' + hint if hint else ''})"
        )
    if reply[0] == "ok":
        return reply[1]
    raise getattr(errors, reply[1], RunError)(reply[2])


def check_inputs(signature: Signature, arrays: list[np.ndarray], function: str) -> None:
    if len(arrays) != len(signature.inputs):
        raise FrontendError(
            f"{function} takes {len(signature.inputs)} input(s) {signature}, got {len(arrays)}"
        )
    for index, (expected, array) in enumerate(zip(signature.inputs, arrays, strict=True)):
        if not expected.accepts(array):
            got = "x".join(map(str, array.shape)) + f"x{element_type_name(array.dtype)}"
            named = f" ({signature.names[index]})" if signature.names else ""
            raise FrontendError(
                f"input {index}{named} of {function} must be tensor<{expected}>, got {got} "
                f"(signature: {signature})"
            )


def place_named_inputs(texts: list[str], signature: Signature, function: str) -> list[str]:
    """`--input NAME=VALUE`s put in the function's input order by the names its signature
    records; positional `--input`s are returned as they are. Mixing the two, naming an input
    twice, an unknown or missing name, or names for a module that records none is one error."""
    named = {}
    for text in texts:
        name, sep, value = text.partition("=")
        # NAME=... where NAME is one of the module's inputs (ONNX's `input:0` too), or any
        # prefix that is not a shape: `1x3xf32=random` and the scalar `f32=random` are shapes
        is_shape = name[:1].isdigit() or (value == "random" and name in ELEMENT_TYPES)
        if sep and value and (name in signature.names or not is_shape):
            if name in named:
                raise FrontendError(f"--input {name}= is given twice")
            named[name] = value
    if not named:
        return texts
    if len(named) != len(texts):
        raise FrontendError("--input: name every input (NAME=FILE) or none of them")
    return in_signature_order(named, signature, function)


def in_signature_order(named: dict, signature: Signature, function: str) -> list:
    """Inputs given by name, in the order of the names the function's signature records; a
    module that records none, an unknown or a missing name is one error (`run --input
    NAME=...` and `Artifact.run(name=...)` alike)."""
    if not signature.names:
        raise FrontendError(
            f"{function} records no input names (an .mlir source, or a path that keeps none): "
            f"give its {len(signature.inputs)} input(s) in order, without NAME="
        )
    unknown = [n for n in named if n not in signature.names]
    missing = [n for n in signature.names if n not in named]
    if unknown or missing:
        problem = f"no input {', '.join(unknown)}" if unknown else f"{', '.join(missing)} missing"
        raise FrontendError(
            f"--input: {function} has {problem}; its inputs are {', '.join(signature.names)}"
        )
    return [named[n] for n in signature.names]


def as_declared(array: np.ndarray, expected: TensorType) -> np.ndarray:
    """A bf16 `.npy` as the bf16 array it holds: NumPy writes ml_dtypes' bfloat16 as raw
    2-byte records (`|V2`, ml_dtypes #41), so the signature's type says how to read them."""
    if expected.dtype == "bf16" and array.dtype.kind == "V" and array.dtype.itemsize == 2:
        return array.view(ELEMENT_TYPES["bf16"])
    return array


def parse_run_input(text: str, rng: np.random.Generator) -> np.ndarray:
    """`x.npy`, or a random tensor: `1x3x224x224xf32=random` (IREE's own spelling), or the
    spelling `--input-shape` takes, `1x3x224x224:f32` (with or without `=random`)."""
    if text.endswith(".npy"):
        return read_npy(text)
    try:
        spec = parse_input_spec(text.removesuffix("=random"))
    except FrontendError as exc:
        if not str(exc).startswith("malformed"):  # well-formed, but too large or unknown dtype
            raise FrontendError(f"--input {text!r}: {exc}") from exc
        raise FrontendError(
            f"malformed --input {text!r}: give a .npy file or SHAPExDTYPE=random, "
            f"e.g. 1x3x224x224xf32=random or 2x16:i64"
        ) from exc
    return TensorType(spec.shape, spec.iree_dtype).random(rng)


def read_npy(name: str) -> np.ndarray:
    """A `.npy` input, its header checked against the file before NumPy allocates anything:
    an empty file, a header that claims 10^15 elements in a few bytes, or an object array
    (a pickle, which is never loaded) is one clear error."""
    from frontend_mess.shapes import check_elements

    path = input_file(name, "input file")
    bad = f"{path} is not a usable .npy file"
    try:
        with path.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(handle)
            data_offset = handle.tell()
    except (ValueError, EOFError, OSError, SyntaxError) as exc:
        raise FrontendError(f"{bad}: {first_lines(exc, 1)}") from None
    if dtype.hasobject:
        raise FrontendError(f"{bad}: it holds Python objects (a pickle), which are never loaded")
    try:
        check_elements(tuple(shape), "x".join(map(str, shape)) or "a scalar")
    except FrontendError as exc:
        raise FrontendError(f"{bad}: {exc}") from None
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = path.stat().st_size - data_offset
    if actual < expected:
        raise FrontendError(
            f"{bad}: its header promises {expected:,} bytes of data, the file has {actual:,}"
        )
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise FrontendError(f"{bad}: {first_lines(exc, 1)}") from exc
    # IREE reads the raw bytes: a big-endian or Fortran-order file must become native, C order
    return np.require(array.astype(array.dtype.newbyteorder("="), copy=False), requirements="C")

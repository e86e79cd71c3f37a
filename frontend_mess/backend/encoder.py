"""Weights packed at compile time: IREE's parameter encoder, run by frontend-mess.

With data tiling on, a matmul's weights are laid out in tiles for the ukernels. Inline
weights are constants and IREE packs them while compiling; weights in a parameter archive
were packed by the module's initializer on every load: 16-40 ms of resnet18's cold start here
(notes/store.md, notes/bench.md). iree-compile can split that work out instead
(`--iree-parameter-encoder-output-file`): the main module then reads already-packed weights
from a new scope, and a second module, the encoder, makes them from the original archive.
IREE runs the encoder with its `iree-encode-parameters` tool, which the 3.13 wheels do not
ship, so this module runs it with the Python runtime, following the encoder's own protocol
(functions tagged `iree.encode.function`: `indices` lists the output parameters and their
sizes, `steps` the work, `encode` does it, between two fences).

The output scope is frontend-mess's own (`model`), so a `.vmfb` still goes with one `.irpa`
and `run`, `--params` and `iree-run-module --parameters=model=FILE` work as before. The new
archive holds the packed weights and the original ones the module still reads: IREE's
`consolidate` mode leaves out weights that need no packing (an MLP's first weight here), so
they are copied over, and the weights the encoder consumed are left out unless the module
does not load without them (checked by loading it).
Tests: tests/unit/test_params.py (packed weights give the same outputs, and no repacking at load).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from frontend_mess.defaults import PARAMS_SCOPE
from frontend_mess.support.errors import CompileError, FrontendError, first_lines

#: the encoder is data movement whose layouts are already resolved in its IR: compiled for
#: any x86-64 it gives the same bytes, and runs on the machine that compiles
ENCODER_FLAGS = (
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=generic",
)
#: what the file name in the recorded flags reads as (the real one is a scratch file)
RECORDED_FILE = "encoder.mlir"


def compile_flags(path: str | Path) -> list[str]:
    """The iree-compile flags that split the weights' packing out into `path`."""
    return [
        f"--iree-parameter-encoder-output-file={path}",
        f"--iree-parameter-encoder-output-scope={PARAMS_SCOPE}",
        "--iree-parameter-encoder-mode=consolidate",
    ]


def recorded(flags: list[str]) -> list[str]:
    """`flags` as a manifest records them: the scratch path replaced by a stable name."""
    prefix = "--iree-parameter-encoder-output-file="
    return [f"{prefix}{RECORDED_FILE}" if f.startswith(prefix) else f for f in flags]


def _functions(module) -> dict[str, str]:
    """encode role (`indices`, `steps`, `encode`) -> function name, for the one target."""
    found: dict[str, str] = {}
    targets = set()
    for name in module.function_names:
        reflection = dict(module.lookup_function(name).reflection)
        role = reflection.get("iree.encode.function")
        if role in ("indices", "steps", "encode"):
            found[role] = name
            targets.add(reflection.get("iree.encode.target", ""))
    if len(targets) != 1 or set(found) != {"indices", "steps", "encode"}:
        raise FrontendError(
            f"IREE's parameter encoder module has an unexpected form (targets {sorted(targets)}, "
            f"functions {sorted(found)}): compile with --params inline"
        )
    return found


def _text(vlist, index: int) -> str:
    import iree.runtime as rt

    return bytes(memoryview(vlist.get_as_object(index, rt.VmBuffer))).decode()


def _outputs(result) -> dict[str, int]:
    """The `indices` result: [[scope, [[kind, key, _, length, alignment], ...]], ...]."""
    sizes: dict[str, int] = {}
    scopes = result.get_as_list(0)
    for s in range(scopes.size):
        entry = scopes.get_as_list(s)
        scope = _text(entry, 0)
        if scope != PARAMS_SCOPE:
            raise FrontendError(
                f"IREE's parameter encoder writes scope {scope!r}, not {PARAMS_SCOPE!r}"
            )
        params = entry.get_as_list(1)
        for p in range(params.size):
            param = params.get_as_list(p)
            if param.get_variant(0) != 1:  # 1: data; anything else is not one we can write
                raise FrontendError("IREE's parameter encoder asks for a non-data parameter")
            sizes[_text(param, 1)] = int(param.get_variant(3))
    return sizes


def _consumed(encoder: str | bytes) -> set[str]:
    """The parameter keys the encoder reads (`stream.async.parameter.load` of a constant
    key), read with IREE's MLIR bindings."""
    from iree.compiler import ir

    keys: set[str] = set()

    def visit(op):
        if op.name == "stream.async.parameter.load":
            # `.operation`: an OpView's `.name` is its op's `name` attribute where it has
            # one (None on util.buffer.constant), not the op's name
            owner = op.opview.source_key.owner.operation
            if owner.name == "util.buffer.constant":
                keys.add(ir.StringAttr(owner.attributes["value"]).value)
        return ir.WalkResult.ADVANCE

    ir.Module.parse(encoder, ir.Context()).operation.walk(visit)
    return keys


def _loads(module_data: bytes, archive: Path) -> bool:
    """Whether the compiled module loads (every parameter it reads found) with `archive`."""
    import iree.runtime as rt

    from frontend_mess.backend.params import parameters_module

    try:
        config = rt.Config("local-sync")
        context = rt.SystemContext(config=config)
        context.add_vm_module(parameters_module(config.vm_instance, [archive]))
        context.add_vm_module(rt.VmModule.copy_buffer(config.vm_instance, module_data))
    except (RuntimeError, ValueError):
        return False
    return True


def encode(encoder: str | bytes, archives: list[Path], module_data: bytes) -> bytes:
    """Run the encoder module (MLIR, as iree-compile wrote it) on the weights in `archives`;
    the bytes of the archive the compiled module (`module_data`) reads."""
    import iree.runtime as rt
    import numpy as np
    from iree.compiler.tools import CompilerToolError, compile_str

    try:
        vmfb = compile_str(encoder, extra_args=list(ENCODER_FLAGS))
    except CompilerToolError as exc:
        raise CompileError(
            f"IREE failed compiling its parameter encoder: {first_lines(exc, 1)} "
            f"(compile with --params inline to avoid it)",
            phase="codegen",
            flags=ENCODER_FLAGS,
            diagnostics=str(exc),
        ) from exc
    from frontend_mess.backend.runtime import configure_runtime

    configure_runtime()
    config = rt.Config("local-task")
    instance = config.vm_instance
    module = rt.VmModule.copy_buffer(instance, vmfb)
    roles = _functions(module)
    index = rt.ParameterIndex()
    for archive in archives:
        index.load(str(archive), mmap=True)

    def context():
        made = rt.SystemContext(config=config)
        made.add_vm_module(
            rt.create_io_parameters_module(instance, index.create_provider(scope=PARAMS_SCOPE))
        )
        made.add_vm_module(module)
        return made.vm_context

    def call(vm_context, role: str, *args) -> object:
        arguments = rt.VmVariantList(len(args))
        for arg in args:
            if isinstance(arg, rt.VmVariantList):
                arguments.push_list(arg)
            else:
                arguments.push_ref(arg.ref)
        results = rt.VmVariantList(1)
        vm_context.invoke(module.lookup_function(roles[role]), arguments, results)
        return results

    try:
        first = context()
        sizes = _outputs(call(first, "indices"))
        steps = call(first, "steps").get_as_list(0)
        outputs = {key: np.zeros(size, dtype=np.uint8) for key, size in sizes.items()}
        for key, array in outputs.items():
            index.add_buffer(key, array, readable=True, writable=True)
        semaphore = config.device.create_semaphore(0)
        ready, done = rt.HalFence.create_at(semaphore, 0), rt.HalFence.create_at(semaphore, 1)
        call(context(), "encode", steps, ready, done)
        done.wait()
    except (RuntimeError, ValueError) as exc:  # IREE's runtime status, as an exception
        raise FrontendError(
            f"IREE's parameter encoder failed packing the weights: {first_lines(exc, 1)} "
            f"(compile with --params inline to avoid it)"
        ) from exc
    originals = [(k, e) for k, e in index.items() if k not in outputs]
    consumed = _consumed(encoder)
    with tempfile.TemporaryDirectory(prefix="frontend-mess-encoded.") as scratch:
        for keep_consumed in (False, True):
            packed = rt.ParameterIndex()
            for key, array in outputs.items():
                packed.add_buffer(key, array)
            for key, entry in originals:
                if keep_consumed or key not in consumed:
                    packed.add_buffer(key, entry.file_view)
            path = Path(scratch) / f"encoded{int(keep_consumed)}.irpa"
            packed.create_archive_file(str(path))
            if keep_consumed or _loads(module_data, path):
                return path.read_bytes()
    raise AssertionError("unreachable")

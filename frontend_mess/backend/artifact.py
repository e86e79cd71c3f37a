"""`Artifact`: a compiled IREE module, what it was compiled for and with, and how to run it.

Modelled on iree-turbine's export result: one object to save, inspect and run. Loaded from a
file, the `.vmfb` is memory-mapped (`VmModule.mmap`), not read into Python memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from frontend_mess.support.arrays import to_numpy
from frontend_mess.support.atomic import write_atomically
from frontend_mess.support.errors import FrontendError


@dataclass
class Artifact:
    data: bytes | None = None
    path: Path | None = None
    target: str = "llvm-cpu"
    flags: tuple[str, ...] = ()
    input_type: str = ""
    #: the import path it was compiled by (`--via`), where frontend-mess compiled it.
    via: str = ""
    #: the compiler's versions, read when first asked (reading package metadata takes 15 ms,
    #: a third of a small model's cold start: notes/bench.md)
    _tool_versions: dict = field(default_factory=dict, repr=False, compare=False)
    #: function name -> Signature, as recorded in the module (backend/signature.py).
    signatures: dict = field(default_factory=dict)
    #: the parameter archives (.irpa) its weights are in, where they are not in the module
    #: (`--params external`, backend/params.py); mapped from disk when the module is loaded.
    parameters: tuple[Path, ...] = ()
    #: the parameter encoder iree-compile split out (backend/encoder.py), until it has run
    encoder: bytes | None = field(default=None, repr=False)

    @property
    def tool_versions(self) -> dict:
        if not self._tool_versions:
            from frontend_mess.support.versions import tool_versions

            versions = tool_versions()
            self._tool_versions = {k: versions[k] for k in ("iree-base-compiler", "torch-mlir")}
        return self._tool_versions

    def __repr__(self) -> str:
        """Short: a notebook must not print a whole `.vmfb` as bytes."""
        where = f"path={str(self.path)!r}, " if self.path is not None else ""
        functions = ", ".join(f"{n}{s}" for n, s in self.signatures.items()) or "?"
        params = f", parameters={[str(p) for p in self.parameters]}" if self.parameters else ""
        return (
            f"Artifact({where}target={self.target or '?'!r}, {self.size:,} bytes, "
            f"input={self.input_type or '?'}{params}, functions: {functions})"
        )

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    @classmethod
    def load(cls, path: str | Path, parameters: tuple[str | Path, ...] = ()) -> Artifact:
        """A `.vmfb` file, with the parameter archives its weights are in (if any)."""
        from frontend_mess.backend.integrity import check_vmfb
        from frontend_mess.support.paths import input_file

        archives = tuple(input_file(p, "parameter archive") for p in parameters)
        return cls(path=check_vmfb(path), target="", parameters=archives)

    def save(self, path: str | Path) -> Path:
        if self.data is None:
            raise FrontendError("this artifact was loaded from a file; copy that file instead")
        data = self.data
        return write_atomically(path, lambda handle: handle.write(data))

    def module(self, device: str | None = None):
        """A `runtime.LoadedModule` on `device` (local-task, local-sync, cuda)."""
        from frontend_mess.backend.runtime import LoadedModule
        from frontend_mess.backend.targets import DEFAULT_DEVICE

        device = device or DEFAULT_DEVICE.get(self.target, "local-task")
        return LoadedModule(self, device)

    def run(
        self,
        *arrays: object,
        function: str | None = None,
        device: str | None = None,
        inputs: dict[str, object] | None = None,
        **named: object,
    ) -> list:
        """Call `function` on NumPy arrays (or torch tensors), in order or by the input names
        the signature records (`run(input_ids=ids, attention_mask=mask)`, or `inputs={...}`
        for names that are not Python identifiers or clash with `function`/`device`);
        returns the model's own outputs as NumPy arrays (mutated inputs are dropped:
        signature.py)."""
        module = self.module(device)
        named = {**(inputs or {}), **named}
        if named:
            from frontend_mess.backend.runtime import in_signature_order

            function = function or module.default_function()
            if arrays:
                raise FrontendError(
                    f"{function} takes its inputs in order or all by name; got "
                    f"{len(arrays)} in order and {', '.join(named)} by name"
                )
            arrays = in_signature_order(named, module.signature(function), function)
        arrays = [to_numpy(a) if hasattr(a, "detach") else a for a in arrays]
        return module.call(function, arrays)

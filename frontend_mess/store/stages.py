"""The pipeline's stages through the store, for one source and its options: what `import`,
`compile`, `verify`, `analyze` and every matrix cell call, so a stage is cached one way.

Each stage's key holds its input object's hash (the compile key holds the IREE input's
sha256, not the source), so a change that leaves a stage's input byte-identical still finds
that stage cached. The source is loaded (torch imported, the model built) only when a stage
has to be computed: a fully cached command never imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from frontend_mess.defaults import DEFAULT_PARAMS, PARAMS_SUFFIX
from frontend_mess.store.keys import NoIdentity, options_key, source_identity
from frontend_mess.store.manifest import Run, StageResult
from frontend_mess.store.objects import sha256_bytes
from frontend_mess.support.progress import QUIET, Progress


class Memo:
    """One source's stages. `source` is what `pipeline.load` takes; one with no stable
    identity (an `nn.Module`, an hf: hub id) computes every stage, unstored."""

    def __init__(
        self,
        run: Run,
        source,
        options,
        *,
        func_name: str = "main",
        example_args: Sequence | None = None,
        params: str = DEFAULT_PARAMS,
        progress: Progress = QUIET,
    ) -> None:
        self.run, self.source, self.options, self.params = run, source, options, params
        self.func_name, self.example_args, self.progress = func_name, example_args, progress
        identity = None
        if run.store is not None and example_args is None:
            identity = source_identity(source)
        try:
            self._options_key = options_key(options) if identity is not None else None
        except NoIdentity:
            identity = None
        self.identity = identity
        self._loaded = None
        #: what this process made already, by stage and choice: a stage asked twice (verify
        #: after compile) is made once, with a store or without.
        self._made: dict[tuple, object] = {}
        #: via -> the parameter archive its input's weights went to and its sha256 (None:
        #: inline). The compile stage packs those weights, so its key holds the digest (the
        #: IR only names them: two seeds give one IR, two archives).
        self._weights: dict[str | None, tuple[Path, str] | None] = {}
        if identity is not None:
            run.inputs = {
                "source": str(source),
                "identity": identity,
                "options": self._options_key,
            }

    @property
    def cacheable(self) -> bool:
        return self.identity is not None

    def loaded(self):
        """The load stage, done once and only when a stage must be computed."""
        if self._loaded is None:
            from frontend_mess.pipeline import load, report_choices

            self._loaded = load(
                self.source,
                self.options,
                example_args=self.example_args,
                func_name=self.func_name,
                progress=self.progress,
            )
            report_choices(self._loaded, self.progress)
        return self._loaded

    def _parts(self, **extra) -> dict:
        return {"source": self.identity, "options": self._options_key, **extra}

    def _stage(self, stage, parts, compute, *, code=(), label="") -> StageResult:
        if not self.cacheable:
            outputs, meta = compute()
            return StageResult(stage, "", outputs, {}, meta, cached=False)
        result = self.run.stage(stage, parts, compute, code=code, label=label)
        if result.cached:
            for choice, value in result.meta.get("choices", {}).items():
                self.progress.note(f"{choice}: {value}")
        return result

    # -- import ----------------------------------------------------------------------------

    def imported(
        self, kind: str, *, bytecode: bool, strip_weights: bool = False, params: str = "inline"
    ) -> StageResult:
        """`import --to KIND`: outputs `KIND.mlir` (or `.mlirbc`, or `fx.txt`), `params.irpa`
        where the weights went out (`params`: auto, inline, external) and `stats.txt` (the op
        histogram)."""

        def compute():
            from frontend_mess.pipeline import module_bytecode, to_kind

            model = to_kind(self.loaded(), kind, self.progress)
            if strip_weights and model.mlir_module is not None:
                from frontend_mess.analysis.strip import strip_weights as strip

                strip(model.mlir_module)
            outputs = {}
            if model.mlir_module is not None and params != "inline":
                outputs.update(_externalized(model.mlir_module, params, self.progress))
            if model.mlir_module is None:
                name, data = "fx.txt", model.text.encode()
            elif bytecode:
                name, data = f"{kind}.mlirbc", module_bytecode(model.mlir_module)
            else:
                text = model.text
                name, data = f"{kind}.mlir", (text if text.endswith("\n") else text + "\n").encode()
            outputs = {name: data, **outputs, "stats.txt": model.format_stats().encode()}
            return outputs, {"choices": dict(model.choices)}

        parts = self._parts(
            kind=kind,
            bytecode=bytecode,
            strip=strip_weights,
            func_name=self.func_name,
            params=params,
        )
        return self._stage("import", parts, compute, label=f"import {kind}")

    # -- compile ---------------------------------------------------------------------------

    def iree_input(self, via: str | None):
        """What iree-compile takes by `via` (pipeline.for_iree), as a stage: (IreeInput, the
        sha256 of its MLIR)."""
        if ("iree-input", via) not in self._made:
            self._made["iree-input", via] = self._iree_input(via)
        return self._made["iree-input", via]

    def _iree_input(self, via: str | None):
        from frontend_mess.pipeline import IreeInput

        def compute():
            from frontend_mess.pipeline import externalize_input, for_iree

            loaded = self.loaded()
            made, archive = externalize_input(
                for_iree(loaded, via, self.progress), self.params, self.progress
            )
            text = isinstance(made.mlir, str)
            data = made.mlir.encode() if text else made.mlir
            name = "input.mlir" if text else "input.mlirbc"
            outputs = {}
            if loaded.programs:  # what torch.export made, for a person to read and diff
                outputs["fx.txt"] = _fx_text(loaded.programs).encode()
            outputs[name] = data
            if archive is not None:
                outputs["params.irpa"] = archive
            meta = {
                "input_type": made.input_type,
                "via": made.via,
                "roles": made.roles,
                "text": text,
                "choices": dict(loaded.choices),
            }
            return outputs, meta

        parts = self._parts(via=via, params=self.params, func_name=self.func_name)
        result = self._stage(
            "iree-input", parts, compute, code=("import",), label="import for IREE"
        )
        data = next(v for n, v in result.outputs.items() if n.startswith("input."))
        meta = result.meta
        mlir = data.decode() if meta["text"] else data
        made = IreeInput(mlir, meta["input_type"], meta["via"], meta.get("roles") or {})
        archive = self._archive_file(result)
        self._weights[via] = None
        if archive is not None:
            stored = result.digests.get("params.irpa")
            self._weights[via] = (archive, stored or sha256_bytes(result.outputs["params.irpa"]))
        return made, sha256_bytes(data)

    def _archive_file(self, result: StageResult, name: str = "params.irpa") -> Path | None:
        """Where the runtime maps the weights from: the store's object itself, or (without a
        store) a file in this process's scratch directory."""
        if name not in result.outputs:
            return None
        digest = result.digests.get(name)
        if digest and self.run.store is not None:
            return self.run.store.named(digest, PARAMS_SUFFIX)
        return scratch_file(name, result.outputs[name])

    def artifact(self, spec, via: str | None, *, name: str = "", keep_diagnostics=None):
        """The compile stage, keyed by the IREE input object, the flags and the host CPU
        (for `--cpu host`, whose code is this machine's)."""
        if ("compile", spec, via) not in self._made:
            made = self._artifact(spec, via, name=name, keep_diagnostics=keep_diagnostics)
            self._made["compile", spec, via] = made
        return self._made["compile", spec, via]

    def _artifact(self, spec, via: str | None, *, name: str, keep_diagnostics):
        iree_input, digest = self.iree_input(via)
        name = name or str(self.source)
        archive, weights = self._weights.get(via) or (None, None)

        def compute():
            from frontend_mess.backend.encoder import encode
            from frontend_mess.pipeline import compile_input

            made = compile_input(
                iree_input,
                spec,
                name=name,
                keep_diagnostics=keep_diagnostics,
                pack_parameters=archive is not None,
                progress=self.progress,
            )
            outputs = _artifact_outputs(made, spec)
            if made.encoder is not None:  # the module reads packed weights: make them
                with self.progress.step("packing the weights (IREE's parameter encoder)"):
                    outputs[packed] = encode(made.encoder, [archive], made.data)
            return outputs, {"flags": list(made.flags), "input_type": made.input_type}

        packed = f"{spec.target}{PARAMS_SUFFIX}"  # the weights this .vmfb reads, packed
        parts = compile_parts(iree_input, digest, spec, weights)
        result = self._stage("compile", parts, compute, label=f"compile {spec.target}")
        if packed in result.outputs:  # packed for this module: they go with it
            archive = self._archive_file(result, packed)
        return _artifact_of(result, spec, iree_input.via, archive)

    # -- analyze ---------------------------------------------------------------------------

    def analysis(self, *, group_by: str | None, html: bool, strip: bool) -> StageResult:
        """`analyze`: `analysis.json`, the text report (`analysis.txt`, grouped by
        `group_by`), and where asked the HTML page and the weight-stripped linalg."""

        def compute():
            from frontend_mess.analysis import report
            from frontend_mess.analysis.analyze import analyze_module
            from frontend_mess.api import linalg_module

            module = linalg_module(self.source, self.options, self.progress)
            outputs = {}
            if strip:
                from frontend_mess.analysis.strip import strip_weights

                strip_weights(module)
                outputs["stripped.mlir"] = str(module).encode()
            with self.progress.step(f"analyzing {self.source}"):
                analysis = analyze_module(module, str(self.source))
            outputs["analysis.json"] = report.json_text(analysis).encode()
            outputs["analysis.txt"] = report.text(analysis, group_by).encode()
            if html:
                outputs["analysis.html"] = report.html_page(analysis).encode()
            return outputs, {}

        parts = self._parts(group_by=group_by, html=html, strip=strip)
        return self._stage("analyze", parts, compute, code=("import",), label="analyze")

    # -- tune ------------------------------------------------------------------------------

    def _tune_parts(self, spec, via: str | None) -> dict:
        """What a tuning result holds for: the source and options, the flags it was tuned
        from, the import path and weights mode, and this host (timings are the machine's,
        whatever CPU the code is for)."""
        from frontend_mess.backend.targets import host_cpu_key

        return self._parts(
            via=via,
            target=spec.target,
            flags=list(spec.flags),
            params=self.params,
            host=host_cpu_key(),
        )

    def tune(self, spec, via: str | None, compute, *, search: dict) -> StageResult:
        """`tune`: `tuned.json` (bench/tune.py TuneResult), computed by `compute()`, keyed also
        by how it searched (`search`: threads, candidates, rounds). The latest result for the
        source is also what `--preset tuned` finds (stage `tuned`, keyed without `search`)."""
        parts = {**self._tune_parts(spec, via), "search": search}
        result = self._stage("tune", parts, compute, label="tune")
        if self.cacheable and self.run.store is not None:
            key = self.run.key("tuned", self._tune_parts(spec, via))
            data = result.outputs["tuned.json"]
            try:
                self.run.store.record("tuned", key, {"tuned.json": data}, {"run": self.run.id})
            except OSError as exc:  # a full disk: the result is printed, not kept
                self.progress.note(f"warning: the tuned preset was not stored: {exc}")
        return result

    def tuned_flags(self, spec, via: str | None) -> list[str] | None:
        """The flags the latest stored `tune` of this source adds to `spec`'s, or None."""
        if not self.cacheable or self.run.store is None:
            return None
        key = self.run.key("tuned", self._tune_parts(spec, via))
        stored = self.run.store.lookup("tuned", key)
        if stored is None:
            return None
        data = self.run.store.read(stored.outputs["tuned.json"])
        return None if data is None else json.loads(data)["flags"]

    # -- verify ----------------------------------------------------------------------------

    def verify(self, spec, via, *, seed, rtol, atol, device=None, keep_diagnostics=None):
        """The run and compare stages, keyed by the `.vmfb` object, the source (the reference
        side), the input seed and the tolerances."""
        from frontend_mess.verify import VerifyReport, check_verifiable, verify_artifact

        if self.cacheable and self.identity["kind"] in ("mlir", "mlirbc", "onnx"):
            check_verifiable(self.loaded())  # refused before a compile, as without a store
        artifact = self.artifact(spec, via, keep_diagnostics=keep_diagnostics)
        if not self.cacheable:
            check_verifiable(self.loaded())

        def compute():
            loaded = self.loaded()
            check_verifiable(loaded)
            report = verify_artifact(
                loaded,
                artifact,
                seed=seed,
                rtol=rtol,
                atol=atol,
                device=device,
                progress=self.progress,
            )
            return {"verify.json": report.to_json().encode()}, {"ok": report.ok}

        parts = self._parts(
            vmfb=sha256_bytes(artifact.data),
            seed=seed,
            rtol=rtol,
            atol=atol,
            device=device,
        )
        result = self._stage("verify", parts, compute, code=("import",), label="verify")
        return VerifyReport.from_json(result.outputs["verify.json"].decode())


def _externalized(module, mode: str, progress: Progress) -> dict[str, bytes]:
    """An imported torch-mlir module's weights moved out (in place) where `mode` says so:
    {"params.irpa": the archive}, else {}."""
    from torch_mlir import ir

    from frontend_mess.backend.params import archive_bytes, for_mode

    with progress.step(f"--params {mode}: the weights to a parameter archive"):
        params = for_mode(mode, module, ir)
        return {"params.irpa": archive_bytes(params)} if params is not None else {}


_SCRATCH: list = []


def scratch_file(name: str, data: bytes) -> Path:
    """`data` in a file that lasts as long as this process (removed at exit)."""
    import tempfile

    if not _SCRATCH:
        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="frontend-mess-"))
    directory = Path(_SCRATCH[0].name)
    path = directory / f"{len(list(directory.iterdir()))}-{name}"
    path.write_bytes(data)
    return path


def _fx_text(programs: dict) -> str:
    return "".join(
        f"# function {name}\n{p.graph_module.print_readable(print_output=False)}\n"
        for name, p in programs.items()
    )


def flag_files(flags) -> dict[str, str]:
    """The files iree-compile flags name (`--iree-codegen-tuning-spec-path=t.mlir`, a
    transform library): by content, so an edited file is a new key."""
    from frontend_mess.store.keys import file_digest

    found = {}
    for flag in flags:
        _, _, value = str(flag).partition("=")
        path = Path(value)
        if value and path.is_file():
            found[flag] = file_digest(path)
    return found


def compile_parts(iree_input, digest: str, spec, weights: str | None = None) -> dict:
    """What a compile's key holds: the IREE input object's hash, the weights' (those the
    encoder packs), the input type and roles, the target, its flags and, for `--cpu host`,
    this host's CPU."""
    from frontend_mess.backend.targets import host_key_for

    return {
        "input": digest,
        "weights": weights,
        "input_type": iree_input.input_type,
        "roles": iree_input.roles,
        "target": spec.target,
        "flags": list(spec.flags),
        "host": host_key_for(spec.flags),
        "flag_files": flag_files(spec.flags),
    }


def _artifact_outputs(made, spec) -> dict[str, bytes]:
    signatures = {n: s.to_json() for n, s in made.signatures.items()}
    return {
        f"{spec.target}.vmfb": made.data,
        "signature.json": json.dumps(signatures, indent=1).encode(),
    }


def _artifact_of(result: StageResult, spec, via: str | None, archive: Path | None = None):
    from frontend_mess.backend.artifact import Artifact
    from frontend_mess.backend.signature import Signature

    signatures = json.loads(result.outputs["signature.json"])
    return Artifact(
        parameters=(archive,) if archive is not None else (),
        data=result.outputs[f"{spec.target}.vmfb"],
        target=spec.target,
        flags=tuple(result.meta["flags"]),
        input_type=result.meta["input_type"],
        via=via,
        signatures={n: Signature.from_json(s) for n, s in signatures.items()},
    )


#: what a stored compile failure (`compiled`) keeps of the CompileError
_FAILURE_FIELDS = ("message", "phase", "flags")


def compiled(run: Run, iree_input, spec, *, name: str, progress: Progress = QUIET):
    """(artifact, whether it was stored already): the compile stage of an IREE input with no
    source to key it by (an ONNX node case, whose cell record the matrix keeps but not its
    stages), keyed by the input itself and by
    `name` (its errors say it). iree-compile's own failure is stored as well and raised again:
    for one input, flags and tool versions it fails the same way each time, so the cells of
    the two ONNX importers, which give one IR, compile once. Running out of memory is the
    machine's limit, not the input's: it is raised, never stored.
    Tests: tests/unit/test_matrix.py::test_onnx_node_cells_of_one_ir_compile_once."""
    from frontend_mess.matrix.cell import is_out_of_memory
    from frontend_mess.pipeline import compile_input
    from frontend_mess.support.errors import CompileError

    data = iree_input.mlir.encode() if isinstance(iree_input.mlir, str) else iree_input.mlir

    def compute():
        try:
            made = compile_input(iree_input, spec, name=name, progress=progress)
        except CompileError as exc:
            if is_out_of_memory(exc.message) or is_out_of_memory(exc.diagnostics):
                raise
            failure = {f: getattr(exc, f) for f in _FAILURE_FIELDS}
            return {"failure.json": json.dumps(failure).encode()}, {}
        return _artifact_outputs(made, spec), {
            "flags": list(made.flags),
            "input_type": made.input_type,
        }

    parts = {**compile_parts(iree_input, sha256_bytes(data), spec), "name": name}
    result = run.stage("compile", parts, compute, label=f"compile {spec.target}")
    if "failure.json" in result.outputs:
        failure = json.loads(result.outputs["failure.json"])
        raise CompileError(failure.pop("message"), **failure)
    return _artifact_of(result, spec, iree_input.via), result.cached

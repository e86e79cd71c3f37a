"""What determines a stage's output, spelled as a key: the source's content, the options, the
stage's input object, the tool versions and flags, and frontend-mess's own code for that stage.

Computed without importing torch (a cached `import` must not pay torch's 4 s start): a
torchvision name is keyed by its name and torchvision's version, not by building the model.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from frontend_mess.store.objects import canonical, sha256_file

_PACKAGE = Path(__file__).resolve().parent.parent

#: the frontend-mess modules whose code decides each stage's output: a change to one of them
#: invalidates that stage (and those after it, whose keys hold its objects), and nothing else.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "import": (
        "defaults.py",
        "sources.py",
        "shapes.py",
        "pipeline.py",
        "imported.py",
        "importers/*.py",
        "support/mlir_types.py",
        "backend/params.py",
        "backend/signature.py",  # name_arguments: the input names written into the IR
        "analysis/strip.py",
    ),
    "compile": (
        "defaults.py",
        "backend/compiler.py",
        "backend/targets.py",
        "backend/signature.py",
        "backend/params.py",
        "backend/encoder.py",
        "store/stages.py",
        "support/mlir_types.py",
    ),
    "verify": (
        "defaults.py",
        "verify.py",
        "shapes.py",
        "backend/runtime.py",
        "backend/signature.py",
        "backend/params.py",
        "backend/artifact.py",
        "support/arrays.py",
    ),
    "analyze": ("api.py", "analysis/*.py", "analysis/templates/*"),
    "tune": ("bench/tune.py", "bench/timing.py", "bench/runtimes.py", "bench/run.py"),
    "cell": ("matrix/cell.py", "matrix/runner.py", "matrix/onnx_node.py", "onnx_backend.py"),
}

_CODE_CACHE: dict[str, str] = {}


def code_version(stage: str) -> str:
    """sha256 over the source files of the stage's modules (STAGE_CODE)."""
    if stage not in _CODE_CACHE:
        digest = hashlib.sha256()
        for pattern in STAGE_CODE[stage]:
            for path in sorted(_PACKAGE.glob(pattern)):
                digest.update(str(path.relative_to(_PACKAGE)).encode() + b"\0")
                digest.update(path.read_bytes())
        _CODE_CACHE[stage] = digest.hexdigest()
    return _CODE_CACHE[stage]


def key_of(parts: dict) -> str:
    return hashlib.sha256(canonical(parts)).hexdigest()


class NoIdentity(Exception):
    """A source or option file that is not a regular, readable file: no key is made (the
    stage that reads it says what is wrong), and nothing is read from it here (a FIFO would
    block, a device never end)."""


def file_digest(path: Path) -> str:
    """A regular file's sha256 (NoIdentity for anything else)."""
    try:
        if not path.is_file():
            raise NoIdentity(str(path))
        return sha256_file(path)
    except OSError as exc:
        raise NoIdentity(str(path)) from exc


def _tree(directory: Path) -> dict[str, str]:
    """Every file under a directory (an HF model: config, weights, tokenizer) by its hash."""
    return {
        str(p.relative_to(directory)): file_digest(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(directory).parts
    }


def source_identity(source: object) -> dict | None:
    try:
        return _identity(source)
    except NoIdentity:
        return None


def _identity(source: object) -> dict | None:
    """The content a source string names, or None where it has no stable identity (an
    `nn.Module` or `ModelProto` from the API, an `hf:` hub id): those run without the store.

    - a model file: its bytes and every `.py` beside it (what it can import);
    - `hf:DIR`, `hf-config:DIR_OR_FILE`: every file of the directory, or the file;
    - `.onnx`, `.mlir`, `.mlirbc`: the file's bytes (an ONNX file's external data is in the
      directory: its other files too);
    - a torchvision name: the name (torchvision's version is in every key).
    """
    from frontend_mess.importers import hf, pyfile

    if not isinstance(source, str | Path):
        return None
    source = str(source)
    if pyfile.looks_like_python_file(source):
        path, name = pyfile.split_source(source)
        return {"kind": "python", "file": file_digest(path), "name": name, "beside": _beside(path)}
    if hf.is_source(source):
        prefix = next(p for p in hf.PREFIXES if source.startswith(p))
        location = Path(source.removeprefix(prefix)).expanduser()
        if location.is_dir():
            return {"kind": prefix.rstrip(":"), "files": _tree(location)}
        if location.is_file():
            return {"kind": prefix.rstrip(":"), "file": file_digest(location)}
        return None  # a hub id: its files are wherever transformers' cache put them
    path = Path(source)
    if source.endswith((".onnx", ".mlir", ".mlirbc")):
        if not path.is_file():
            return None  # the load stage says what is wrong with it
        identity = {"kind": path.suffix.lstrip("."), "file": file_digest(path)}
        if source.endswith(".onnx"):
            identity["external"] = {
                name: file_digest(path.parent / name) for name in _external_data(path)
            }
        return identity
    return {"kind": "name", "name": source.removeprefix("torchvision:")}


#: the most bytes of files beside a model file that are hashed into its key; a directory
#: holding more (a home directory, a dataset) gives the source no identity: it runs unstored.
MAX_BESIDE_BYTES = 2 * 2**30


def _beside(path: Path) -> dict[str, str]:
    """What a model file can read or import besides itself: every regular file in its
    directory (a weights file it loads, a module it imports) and the `.py` files of the
    packages below it."""
    files = [p for p in sorted(path.parent.iterdir()) if p != path and p.is_file()]
    files += sorted(
        p for d in path.parent.iterdir() if (d / "__init__.py").is_file() for p in d.rglob("*.py")
    )
    if sum(p.stat().st_size for p in files) > MAX_BESIDE_BYTES:
        raise NoIdentity(str(path.parent))
    return {str(p.relative_to(path.parent)): file_digest(p) for p in files}


def _external_data(model: Path) -> list[str]:
    """The files an ONNX model keeps its tensors in (`external_data` locations), read from
    the model without loading them; a file that does not parse has none here (the load
    stage reports it)."""
    import onnx

    try:
        proto = onnx.load(str(model), load_external_data=False)
    except Exception:  # noqa: BLE001  (not ONNX: the load stage says so)
        return []
    from onnx.external_data_helper import _get_all_tensors  # subgraphs and tensor lists too

    tensors = list(_get_all_tensors(proto))
    names = {
        entry.value
        for tensor in tensors
        for entry in tensor.external_data
        if entry.key == "location"
    }
    return sorted(n for n in names if (model.parent / n).is_file())


def options_key(options) -> dict:
    """SourceOptions as a key's part: every field, weights files by content (NoIdentity
    where the weights file is not a regular file)."""
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    if fields.get("weights") is not None:
        fields["weights"] = file_digest(Path(fields["weights"]))
    if fields.get("task") is not None:  # `text-generation` and `causal-lm` are one model
        from frontend_mess.importers.hf import TASK_ALIASES

        fields["task"] = TASK_ALIASES.get(fields["task"], fields["task"])
    fields["input_specs"] = [str(s) for s in fields["input_specs"]]
    fields["dynamic_dims"] = [str(d) for d in fields["dynamic_dims"]]
    return fields

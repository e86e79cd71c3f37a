"""The content-addressed store: immutable objects named by their sha256, and action records
that map what determines a stage's output (its key) to the objects it produced.

Layout under the store's root (`default_root`, `--store DIR`, `$FRONTEND_MESS_STORE`):

    objects/ab/<sha256>          the bytes, read-only, named by their own hash
    actions/<stage>/<key>.json   key -> {"outputs": {name: sha256}, "meta": ...}
    runs/<run id>.json           one manifest per command (store/manifest.py)
    models/<name>/<run id>/      links into objects, for ls, grep and diff (store/view.py)
    links/<sha256>.irpa          an object under the name IREE's runtime opens it by

Two processes computing the same key write the same bytes under the same name: each writes a
temporary file and renames it into place, so whoever renames last leaves one whole, good
object (support/atomic.py). Every read re-hashes the object; one whose bytes do not match
its name (a flipped bit, a truncated copy) is reported, removed and recomputed by the
caller, never served.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from frontend_mess.support.atomic import write_atomically
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

#: where the store lives unless `--store` says otherwise; `off` turns it off (as `--no-store`).
STORE_ENV = "FRONTEND_MESS_STORE"
STORE_OFF = ("off", "none", "0")
#: an object's name: its sha256, in hex.
DIGEST = re.compile(r"[0-9a-f]{64}")
#: reading this many bytes at a time while hashing a file.
_CHUNK = 1 << 20


def default_root() -> Path:
    """`$FRONTEND_MESS_STORE`, else `$XDG_CACHE_HOME/frontend-mess/store` (~/.cache/...)."""
    if os.environ.get(STORE_ENV, "").strip().lower() not in ("", *STORE_OFF):
        return Path(os.environ[STORE_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "frontend-mess" / "store"


def open_store(
    root: str | Path | None = None,
    *,
    disabled: bool = False,
    create: bool = True,
    progress: Progress = QUIET,
) -> Store | None:
    """The store a command uses: `root` (`--store`), else $FRONTEND_MESS_STORE, else
    `default_root()`; None with `--no-store` or $FRONTEND_MESS_STORE=off. Without `create`
    (the `store` command, which only reads and trims), one that does not exist is an error."""
    if disabled:
        return None
    if root is None and os.environ.get(STORE_ENV, "").strip().lower() in STORE_OFF:
        return None
    path = Path(root).expanduser() if root is not None else default_root()
    if not create and not (path / "objects").is_dir():
        raise FrontendError(
            f"there is no store at {path}: a command that imports or compiles makes one "
            f"(or give --store DIR)"
        )
    return Store(path, progress, create=create)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def canonical(value: object) -> bytes:
    """The one byte spelling of a key: JSON, keys sorted, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


@dataclass(frozen=True)
class Action:
    """A stage's stored result: its key, the objects it produced and what was noted."""

    stage: str
    key: str
    outputs: dict[str, str]
    meta: dict

    def short(self) -> str:
        return self.key[:12]


class Store:
    def __init__(
        self, root: str | Path | None = None, progress: Progress = QUIET, *, create: bool = True
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.progress = progress
        if self.root.exists() and not self.root.is_dir():
            raise FrontendError(
                f"cannot use {self.root} as the store: it is a file (give a directory with "
                f"--store DIR or ${STORE_ENV}, or --no-store)"
            )
        try:
            for part in ("objects", "actions", "runs", "models") if create else ():
                (self.root / part).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FrontendError(
                f"cannot use {self.root} as the store: {exc.strerror or exc} (give another "
                f"with --store DIR or ${STORE_ENV}, or --no-store)"
            ) from exc

    # -- objects -------------------------------------------------------------------------------

    def object_path(self, digest: str) -> Path:
        """Where an object lives; a digest that is not 64 hex digits (a damaged or hostile
        action or manifest: `../x`) names nothing, never a path outside the store."""
        if not DIGEST.fullmatch(str(digest)):
            raise FrontendError(f"{str(digest)[:80]!r} is not an object name (64 hex digits)")
        return self.root / "objects" / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store `data` (if it is not there already); returns its sha256."""
        digest = sha256_bytes(data)
        path = self.object_path(digest)
        if path.is_file() and path.stat().st_size == len(data) and self.check(digest):
            return digest  # whole already (a same-size corrupt one is replaced below)
        path.parent.mkdir(exist_ok=True)
        write_atomically(path, lambda handle: handle.write(data))
        path.chmod(0o444)
        return digest

    def read(self, digest: str) -> bytes | None:
        """The object's bytes, re-hashed: None if it is missing or corrupt (then removed)."""
        path = self.object_path(digest)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if sha256_bytes(data) != digest:
            self._discard(path, digest)
            return None
        return data

    def check(self, digest: str) -> bool:
        """Whether the object is there and whole (hashed from disk, not trusted by name)."""
        path = self.object_path(digest)
        try:
            ok = sha256_file(path) == digest
        except OSError:
            return False
        if not ok:
            self._discard(path, digest)
        return ok

    def _discard(self, path: Path, digest: str) -> None:
        self.progress.note(
            f"warning: store object {digest[:12]} is corrupt (its bytes do not hash to its "
            f"name): removed, and recomputed"
        )
        for stale in [path, *(self.root / "links").glob(f"{digest}.*")]:
            try:
                stale.unlink()
            except OSError:
                pass

    def named(self, digest: str, suffix: str) -> Path:
        """The object under a name that ends in `suffix` (IREE's runtime reads a parameter
        archive only by its extension, `.irpa`): a hard link in `links/`, made once."""
        target = self.object_path(digest)
        link = self.root / "links" / f"{digest}{suffix}"
        try:
            if link.stat().st_ino == target.stat().st_ino:  # the object itself, not a copy
                return link
        except OSError:
            pass
        link.parent.mkdir(exist_ok=True)
        temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        temporary.unlink(missing_ok=True)
        try:
            os.link(target, temporary)
        except OSError:  # no hard links here: a relative symbolic link
            temporary.symlink_to(os.path.relpath(target, link.parent))
        os.replace(temporary, link)  # a stale link (an object recomputed) is replaced whole
        return link

    def objects(self) -> Iterator[Path]:
        for path in (self.root / "objects").glob("??/*"):
            # objects only: not a writer's temporary file (support/atomic.py's fallback)
            if DIGEST.fullmatch(path.name) and path.is_file():
                yield path

    # -- actions -------------------------------------------------------------------------------

    def _action_path(self, stage: str, key: str) -> Path:
        return self.root / "actions" / stage / f"{key}.json"

    def lookup(self, stage: str, key: str) -> Action | None:
        """The stored result of `stage` for `key`, if every object it names is there (the
        caller's `read` re-hashes each one)."""
        path = self._action_path(stage, key)
        try:
            record = json.loads(path.read_text())
            outputs = dict(record["outputs"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not all(isinstance(d, str) and DIGEST.fullmatch(d) for d in outputs.values()):
            return None  # a damaged record: the stage is recomputed
        if not all(self.object_path(d).is_file() for d in outputs.values()):
            return None
        return Action(stage, key, outputs, record.get("meta", {}))

    def record(self, stage: str, key: str, outputs: dict[str, bytes], meta: dict) -> Action:
        """Store a stage's outputs and the action that names them (atomically replaced: two
        writers of one key write the same outputs)."""
        digests = {name: self.put(data) for name, data in outputs.items()}
        path = self._action_path(stage, key)
        path.parent.mkdir(exist_ok=True)
        text = json.dumps({"stage": stage, "outputs": digests, "meta": meta}, indent=1) + "\n"
        write_atomically(path, lambda handle: handle.write(text.encode()))
        return Action(stage, key, digests, meta)

    def actions(self) -> Iterator[tuple[str, Path]]:
        for path in (self.root / "actions").glob("*/*.json"):
            yield path.parent.name, path

"""A run's manifest, the reproducibility log: what went in (source, options, hashes), what came
out (each stage's key and objects, cached or computed, and how long it took), the tool versions,
flags and host CPU. One JSON file per command under `runs/`, written when the command ends.

`Run.stage` is the one memo every cached stage goes through: look the key up, serve the
objects if each re-hashes to its name, else compute, store and record.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from frontend_mess.store.keys import code_version, key_of
from frontend_mess.store.objects import Store
from frontend_mess.support.atomic import write_atomically
from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

#: the manifest format; a reader refuses manifests of another.
MANIFEST_VERSION = 1


def _host() -> dict:
    from frontend_mess.backend.targets import host_cpu_key, host_isa

    key = host_cpu_key()
    cpu = key.get("model name", "")
    return {"machine": key["machine"], "cpu": cpu, "isa": host_isa(), "cores": os.cpu_count()}


def _versions() -> dict:
    from frontend_mess.support.versions import frontend_mess_version, tool_versions

    return {"frontend-mess": frontend_mess_version(), **tool_versions()}


@dataclass
class StageResult:
    stage: str
    key: str
    outputs: dict[str, bytes]
    digests: dict[str, str]
    meta: dict
    cached: bool


@dataclass
class Run:
    """One command's use of the store (a `Run` without a store computes every stage)."""

    store: Store | None
    command: str
    name: str = "model"
    argv: list[str] = field(default_factory=lambda: list(sys.argv[1:]))
    fresh: bool = False
    progress: Progress = QUIET
    inputs: dict = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)
    id: str = field(default_factory=lambda: time.strftime("%Y%m%dT%H%M%S-") + secrets.token_hex(3))
    started: float = field(default_factory=time.time)
    _versions: dict | None = None

    @property
    def versions(self) -> dict:
        if self._versions is None:
            self._versions = _versions()
        return self._versions

    def key(self, stage: str, parts: dict, code: tuple[str, ...] = ()) -> str:
        """The key of a stage: its parts, the tool versions and its code's hash."""
        return key_of(
            {"stage": stage, "parts": parts, "versions": self.versions, **_code(stage, code)}
        )

    def lookup(self, stage: str, key: str) -> StageResult | None:
        """A stored result whose every object re-hashes to its name, else None."""
        if self.store is None or self.fresh:
            return None
        action = self.store.lookup(stage, key)
        if action is None:
            return None
        outputs = {}
        for name, digest in action.outputs.items():
            data = self.store.read(digest)
            if data is None:  # corrupt or gone: recomputed by the caller
                return None
            outputs[name] = data
        return StageResult(stage, key, outputs, action.outputs, action.meta, cached=True)

    def stage(
        self,
        stage: str,
        parts: dict,
        compute: Callable[[], tuple[dict[str, bytes], dict]],
        *,
        code: tuple[str, ...] = (),
        label: str = "",
    ) -> StageResult:
        """The stored result of `stage` for `parts`, or `compute()` -> (outputs, meta),
        stored. Says "cached" when it served one."""
        key = self.key(stage, parts, code)
        start = time.perf_counter()
        result = self.lookup(stage, key)
        if result is not None:
            self.progress.note(f"{label or stage}: cached ({key[:12]}; --fresh recomputes)")
        else:
            outputs, meta = compute()
            digests = {}
            if self.store is not None:
                try:
                    digests = self.store.record(stage, key, outputs, meta).outputs
                except (OSError, FrontendError) as exc:  # a full disk, a root-owned store
                    self.progress.note(f"warning: {stage} was not stored: {exc}")
            result = StageResult(stage, key, outputs, digests, meta, cached=False)
        self.stages.append(
            {
                "stage": stage,
                "key": key,
                "parts": parts,
                "code": _code(stage, code),
                "outputs": result.digests,
                "sizes": {n: len(d) for n, d in result.outputs.items()},
                "meta": result.meta,
                "cached": result.cached,
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
        return result

    def finish(self, status: str = "ok") -> Path | None:
        """Write the manifest (and the model's view, store/view.py); None without a store."""
        if self.store is None or not self.stages:
            return None
        from frontend_mess.store.view import link_run

        manifest = {
            "manifest": MANIFEST_VERSION,
            "id": self.id,
            "command": self.command,
            "argv": self.argv,
            "name": self.name,
            "inputs": self.inputs,
            "stages": self.stages,
            "versions": self.versions,
            "host": _host(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "started_ns": int(self.started * 1e9),  # orders runs within one second
            "seconds": round(time.time() - self.started, 3),
            "status": status,
        }
        text = json.dumps(manifest, indent=1, default=str) + "\n"  # in stage order
        path = self.store.root / "runs" / f"{self.id}.json"
        write_atomically(path, lambda handle: handle.write(text.encode()))
        link_run(self.store, manifest)
        return path


_CODE_STAGES = ("import", "compile", "verify", "analyze", "tune", "cell")


def _code(stage: str, code: tuple[str, ...]) -> dict[str, str]:
    """The hashes of frontend-mess's own code that a stage's key holds (store/keys.py)."""
    return {c: code_version(c) for c in (stage, *code) if c in _CODE_STAGES}

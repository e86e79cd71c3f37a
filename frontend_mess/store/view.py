"""The store as a tree a person can browse: `models/<name>/<run id>/` holds one link per stage
output, numbered in pipeline order (`1-fx.txt`, `2-torch.mlir`, `3-params.irpa`,
`4-llvm-cpu.vmfb`, `5-verify.json`) and `manifest.json`, so `ls`, `grep`, `diff` and
`git diff --no-index` work on a model's stages. The links are relative: the store can move.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from frontend_mess.store.objects import Store

#: what a stage output may be called (`torch.mlir`, `llvm-cpu.vmfb`, `params.irpa`).
OUTPUT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def safe_name(name: str) -> str:
    """A model's name as one directory name: `torchvision:resnet18` -> resnet18."""
    name = name.removeprefix("torchvision:").rstrip("/")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name or name).strip("._") or "model"
    return name[:100]


def run_dir(store: Store, manifest: dict) -> Path:
    return store.root / "models" / safe_name(manifest["name"]) / manifest["id"]


def stage_files(manifest: dict) -> list[tuple[str, str]]:
    """(file name in the view, object sha256) for each stage output, in order; an output
    served twice in one run (the same object) is listed once."""
    files: list[tuple[str, str]] = []
    seen: set[str] = set()
    for stage in manifest["stages"]:
        for name, digest in stage.get("outputs", {}).items():
            if digest in seen or not OUTPUT_NAME.fullmatch(str(name)):
                continue  # a name that is not a plain file name is never made a path
            seen.add(digest)
            files.append((f"{len(files) + 1}-{name}", digest))
    return files


def link_run(store: Store, manifest: dict) -> Path:
    directory = run_dir(store, manifest)
    directory.mkdir(parents=True, exist_ok=True)
    for name, digest in stage_files(manifest):
        _link(directory / name, store.object_path(digest))
    _link(directory / "manifest.json", store.root / "runs" / f"{manifest['id']}.json")
    return directory


def _link(link: Path, target: Path) -> None:
    relative = os.path.relpath(target, link.parent)
    try:
        link.symlink_to(relative)
    except FileExistsError:
        pass

"""`frontend-mess store log|show|diff|verify|gc|ls|export`: reading the store's runs.

A REF names a run: its id or a unique prefix of it, `last` (the newest run), a model's name
(its newest run), and either with `~N` for the Nth run before it (`last~1`, `resnet18~2`).
"""

from __future__ import annotations

import difflib
import json
import shutil
import time
from pathlib import Path

from frontend_mess.store.objects import Store
from frontend_mess.store.view import run_dir, safe_name, stage_files
from frontend_mess.support.errors import FrontendError

#: suffixes of stage outputs that `store diff` shows as text.
TEXT_SUFFIXES = (".mlir", ".txt", ".json")
#: at most this many lines of one stage's unified diff are printed.
MAX_DIFF_LINES = 400


def manifests(store: Store) -> list[dict]:
    """Every run's manifest, oldest first (a damaged one skipped)."""
    found = []
    for path in sorted((store.root / "runs").glob("*.json")):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (
            isinstance(manifest, dict)
            and manifest.get("id") == path.stem  # an id is a file name here, never a path
            and isinstance(manifest.get("stages"), list)
            and all(isinstance(stage, dict) for stage in manifest["stages"])
            and isinstance(manifest.get("name", ""), str)
        ):
            found.append(_filled(manifest))
    return sorted(found, key=lambda m: (m.get("started_ns", 0), m["id"]))


def _filled(manifest: dict) -> dict:
    """A manifest with every field the commands read (a damaged or foreign one has defaults,
    not a KeyError)."""
    for key, default in (
        ("name", ""), ("command", "?"), ("status", "?"), ("seconds", 0.0), ("argv", []),
        ("versions", {}), ("host", {}), ("inputs", {}),
    ):  # fmt: skip
        manifest.setdefault(key, default)
    if not isinstance(manifest["argv"], list):
        manifest["argv"] = []
    for stage in manifest["stages"]:
        for key, default in (("stage", "?"), ("parts", {}), ("outputs", {}), ("code", {})):
            if not isinstance(stage.get(key), type(default)):
                stage[key] = default
        stage["cached"] = bool(stage.get("cached"))
    return manifest


def resolve_ref(store: Store, ref: str) -> dict:
    runs = manifests(store)
    base, _, back = ref.partition("~")
    try:
        steps = int(back) if back else 0
    except ValueError:
        raise FrontendError(f"bad run reference {ref!r}: ~ takes a number (last~1)") from None
    if base == "last":
        chosen = runs
    else:
        chosen = [m for m in runs if m["id"] == base] or [
            m for m in runs if m["id"].startswith(base)
        ]
        ids = {m["id"] for m in chosen}
        if len(ids) > 1 and not back:
            raise FrontendError(f"{ref!r} names {len(ids)} runs: give more of the id")
        if not chosen:
            chosen = [m for m in runs if safe_name(m["name"]) == safe_name(base)]
    if len(chosen) <= steps:
        raise FrontendError(
            f"no run {ref!r} in {store.root} (`frontend-mess store log` lists the runs)"
        )
    return chosen[-1 - steps]


def log(store: Store, limit: int | None) -> str:
    runs = manifests(store)[::-1][:limit]
    lines = []
    for m in runs:
        cached = sum(bool(s.get("cached")) for s in m["stages"])
        seconds = m.get("seconds") if isinstance(m.get("seconds"), int | float) else 0.0
        lines.append(
            f"{m['id']}  {str(m.get('command', '?')):<8} {safe_name(str(m.get('name', ''))):<28} "
            f"{seconds:>8.2f}s  {cached}/{len(m['stages'])} cached  {m.get('status', '?')}"
        )
    return "\n".join(lines) + "\n" if lines else f"no runs in {store.root}\n"


def show(store: Store, ref: str) -> str:
    return json.dumps(resolve_ref(store, ref), indent=1) + "\n"


def _flat(value, prefix: str = "") -> dict[str, str]:
    """A nested manifest part as `a.b.c -> value` lines, to diff key by key."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: json.dumps(value)}


def _changes(title: str, old, new) -> list[str]:
    a, b = _flat(old), _flat(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        old_list, new_list = _string_list(a.get(key)), _string_list(b.get(key))
        if old_list is not None and new_list is not None:  # flags: what went, what came
            lines.append(f"  {key}:")
            lines += [f"    - {item}" for item in old_list if item not in new_list]
            lines += [f"    + {item}" for item in new_list if item not in old_list]
            continue
        lines.append(f"  {key}: {a.get(key, '(none)')} -> {b.get(key, '(none)')}")
    return [f"{title}:", *lines] if lines else []


def _string_list(value: str | None) -> list[str] | None:
    items = json.loads(value) if value is not None else None
    if isinstance(items, list) and all(isinstance(i, str) for i in items):
        return items
    return None


def _stage_parts(manifest: dict) -> dict:
    return {
        str(s.get("stage")): {**(s.get("parts") or {}), "code": s.get("code", {})}
        for s in manifest["stages"]
    }


def _text_of(store: Store, digest: str, name: str) -> list[str] | None:
    data = store.read(digest)
    if data is None:
        return None
    if name.endswith(".mlirbc"):
        data = _bytecode_text(data)
        if data is None:
            return None
    elif not name.endswith(TEXT_SUFFIXES):
        return None
    return data.decode(errors="replace").splitlines(keepends=True)


def _bytecode_text(data: bytes) -> bytes | None:
    """MLIR bytecode as text: torch-mlir's MLIR reads what its importer wrote, IREE's what
    IREE's wrote."""
    from frontend_mess.pipeline import _iree_parse, parse_mlir_file

    try:
        return str(parse_mlir_file("stored", allow_unregistered=True, data=data)).encode()
    except FrontendError:
        module, _ = _iree_parse(data, "stored")
        return str(module).encode() if module is not None else None


def diff(store: Store, ref_a: str, ref_b: str) -> str:
    """What differs between two runs: versions, host, command line, inputs, each stage's
    key parts (the flags among them), and a unified diff of each text or IR output."""
    a, b = resolve_ref(store, ref_a), resolve_ref(store, ref_b)
    out = [f"--- {a['id']} ({a['command']} {safe_name(a['name'])})"]
    out.append(f"+++ {b['id']} ({b['command']} {safe_name(b['name'])})")
    out += _changes("versions", a["versions"], b["versions"])
    out += _changes("host", a["host"], b["host"])
    out += _changes("command line", {"argv": a["argv"]}, {"argv": b["argv"]})
    out += _changes("inputs", a["inputs"], b["inputs"])
    out += _changes("stages", _stage_parts(a), _stage_parts(b))
    files_a = {name.split("-", 1)[1]: d for name, d in stage_files(a)}
    files_b = {name.split("-", 1)[1]: d for name, d in stage_files(b)}
    compiled_a, compiled_b = _compile_parts(a), _compile_parts(b)
    if compiled_a and compiled_b and compiled_a != compiled_b:
        for files, parts in ((files_a, compiled_a), (files_b, compiled_b)):
            digest = _executables(store, parts)
            if digest:
                files["executables.mlir"] = digest
    for name in sorted(set(files_a) | set(files_b)):
        da, db = files_a.get(name), files_b.get(name)
        if da == db:
            continue
        if da is None or db is None:
            out.append(f"output {name}: only in {a['id'] if db is None else b['id']}")
            continue
        old, new = _text_of(store, da, name), _text_of(store, db, name)
        if old is None or new is None:
            out.append(f"output {name}: {da[:12]} -> {db[:12]} (binary)")
            continue
        lines = list(difflib.unified_diff(old, new, f"{a['id']}/{name}", f"{b['id']}/{name}", n=2))
        out.append(f"output {name}: {da[:12]} -> {db[:12]}, {len(lines)} diff lines")
        out += [line.rstrip("\n") for line in lines[:MAX_DIFF_LINES]]
        if len(lines) > MAX_DIFF_LINES:
            out.append(f"... {len(lines) - MAX_DIFF_LINES} more lines")
    if len(out) == 2:
        out.append("the two runs are the same")
    return "\n".join(out) + "\n"


def _compile_parts(manifest: dict) -> dict | None:
    return next((s.get("parts") for s in manifest["stages"] if s.get("stage") == "compile"), None)


def _executables(store: Store, parts: dict) -> str | None:
    """The object of a compile's IR before codegen (compiler.executable_sources), made from
    the stored IREE input and the run's flags when first asked for, then kept as a stage."""
    from frontend_mess.backend.compiler import executable_sources
    from frontend_mess.backend.targets import TargetSpec
    from frontend_mess.store.keys import code_version, key_of
    from frontend_mess.support.versions import tool_versions

    key = key_of(
        {
            "stage": "executables",
            "compile": parts,
            "versions": tool_versions(),
            "code": code_version("compile"),
        }
    )
    action = store.lookup("executables", key)
    if action is not None and store.check(action.outputs["executables.mlir"]):
        return action.outputs["executables.mlir"]
    data = store.read(parts["input"])
    if data is None:
        return None
    mlir = data if data.startswith(b"ML\xefR") else data.decode()
    spec = TargetSpec(parts["target"], tuple(parts["flags"]))
    try:
        text = executable_sources(
            mlir, spec, input_type=parts["input_type"], roles=parts.get("roles") or {}
        )
    except FrontendError:
        return None
    return store.record("executables", key, {"executables.mlir": text.encode()}, {}).outputs[
        "executables.mlir"
    ]


def verify(store: Store) -> tuple[str, bool]:
    """Re-hash every object; a corrupt one is removed (its stage is recomputed when next
    asked for). Returns (report, whether all were whole)."""
    total = corrupt = size = 0
    for path in list(store.objects()):
        total += 1
        size += path.stat().st_size
        if not store.check(path.name):
            corrupt += 1
    ok = corrupt == 0
    text = (
        f"{total} objects, {size:,} bytes: {'all whole' if ok else f'{corrupt} corrupt, removed'}"
    )
    return text + "\n", ok


def _referenced(runs: list[dict]) -> set[str]:
    return {str(d) for m in runs for s in m["stages"] for d in (s.get("outputs") or {}).values()}


def gc(
    store: Store,
    *,
    older_than_days: float | None = None,
    max_bytes: int | None = None,
    keep_last: int | None = None,
    dry_run: bool = False,
) -> str:
    """Forget runs by age, count or total size (oldest first), then remove every object no
    remaining run names and every action whose objects are gone. Reports what it freed."""
    runs = manifests(store)
    keep = list(runs)
    if keep_last is not None:
        keep = keep[len(keep) - keep_last :] if keep_last else []
    if older_than_days is not None:
        cutoff = time.time() - older_than_days * 86400
        keep = [m for m in keep if _run_time(store, m) >= cutoff]
    if max_bytes is not None:
        sizes = {p.name: p.stat().st_size for p in store.objects()}
        while keep and sum(sizes.get(d, 0) for d in _referenced(keep)) > max_bytes:
            keep.pop(0)
    kept_ids = {m["id"] for m in keep}
    dropped = [m for m in runs if m["id"] not in kept_ids]
    live = _referenced(keep) | _in_flight(store) | _cell_records(store, older_than_days)
    freed = removed = 0
    for path in list(store.objects()):
        if path.name not in live:
            freed += path.stat().st_size
            removed += 1
            if not dry_run:
                path.unlink()
    actions = 0
    for _stage, path in list(store.actions()):
        outputs = _outputs(path) or ["?"]
        if any(d not in live for d in outputs):
            actions += 1
            if not dry_run:
                path.unlink()
    if not dry_run:
        for link in (store.root / "links").glob("*"):
            if link.name.split(".", 1)[0] not in live:
                link.unlink(missing_ok=True)
        for m in dropped:
            (store.root / "runs" / f"{m['id']}.json").unlink(missing_ok=True)
            shutil.rmtree(run_dir(store, m), ignore_errors=True)
    verb = "would free" if dry_run else "freed"
    return (
        f"{verb} {freed:,} bytes: {removed} objects, {len(dropped)} runs, {actions} cached "
        f"stages; kept {len(keep)} runs\n"
    )


#: objects and cached stages younger than this are never collected: a command still running
#: has stored them but not yet written the manifest that names them.
GC_GRACE_S = 3600


def _in_flight(store: Store) -> set[str]:
    cutoff = time.time() - GC_GRACE_S
    found = {p.name for p in store.objects() if p.stat().st_mtime >= cutoff}
    for _stage, path in store.actions():
        if path.stat().st_mtime >= cutoff:
            found |= set(_outputs(path))
    return found


def _cell_records(store: Store, older_than_days: float | None) -> set[str]:
    """The matrix's cached cell records (a few hundred bytes each, named by no run): kept,
    unless older than --older-than."""
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else 0.0
    found: set[str] = set()
    for stage, path in store.actions():
        if stage == "cell" and path.stat().st_mtime >= cutoff:
            found |= set(_outputs(path))
    return found


def _outputs(action: Path) -> list[str]:
    try:
        return [str(d) for d in json.loads(action.read_text())["outputs"].values()]
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return []


def _run_time(store: Store, manifest: dict) -> float:
    try:
        return (store.root / "runs" / f"{manifest['id']}.json").stat().st_mtime
    except OSError:
        return 0.0


def ls(store: Store, name: str | None) -> str:
    runs = manifests(store)
    if name:
        runs = [m for m in runs if safe_name(m["name"]) == safe_name(name)]
        if not runs:
            raise FrontendError(f"no runs of {name!r} in {store.root}")
    lines = []
    for m in runs[::-1]:
        directory = run_dir(store, m)
        lines.append(f"{directory.relative_to(store.root)}/  ({m['command']}, {m['status']})")
        for file_name, digest in stage_files(m):
            path = store.object_path(digest)
            size = f"{path.stat().st_size:,}" if path.is_file() else "missing"
            lines.append(f"  {file_name:<28} {size:>14}  {digest[:12]}")
    return "\n".join(lines) + "\n" if lines else f"no runs in {store.root}\n"


def export(store: Store, ref: str, directory: str | Path) -> str:
    """Copy one run out as plain files (`1-torch.mlir`, ..., `manifest.json`)."""
    from frontend_mess.support.atomic import write_atomically

    manifest = resolve_ref(store, ref)
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FrontendError(f"{target} exists and is not an empty directory: give a new one")
    files = stage_files(manifest)
    for name, digest in files:  # every object whole before anything is written
        if not store.check(digest):
            raise FrontendError(
                f"object {digest[:12]} ({name}) of run {manifest['id']} is missing or corrupt: "
                f"rerun `{' '.join(['frontend-mess', *manifest['argv']])}`"
            )
    target.mkdir(parents=True, exist_ok=True)
    for name, digest in files:  # copied in chunks: an archive may be gigabytes
        with store.object_path(digest).open("rb") as source:
            write_atomically(
                target / name, lambda handle, source=source: shutil.copyfileobj(source, handle)
            )
    text = json.dumps(manifest, indent=1).encode() + b"\n"
    write_atomically(target / "manifest.json", lambda handle: handle.write(text))
    return f"exported run {manifest['id']}: {len(files) + 1} files in {target}\n"

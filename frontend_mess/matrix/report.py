"""Matrix results for people: a Markdown summary (pass rate per path and per suite, the top
error classes), a self-contained HTML page to sort and filter every cell and read each failure
(inline CSS and script, the records embedded as JSON: it opens with no network), and the
difference between two runs.

The HTML comes from Jinja2 templates in `templates/` with autoescaping on, so a record's text
(an error quoting `<b>` or `</script>`) stays text."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

PASS = "pass"
#: the statuses that count as passing: `assembled` is all a cuda cell can do without a GPU
#: (compiled, and ptxas accepted its PTX for the real GPU; matrix/cell.py)
PASSING = (PASS, "assembled")


def passed(record: dict) -> bool:
    return record["status"] in PASSING


def _cuda_cell(record: dict) -> tuple[str, bool]:
    """A cuda cell's architecture, and whether it ran on a GPU (a run is not the compile)."""
    from frontend_mess.defaults import DEFAULT_CUDA_ARCH

    return record.get("cuda_arch") or DEFAULT_CUDA_ARCH, not record.get("compile_only", True)


def cell_key(record: dict) -> tuple:
    """A cell's identity: a cuda cell's architecture is part of it (sm_80 and sm_90 cells of
    one source are two cells), and so is a run on a GPU."""
    key = (record["suite"], record["source"], record["path"], record["target"])
    if record["target"] != "cuda":
        return key
    arch, ran = _cuda_cell(record)
    return (*key, arch, "run" if ran else "")


def target_label(record: dict) -> str:
    """`llvm-cpu`, `cuda sm_80`; a cuda cell run on a GPU says so (`cuda sm_80 run`)."""
    if record["target"] != "cuda":
        return record["target"]
    arch, ran = _cuda_cell(record)
    return f"cuda {arch}" + (" run" if ran else "")


def _rate(passed: int, total: int) -> str:
    return f"{100 * passed / total:.0f}%" if total else "-"


def pass_rates(records: list[dict], field: str) -> dict[str, tuple[int, int]]:
    """field value -> (cells passed, cells)."""
    groups: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        groups[r[field]][passed(r)] += 1
    return {k: (c[True], sum(c.values())) for k, c in sorted(groups.items())}


def env_of(record: dict) -> str:
    """The environment variant a record was made in (envs.py); older records: the default."""
    return record.get("env") or "default"


def summary_markdown(records: list[dict], title: str = "Matrix summary") -> str:
    lines = [f"# {title}", "", f"{len(records)} cells."]
    envs = sorted({env_of(r) for r in records})
    for env in envs:
        versions = next(
            (r["versions"] for r in records if r.get("versions") and env_of(r) == env), None
        )
        if versions:
            label = "Tools" if len(envs) == 1 else f"Tools ({env})"
            lines += ["", f"{label}: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."]
    lines += ["", "## Pass rate by suite and path", "", *_pivot_markdown(records), ""]
    lines += _compile_rates_markdown(records)
    for field in ("path", "suite"):
        lines += [
            f"## Pass rate by {field}",
            "",
            f"| {field} | pass | cells | rate |",
            "| --- | --- | --- | --- |",
        ]
        for key, (ok, total) in pass_rates(records, field).items():
            lines.append(f"| {key} | {ok} | {total} | {_rate(ok, total)} |")
        lines.append("")
    statuses = Counter(r["status"] for r in records)
    lines += ["## Cells by status", "", "| status | cells |", "| --- | --- |"]
    lines += [f"| {k} | {n} |" for k, n in statuses.most_common()]
    weak = sorted(r["source"] for r in records if passed(r) and r.get("weak_check"))
    if weak:
        lines += [
            "",
            f"{len(weak)} passes are weak: the reference output hardly changes with the input "
            f"(random weights whose signal dies out): {', '.join(sorted(set(weak))[:12])}"
            + (", ..." if len(set(weak)) > 12 else "")
            + ".",
        ]
    bound = [r for r in records if passed(r) and r.get("specialized")]
    if bound:
        inputs = Counter(name for r in bound for name in r["specialized"])
        lines += [
            "",
            f"{len(bound)} pass{'es' if len(bound) != 1 else ''} compiled with graph inputs "
            f"the compiler needs as constants bound to the case's values, as the ONNX "
            f"Backend binds them at run time (onnx_specialize.py): "
            + ", ".join(f"`{name}` {n}" for name, n in inputs.most_common())
            + ".",
        ]
    classes = Counter(r["error_class"] for r in records if not passed(r))
    lines += ["", "## Top error classes", "", "| error class | cells |", "| --- | --- |"]
    lines += [f"| `{k}` | {n} |" for k, n in classes.most_common(20)]
    return "\n".join(lines) + "\n"


def _row(record: dict, several_envs: bool, with_target: bool) -> str:
    row = f"{record['suite']} · {target_label(record)}" if with_target else record["suite"]
    return f"{row} ({env_of(record)})" if several_envs else row


def _pivot(records: list[dict]) -> tuple[list[str], list[str], dict]:
    """(rows, paths, (row, path) -> (passed, cells)): a row is a suite, or a suite in one
    environment variant where the records come from several (suite x path x variant), and
    names its target where any record is not for the CPU (`hf-tiny · cuda sm_90`)."""
    several = len({env_of(r) for r in records}) > 1
    with_target = any(r["target"] != "llvm-cpu" for r in records)
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        entry = counts[_row(r, several, with_target), r["path"]]
        entry[0] += passed(r)
        entry[1] += 1
    suites = sorted({_row(r, several, with_target) for r in records})
    paths = sorted({r["path"] for r in records})
    return suites, paths, {k: tuple(v) for k, v in counts.items()}


#: a cell that got past compiling (on cuda: past assembling too)
COMPILED = ("pass", "assembled", "mismatch", "run-fail")


def compile_rates(records: list[dict]) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
    """(suite, path) -> target label -> (cells compiled, cells), over the sources that every
    target of that suite and path has a record for: CPU and CUDA compared on the same cells."""
    by_cell: dict[tuple, dict[str, dict]] = defaultdict(dict)
    for r in records:
        by_cell[r["suite"], r["path"], r["source"]][target_label(r)] = r
    labels: dict[tuple, set] = defaultdict(set)
    for (suite, path, _), targets in by_cell.items():
        labels[suite, path] |= set(targets)
    rates: dict[tuple, dict] = {}
    for key, wanted in sorted(labels.items()):
        if len(wanted) < 2:
            continue
        shared = [t for (s, p, _), t in by_cell.items() if (s, p) == key and set(t) == wanted]
        rates[key] = {
            label: (sum(t[label]["status"] in COMPILED for t in shared), len(shared))
            for label in sorted(wanted)
        }
    return rates


def _rate_text(counts: tuple[int, int] | None) -> str:
    return f"{counts[0]}/{counts[1]} ({_rate(*counts)})" if counts else ""


def _compile_rates_markdown(records: list[dict]) -> list[str]:
    rates = compile_rates(records)
    if not rates:
        return []
    labels = sorted({label for by_target in rates.values() for label in by_target})
    lines = [
        "## Compile rate by target, on the same cells",
        "",
        "Compiled: past iree-compile (cuda: and its PTX assembled by ptxas for the GPU).",
        "",
        "| suite | path | " + " | ".join(labels) + " |",
        "| --- | --- |" + " --- |" * len(labels),
    ]
    for (suite, path), by_target in rates.items():
        texts = [
            f"{by_target[label][0]}/{by_target[label][1]} ({_rate(*by_target[label])})"
            if label in by_target
            else ""
            for label in labels
        ]
        lines.append(f"| {suite} | {path} | " + " | ".join(texts) + " |")
    return [*lines, ""]


def _pivot_markdown(records: list[dict]) -> list[str]:
    suites, paths, counts = _pivot(records)
    lines = ["| suite | " + " | ".join(paths) + " |", "| --- |" + " --- |" * len(paths)]
    for suite in suites:
        cells = []
        for path in paths:
            ok, total = counts.get((suite, path), (0, 0))
            cells.append(f"{ok}/{total} ({_rate(ok, total)})" if total else "")
        lines.append(f"| {suite} | " + " | ".join(cells) + " |")
    return lines


def compare_runs(old: list[dict], new: list[dict], repros: dict | None = None) -> str:
    """What changed between two runs (the default pins and a variant, or before and after a
    bump): the tool versions that differ, then the cells a run fixed and broke, grouped by
    the failing side's error class (cells, models, its first error, its repro where
    `repros`, reports/repros/index.json, has one), then cells failing differently and
    cells only one run has."""
    before = {cell_key(r): r for r in old}
    after = {cell_key(r): r for r in new}
    status_before = {k: r["status"] for k, r in before.items()}
    status_after = {k: r["status"] for k, r in after.items()}
    fixed = sorted(
        k for k in after if status_after[k] in PASSING and status_before.get(k, PASS) not in PASSING
    )
    broke = sorted(
        k for k in after if status_after[k] not in PASSING and status_before.get(k) in PASSING
    )
    changed = sorted(
        k
        for k in after
        if k in before
        and not {status_after[k], status_before[k]} & set(PASSING)
        and (status_after[k], after[k].get("error_class"))
        != (status_before[k], before[k].get("error_class"))
    )
    lines = [*_version_changes(old, new)]
    lines += [f"newly passing: {len(fixed)}"]
    lines += _by_class(fixed, before, after, repros or {}, "+", "was")
    lines += [f"newly failing: {len(broke)}"]
    lines += _by_class(broke, after, before, repros or {}, "-", "now")
    lines += [
        f"failing differently: {len(changed)}",
        *(
            f"  ~ {' '.join(k)} ({status_before[k]} `{before[k].get('error_class')}` -> "
            f"{status_after[k]} `{after[k].get('error_class')}`)"
            for k in changed
        ),
        f"only in the old run: {len(set(before) - set(after))}",
        f"only in the new run: {len(set(after) - set(before))}",
    ]
    return "\n".join(lines) + "\n"


def _version_changes(old: list[dict], new: list[dict]) -> list[str]:
    def versions(records: list[dict]) -> dict:
        return next((r["versions"] for r in records if r.get("versions")), {})

    envs = [", ".join(sorted({env_of(r) for r in records})) for records in (old, new)]
    first, second = versions(old), versions(new)
    moved = [
        f"  {name}: {first.get(name, '-')} -> {second.get(name, '-')}"
        for name in sorted(set(first) | set(second))
        if first.get(name) != second.get(name)
    ]
    return [f"environments: {envs[0]} -> {envs[1]}", f"versions changed: {len(moved)}", *moved]


def _by_class(
    keys: list[tuple], failing: dict, passing: dict, repros: dict, mark: str, word: str
) -> list:
    """`keys` grouped by the error class of their failing record in `failing` (the old run's
    for a fix, the new run's for a break), largest group first. A cell whose two records
    come from different kinds of host says so: with `--cpu host` the verdict can be the
    host's, not the versions' (squeezenet on fx-tosa fails codegen on AVX2, passes on AVX-512)."""
    groups: dict[str, list[tuple]] = defaultdict(list)
    for key in keys:
        record = failing.get(key)
        groups[(record or {}).get("error_class") or "absent"].append(key)
    repro_of = {
        entry.get("error_class"): entry["repro"] for entry in repros.values() if entry.get("repro")
    }
    lines = []
    for error_class, members in sorted(groups.items(), key=lambda item: -len(item[1])):
        models = {k[1] for k in members}
        first = (failing.get(members[0]) or {}).get("error") or ""
        repro = f"; repro reports/repros/{repro_of[error_class]}" if error_class in repro_of else ""
        lines.append(
            f"  `{error_class}` ({word}): {len(members)} cells, {len(models)} models; first "
            f"error: {first_line(first)}{repro}"
        )
        lines += [f"    {mark} {' '.join(k)}{_host_change(failing, passing, k)}" for k in members]
    return lines


def _host_change(one: dict, other: dict, key: tuple) -> str:
    hosts = [(records.get(key) or {}).get("host_isa") for records in (one, other)]
    if None in hosts or hosts[0] == hosts[1]:
        return ""
    return f" (hosts differ: {hosts[1]} and {hosts[0]}, the failing run's last)"


REPROS_DIR = Path(__file__).resolve().parents[2] / "reports" / "repros"


def committed_repros() -> dict:
    """reports/repros/index.json of this checkout (repro directory -> its entry), or {}."""
    try:
        return json.loads((REPROS_DIR / "index.json").read_text())
    except (OSError, ValueError):
        return {}


def repro_links(page: Path) -> dict[tuple[str, str], str]:
    """(path, error class) -> the link, relative to a page written at `page`, to that repro's
    issue text (reports/repros/NAME/ISSUE.md)."""
    import os
    from urllib.parse import quote

    return {
        (entry.get("cell", {}).get("path", ""), entry["error_class"]): quote(
            os.path.relpath(REPROS_DIR / entry["repro"] / "ISSUE.md", page.parent)
        )
        for entry in committed_repros().values()
        if entry.get("error_class")
        and entry.get("repro")
        and (REPROS_DIR / entry["repro"] / "ISSUE.md").is_file()
    }


def _repro_of(record: dict, links: dict[tuple[str, str], str]) -> str | None:
    """The repro of a failing record's error class made on its own path (a class such as
    `mismatch` names different bugs on different paths)."""
    error_class = record.get("error_class")
    if passed(record) or not error_class:
        return None
    return links.get((record["path"], error_class))


def first_line(text: str, width: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


#: the stages a cell times (its record's `seconds`), in order (matrix/cell.py).
TIMED_STAGES = ("load", "export", "import", "compile", "assemble", "run")
# The columns of the cell table: record key (or stage in `seconds`), header text.
CELL_COLUMNS = (
    ("suite", "suite"),
    ("source", "source"),
    ("path", "path"),
    ("target", "target"),
    ("env", "env"),
    ("status", "status"),
    ("stage", "stage"),
    ("error_class", "error class"),
    ("max_rel_error", "max rel err"),
    *((stage, f"{stage} s") for stage in TIMED_STAGES),
)
FILTERS = ("env", "suite", "path", "target", "status")


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (inf, -inf, nan) replaced by None, in nested dicts,
    lists and tuples too. Python's json writes those as `Infinity`/`NaN`, which is not JSON: a
    browser's JSON.parse stops at the first one (an empty 1x3x0 output has an infinite relative
    error) and the whole page's data with it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _json_dumps(value: Any, **kwargs: Any) -> str:
    # allow_nan=False as well: should a non-finite number ever get past json_safe, the render
    # fails here rather than the page in a reader's browser.
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


@cache
def template_environment(package: str) -> jinja2.Environment:
    """The Jinja2 environment for the templates in `package`'s `templates/` folder: `.html`
    templates autoescape, `tojson` writes strict JSON (json_safe, no NaN) with `<`, `>`, `&`
    and `'` as \\u escapes, so embedded data can neither end its `<script>` element nor open a
    comment there."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails the render, not the page
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.policies["json.dumps_function"] = _json_dumps
    # Keys keep their order (the default sorts them); UTF-8 text stays readable in the source.
    env.policies["json.dumps_kwargs"] = {"ensure_ascii": False}
    return env


def _rate_rows(records: list[dict]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Pass rate per suite (rows) and path (columns): (paths, [(suite, cell texts)])."""
    suites, paths, counts = _pivot(records)
    rows = []
    for suite in suites:
        texts = []
        for path in paths:
            ok, total = counts.get((suite, path), (0, 0))
            texts.append(f"{ok}/{total} ({_rate(ok, total)})" if total else "")
        rows.append((suite, texts))
    return paths, rows


def html_page(
    records: list[dict],
    title: str = "frontend-mess compatibility matrix",
    repro_links: dict[tuple[str, str], str] | None = None,
) -> str:
    """A self-contained page (inline CSS and script, no network) to sort and filter every cell,
    share a filtered view by its URL hash (`#status=fail&q=Resize`) and read each failure; a
    failing cell whose error class has a repro (`repro_links`, from `repro_links()`) links it."""
    links = repro_links or {}
    records = [
        {**r, "env": env_of(r), "target": target_label(r), "passing": passed(r)} for r in records
    ]
    for r in records:
        repro = _repro_of(r, links)
        if repro:
            r["repro"] = repro
    paths, rate_rows = _rate_rows(records)
    rates = compile_rates(records)
    compile_labels = sorted({label for by_target in rates.values() for label in by_target})
    compile_rows = [
        (suite, path, [_rate_text(by_target.get(label)) for label in compile_labels])
        for (suite, path), by_target in rates.items()
    ]
    return (
        template_environment(__package__)
        .get_template("matrix.html")
        .render(
            title=title,
            records=records,
            passed=sum(passed(r) for r in records),
            versions=next((r["versions"] for r in records if r.get("versions")), {}),
            paths=paths,
            rate_rows=rate_rows,
            compile_labels=compile_labels,
            compile_rows=compile_rows,
            top_classes=Counter(r["error_class"] for r in records if not passed(r)).most_common(15),
            filters={field: sorted({r[field] for r in records}) for field in FILTERS},
            columns=CELL_COLUMNS,
            timed=TIMED_STAGES,
        )
    )

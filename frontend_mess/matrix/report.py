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
from typing import Any

import jinja2

PASS = "pass"


def cell_key(record: dict) -> tuple:
    return (record["suite"], record["source"], record["path"], record["target"])


def _rate(passed: int, total: int) -> str:
    return f"{100 * passed / total:.0f}%" if total else "-"


def pass_rates(records: list[dict], field: str) -> dict[str, tuple[int, int]]:
    """field value -> (cells passed, cells)."""
    groups: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        groups[r[field]][r["status"]] += 1
    return {k: (c[PASS], sum(c.values())) for k, c in sorted(groups.items())}


def summary_markdown(records: list[dict], title: str = "Matrix summary") -> str:
    lines = [f"# {title}", "", f"{len(records)} cells."]
    versions = next((r["versions"] for r in records if r.get("versions")), None)
    if versions:
        lines += ["", "Tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "."]
    lines += ["", "## Pass rate by suite and path", "", *_pivot_markdown(records), ""]
    for field in ("path", "suite"):
        lines += [
            f"## Pass rate by {field}",
            "",
            f"| {field} | pass | cells | rate |",
            "| --- | --- | --- | --- |",
        ]
        for key, (passed, total) in pass_rates(records, field).items():
            lines.append(f"| {key} | {passed} | {total} | {_rate(passed, total)} |")
        lines.append("")
    statuses = Counter(r["status"] for r in records)
    lines += ["## Cells by status", "", "| status | cells |", "| --- | --- |"]
    lines += [f"| {k} | {n} |" for k, n in statuses.most_common()]
    weak = sorted(r["source"] for r in records if r["status"] == PASS and r.get("weak_check"))
    if weak:
        lines += [
            "",
            f"{len(weak)} passes are weak: the reference output hardly changes with the input "
            f"(random weights whose signal dies out): {', '.join(sorted(set(weak))[:12])}"
            + (", ..." if len(set(weak)) > 12 else "")
            + ".",
        ]
    classes = Counter(r["error_class"] for r in records if r["status"] != PASS)
    lines += ["", "## Top error classes", "", "| error class | cells |", "| --- | --- |"]
    lines += [f"| `{k}` | {n} |" for k, n in classes.most_common(20)]
    return "\n".join(lines) + "\n"


def _pivot(records: list[dict]) -> tuple[list[str], list[str], dict]:
    """(suites, paths, (suite, path) -> (passed, cells))."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        entry = counts[r["suite"], r["path"]]
        entry[0] += r["status"] == PASS
        entry[1] += 1
    suites = sorted({r["suite"] for r in records})
    paths = sorted({r["path"] for r in records})
    return suites, paths, {k: tuple(v) for k, v in counts.items()}


def _pivot_markdown(records: list[dict]) -> list[str]:
    suites, paths, counts = _pivot(records)
    lines = ["| suite | " + " | ".join(paths) + " |", "| --- |" + " --- |" * len(paths)]
    for suite in suites:
        cells = []
        for path in paths:
            passed, total = counts.get((suite, path), (0, 0))
            cells.append(f"{passed}/{total} ({_rate(passed, total)})" if total else "")
        lines.append(f"| {suite} | " + " | ".join(cells) + " |")
    return lines


def compare_runs(old: list[dict], new: list[dict]) -> str:
    """Cells whose pass/fail changed between two runs (e.g. before and after a version bump),
    and cells only one run has."""
    before = {cell_key(r): r["status"] for r in old}
    after = {cell_key(r): r["status"] for r in new}
    fixed = sorted(k for k in after if after[k] == PASS and before.get(k, PASS) != PASS)
    broke = sorted(k for k in after if after[k] != PASS and before.get(k) == PASS)
    changed = sorted(
        k
        for k in after
        if k in before and PASS not in (after[k], before[k]) and after[k] != before[k]
    )
    lines = [
        f"newly passing: {len(fixed)}",
        *(f"  + {' '.join(k)} (was {before.get(k, 'absent')})" for k in fixed),
        f"newly failing: {len(broke)}",
        *(f"  - {' '.join(k)} ({after[k]})" for k in broke),
        f"failing differently: {len(changed)}",
        *(f"  ~ {' '.join(k)} ({before[k]} -> {after[k]})" for k in changed),
        f"only in the old run: {len(set(before) - set(after))}",
        f"only in the new run: {len(set(after) - set(before))}",
    ]
    return "\n".join(lines) + "\n"


#: the stages a cell times (its record's `seconds`), in order (matrix/cell.py).
TIMED_STAGES = ("load", "export", "import", "compile", "run")
# The columns of the cell table: record key (or stage in `seconds`), header text.
CELL_COLUMNS = (
    ("suite", "suite"),
    ("source", "source"),
    ("path", "path"),
    ("target", "target"),
    ("status", "status"),
    ("stage", "stage"),
    ("error_class", "error class"),
    ("max_rel_error", "max rel err"),
    *((stage, f"{stage} s") for stage in TIMED_STAGES),
)
FILTERS = ("suite", "path", "target", "status")


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
            passed, total = counts.get((suite, path), (0, 0))
            texts.append(f"{passed}/{total} ({_rate(passed, total)})" if total else "")
        rows.append((suite, texts))
    return paths, rows


def html_page(records: list[dict], title: str = "frontend-mess compatibility matrix") -> str:
    """A self-contained page (inline CSS and script, no network) to sort and filter every cell,
    share a filtered view by its URL hash (`#status=fail&q=Resize`) and read each failure."""
    paths, rate_rows = _rate_rows(records)
    return (
        template_environment(__package__)
        .get_template("matrix.html")
        .render(
            title=title,
            records=records,
            passed=sum(r["status"] == PASS for r in records),
            versions=next((r["versions"] for r in records if r.get("versions")), {}),
            paths=paths,
            rate_rows=rate_rows,
            top_classes=Counter(
                r["error_class"] for r in records if r["status"] != PASS
            ).most_common(15),
            filters={field: sorted({r[field] for r in records}) for field in FILTERS},
            columns=CELL_COLUMNS,
            timed=TIMED_STAGES,
        )
    )

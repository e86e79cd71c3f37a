"""Matrix results for people: a Markdown summary (pass rate per path and per suite, the top
error classes), a self-contained HTML page to sort and filter every cell and read each failure
(inline CSS and script, the records embedded as JSON: it opens with no network), and the
difference between two runs."""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict

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


# Rows are built by the script from the embedded records, so 4,000 cells stay one small page.
# Filters live in the URL's hash (#status=mismatch&q=Resize), so a filtered view can be shared
# and a headless browser can open one.
_SCRIPT = r"""
const cells = JSON.parse(document.getElementById('cells').textContent);
const columns = ['suite', 'source', 'path', 'target', 'status', 'stage', 'error_class',
                 'max_rel_error', 'load', 'import', 'compile', 'run'];
const stages = ['load', 'import', 'compile', 'run'];
const value = (c, k) => stages.includes(k) ? (c.seconds || {})[k] : c[k];
let sortKey = null, ascending = true;
const controls = ['suite', 'path', 'target', 'status', 'q'].map(id => document.getElementById(id));
function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  controls.forEach(el => { el.value = params.get(el.id) || ''; });
}
function writeHash() {
  const params = new URLSearchParams();
  controls.forEach(el => { if (el.value) params.set(el.id, el.value); });
  history.replaceState(null, '', '#' + params.toString());
}
function show() {
  const [suite, path, target, status, q] = controls.map(el => el.value);
  const needle = q.toLowerCase();
  let rows = cells.filter(c => (!suite || c.suite === suite) && (!path || c.path === path)
    && (!target || c.target === target)
    && (!status || (status === 'fail' ? c.status !== 'pass' : c.status === status))
    && (!needle || (c.source + ' ' + c.error + ' ' + c.error_class).toLowerCase()
                     .includes(needle)));
  if (sortKey) rows.sort((a, b) => {
    const x = value(a, sortKey) ?? '', y = value(b, sortKey) ?? '';
    return (x > y ? 1 : x < y ? -1 : 0) * (ascending ? 1 : -1); });
  const body = document.querySelector('#cells-table tbody');
  body.replaceChildren(...rows.map(c => {
    const tr = document.createElement('tr');
    tr.className = c.status;
    columns.forEach(k => {
      const td = document.createElement('td'), v = value(c, k);
      td.textContent = v === null || v === undefined ? '' :
        (k === 'max_rel_error' ? Number(v).toExponential(1) : v);
      tr.appendChild(td);
    });
    if (c.status !== 'pass') {
      tr.title = c.error;
      tr.addEventListener('click', () => {
        const next = tr.nextSibling;
        if (next && next.classList.contains('error')) { next.remove(); return; }
        const row = document.createElement('tr'), td = document.createElement('td');
        row.className = 'error'; td.colSpan = columns.length; td.textContent = c.error;
        row.appendChild(td); tr.after(row);
      });
    }
    return tr;
  }));
  document.getElementById('shown').textContent =
    `${rows.length} of ${cells.length} cells, ${rows.filter(c => c.status === 'pass').length} pass`;
}
document.querySelectorAll('#cells-table th').forEach((th, i) => th.addEventListener('click', () => {
  ascending = sortKey === columns[i] ? !ascending : true; sortKey = columns[i]; show(); }));
controls.forEach(el => el.addEventListener('input', () => { writeHash(); show(); }));
window.addEventListener('hashchange', () => { readHash(); show(); });
readHash(); show();
"""

_STYLE = """
body { font-family: sans-serif; margin: 2em; } table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 2px 6px; font-family: monospace; font-size: 13px; }
th { background: #eee; } #cells-table th { cursor: pointer; }
tr.pass td:nth-child(5) { color: #176f2c; } tr:not(.pass):not(.error) { cursor: pointer; }
tr:not(.pass):not(.error) td:nth-child(5) { color: #a3160f; font-weight: bold; }
tr.error td { white-space: pre-wrap; background: #fff4f2; max-width: 80em; }
label { margin-right: 1em; }
"""


def _options(records: list[dict], field: str) -> str:
    values = sorted({r[field] for r in records})
    extra = ['<option value="fail">any failure</option>'] if field == "status" else []
    return "".join(
        ['<option value="">all</option>', *extra]
        + [f'<option value="{html.escape(v)}">{html.escape(v)}</option>' for v in values]
    )


def _rate_table(records: list[dict]) -> str:
    """Pass rate per suite (rows) and path (columns)."""
    suites, paths, counts = _pivot(records)
    head = "".join(f"<th>{html.escape(p)}</th>" for p in paths)
    rows = []
    for suite in suites:
        tds = []
        for path in paths:
            passed, total = counts.get((suite, path), (0, 0))
            tds.append(
                f"<td>{passed}/{total} ({_rate(passed, total)})</td>" if total else "<td></td>"
            )
        rows.append(f"<tr><th>{html.escape(suite)}</th>{''.join(tds)}</tr>")
    return f"<table><thead><tr><th>suite \\ path</th>{head}</tr></thead>{''.join(rows)}</table>"


def html_page(records: list[dict], title: str = "frontend-mess compatibility matrix") -> str:
    esc = html.escape
    versions = next((r["versions"] for r in records if r.get("versions")), {})
    classes = Counter(r["error_class"] for r in records if r["status"] != PASS).most_common(15)
    top = "".join(f"<tr><td>{esc(k)}</td><td>{n}</td></tr>" for k, n in classes)
    # `</` inside the JSON would end the script element early.
    data = json.dumps(records, ensure_ascii=False).replace("</", "<\\/")
    filters = "".join(
        f'<label>{field} <select id="{field}">{_options(records, field)}</select></label>'
        for field in ("suite", "path", "target", "status")
    )
    header = "".join(
        f"<th>{k}</th>"
        for k in (
            "suite",
            "source",
            "path",
            "target",
            "status",
            "stage",
            "error class",
            "max rel err",
            "load s",
            "import s",
            "compile s",
            "run s",
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>{esc(title)}</h1>
<p>{len(records)} cells, {sum(r["status"] == PASS for r in records)} pass.
Tools: {esc(", ".join(f"{k} {v}" for k, v in versions.items()))}.</p>
<h2>Pass rate</h2>{_rate_table(records)}
<h2>Top error classes</h2>
<table><thead><tr><th>error class</th><th>failing cells</th></tr></thead><tbody>{top}</tbody>
</table>
<h2>Cells</h2>
<p>{filters}<label>search <input id="q" size="30" placeholder="source or error text"></label>
<span id="shown"></span></p>
<p>Click a column header to sort, a failing row to read its error.</p>
<table id="cells-table"><thead><tr>{header}</tr></thead><tbody></tbody></table>
<script type="application/json" id="cells">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""

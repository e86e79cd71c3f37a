"""Render an `Analysis` as an aligned text table or a self-contained HTML page (no network:
inline CSS, inline script for sorting, an inline SVG bar chart)."""

from __future__ import annotations

import html
import json

from .analysis import Analysis

TOP_OPS = 10


def _si(value: float | int | None) -> str:
    if value is None:
        return "?"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3f} {unit}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _unit(value: int | None, unit: str) -> str:
    """`3.627 GFLOP`, `512 FLOP`."""
    scaled = _si(value)
    return f"{scaled}{unit}" if scaled[-1].isalpha() else f"{scaled} {unit}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


def text(analysis: Analysis, group_by: str | None = None) -> str:
    data = analysis.to_json()
    totals = data["totals"]
    lines = [f"Analysis overview: {analysis.source}", ""]
    lines += _table(
        ["named op (before generalization)", "count"],
        [[k, str(v)] for k, v in sorted(data["named_ops"].items(), key=lambda kv: (-kv[1], kv[0]))],
    )
    lines += [
        "",
        f"linalg.generic after generalization: {data['generic_count']}",
        f"unique indexing maps:                {data['unique_indexing_maps']}",
        f"unique iterator signatures:          {data['unique_iterator_signatures']}",
        f"unique bodies:                       {data['unique_bodies']}",
        "element types:                       "
        + ", ".join(f"{k}×{v}" for k, v in data["element_types"].items()),
        "",
        f"total MACs:     {_si(totals['macs'])}",
        f"total FLOPs:    {_si(totals['flops'])}",
        f"bytes read:     {_si(totals['bytes_read'])}B",
        f"bytes written:  {_si(totals['bytes_written'])}B",
        f"intensity:      {totals['intensity']:.2f} FLOP/B"
        if totals["intensity"]
        else "intensity:      ?",
        "",
    ]
    lines += _table(
        ["iterators", "ops"], [[k, str(v)] for k, v in data["iterator_signatures"].items()]
    )
    lines += [""]
    lines += _table(["body op", "count"], [[k, str(v)] for k, v in data["body_ops"].items()])
    lines += ["", f"largest {TOP_OPS} ops by FLOPs:"]
    top = sorted(analysis.ops, key=lambda o: -(o.flops or 0))[:TOP_OPS]
    lines += _table(
        ["#", "named", "iterators", "loops", "MACs", "FLOPs", "bytes", "FLOP/B"],
        [
            [
                str(o.index),
                o.named,
                o.iterators,
                "x".join("?" if s is None else str(s) for s in o.loop_sizes),
                _si(o.macs),
                _si(o.flops),
                _si((o.bytes_read or 0) + (o.bytes_written or 0)),
                f"{o.intensity:.2f}" if o.intensity is not None else "?",
            ]
            for o in top
        ],
    )
    if group_by:
        lines += ["", f"grouped by {group_by}:"]
        lines += _table(
            ["ops", "MACs", "FLOPs", "named kinds", group_by],
            [
                [
                    str(g["ops"]),
                    _si(g["macs"]),
                    _si(g["flops"]),
                    ", ".join(f"{k.removeprefix('linalg.')}×{v}" for k, v in g["named"].items()),
                    g["key"],
                ]
                for g in analysis.groups(group_by)
            ],
        )
    return "\n".join(lines) + "\n"


def json_text(analysis: Analysis) -> str:
    return json.dumps(analysis.to_json(), indent=2, ensure_ascii=False) + "\n"


_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach((th, col) => {
  th.addEventListener('click', () => {
    const table = th.closest('table'), body = table.tBodies[0];
    const rows = Array.from(body.rows), asc = th.dataset.asc !== 'true';
    th.dataset.asc = asc;
    const key = r => { const t = r.cells[col].dataset.v ?? r.cells[col].textContent;
                       const n = parseFloat(t); return isNaN(n) ? t : n; };
    rows.sort((a, b) => { const x = key(a), y = key(b);
                          return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); });
    rows.forEach(r => body.appendChild(r));
  });
});
"""


def html_page(analysis: Analysis) -> str:
    data = analysis.to_json()
    esc = html.escape
    by_kind: dict[str, int] = {}
    for op in analysis.ops:
        by_kind[op.named] = by_kind.get(op.named, 0) + (op.flops or 0)
    kinds = sorted(by_kind.items(), key=lambda kv: -kv[1])
    peak = max((v for _, v in kinds), default=1) or 1
    bars = "".join(
        f'<g transform="translate(0,{i * 22})"><text x="0" y="15">{esc(k)}</text>'
        f'<rect x="260" y="3" height="16" width="{max(1, 500 * v / peak):.1f}" fill="#3a6ea5"/>'
        f'<text x="{268 + 500 * v / peak:.1f}" y="15">{_unit(v, "FLOP")}</text></g>'
        for i, (k, v) in enumerate(kinds)
    )
    chart = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="{22 * len(kinds) + 4}"'
        f' font-size="12" font-family="monospace">{bars}</svg>'
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td data-v='{v}'>{esc(str(t))}</td>"
            for t, v in (
                (o.index, o.index),
                (o.named, o.named),
                (o.iterators, o.iterators),
                ("x".join("?" if s is None else str(s) for s in o.loop_sizes), o.iterations or 0),
                (_si(o.macs), o.macs or 0),
                (_si(o.flops), o.flops or 0),
                (
                    _si((o.bytes_read or 0) + (o.bytes_written or 0)),
                    (o.bytes_read or 0) + (o.bytes_written or 0),
                ),
                (f"{o.intensity:.2f}" if o.intensity is not None else "?", o.intensity or 0),
                (", ".join(f"{k}×{n}" for k, n in o.body.items()), len(o.body)),
            )
        )
        + "</tr>"
        for o in analysis.ops
    )
    named = "".join(
        f"<tr><td>{esc(k)}</td><td>{v}</td></tr>"
        for k, v in sorted(data["named_ops"].items(), key=lambda kv: -kv[1])
    )
    totals = data["totals"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>linalg workload: {esc(analysis.source)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; font-family: monospace; }}
th {{ cursor: pointer; background: #eee; }}
</style></head><body>
<h1>linalg workload: {esc(analysis.source)}</h1>
<p>{data["generic_count"]} linalg.generic ops after generalization;
{data["unique_indexing_maps"]} unique indexing maps, {data["unique_iterator_signatures"]} iterator
signatures, {data["unique_bodies"]} bodies. Total {_si(totals["macs"])}MACs,
{_si(totals["flops"])}FLOPs, {_si(totals["bytes_read"])}B read,
{_si(totals["bytes_written"])}B written.</p>
<h2>Named ops before generalization</h2>
<table class="sortable"><thead><tr><th>op</th><th>count</th></tr></thead>
<tbody>{named}</tbody></table>
<h2>FLOPs per op kind</h2>{chart}
<h2>Every op (click a header to sort)</h2>
<table class="sortable" id="ops"><thead><tr><th>#</th><th>named</th><th>iterators</th>
<th>loops</th><th>MACs</th><th>FLOPs</th><th>bytes</th><th>FLOP/B</th><th>body</th></tr></thead>
<tbody>{rows}</tbody></table>
<script>{_SCRIPT}</script>
</body></html>
"""

"""Render an `Analysis` as an aligned text table, JSON, or a self-contained HTML page (no
network: inline CSS, inline script for sorting, an inline SVG bar chart) from the Jinja2
template in `templates/`, autoescaped."""

from __future__ import annotations

import json
import math

from frontend_mess.analysis.analyze import Analysis
from frontend_mess.matrix.report import json_safe, template_environment

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
    # Strict JSON: intensity is None rather than a division by zero, and json_safe turns any
    # non-finite number that slips in into null instead of writing `NaN`, which is not JSON.
    return (
        json.dumps(json_safe(analysis.to_json()), indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


BAR_WIDTH = 500  # pixels of the longest bar
LABEL_WIDTH = 260  # pixels for the op kind's name left of the bars
MIN_BAR = 2  # pixels, so an op kind with 0 or 1 FLOP still has a visible bar


def _log_position(value: int, peak: int) -> float:
    """Where `value` lies on a log scale from 1 to `peak`, in pixels. Log, because one conv can
    do a million times the work of a bias add: on a linear scale the small kinds are no bar."""
    decades = math.log10(peak) if peak > 1 else 1.0
    return BAR_WIDTH * math.log10(max(value, 1)) / decades


def _decade(power: int) -> str:
    """10**power, short: `1`, `100`, `10K`, `1G`."""
    prefixes = ("", "K", "M", "G", "T", "P", "E")
    if power // 3 >= len(prefixes):
        return f"1e{power}"
    return f"{10 ** (power % 3)}{prefixes[power // 3]}"


def _chart(analysis: Analysis) -> dict:
    """The bar chart of FLOPs per op kind, laid out for the template: bars (largest first) and
    the ticks of its log axis, one per power of ten."""
    by_kind: dict[str, int] = {}
    for op in analysis.ops:
        by_kind[op.named] = by_kind.get(op.named, 0) + (op.flops or 0)
    kinds = sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    peak = max((v for _, v in kinds), default=1)
    bars = []
    for kind, flops in kinds:
        width = max(MIN_BAR, _log_position(flops, peak))
        bars.append(
            {"kind": kind, "flops": flops, "width": round(width, 1), "label": _unit(flops, "FLOP")}
        )
    top = math.ceil(math.log10(peak)) if peak > 1 else 1
    step = math.ceil((top + 1) / 10)  # at most about ten labels, so they do not overlap
    ticks = [
        {"x": round(LABEL_WIDTH + _log_position(10**k, peak), 1), "label": _decade(k)}
        for k in range(0, top + 1, step)
        if _log_position(10**k, peak) <= BAR_WIDTH + 0.5
    ]
    return {"bars": bars, "ticks": ticks, "left": LABEL_WIDTH, "right": LABEL_WIDTH + BAR_WIDTH}


def _op_rows(analysis: Analysis) -> list[list[tuple[str, object]]]:
    """Every op as table cells: (text shown, value the sort compares)."""
    rows = []
    for o in analysis.ops:
        traffic = (o.bytes_read or 0) + (o.bytes_written or 0)
        rows.append(
            [
                (str(o.index), o.index),
                (o.named, o.named),
                (o.iterators, o.iterators),
                ("x".join("?" if s is None else str(s) for s in o.loop_sizes), o.iterations or 0),
                (_si(o.macs), o.macs or 0),
                (_si(o.flops), o.flops or 0),
                (_si(traffic), traffic),
                (f"{o.intensity:.2f}" if o.intensity is not None else "?", o.intensity or 0),
                (", ".join(f"{k}×{n}" for k, n in o.body.items()), len(o.body)),
            ]
        )
    return rows


def html_page(analysis: Analysis) -> str:
    """A self-contained page: counts, named ops, a log-scale bar chart of FLOPs per op kind and
    a sortable table of every op."""
    data = analysis.to_json()
    totals = data["totals"]
    return (
        template_environment(__package__)
        .get_template("analysis.html")
        .render(
            source=analysis.source,
            data=data,
            totals={k: _si(totals[k]) for k in ("macs", "flops", "bytes_read", "bytes_written")},
            named=sorted(data["named_ops"].items(), key=lambda kv: (-kv[1], kv[0])),
            chart=_chart(analysis),
            rows=_op_rows(analysis),
        )
    )

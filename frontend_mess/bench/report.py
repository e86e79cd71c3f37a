"""A bench report as an aligned text table, JSON, or a self-contained HTML page (inline SVG
bars, no network) from the Jinja2 template in `templates/`, autoescaped."""

from __future__ import annotations

import json

from frontend_mess.analysis.report import _table
from frontend_mess.bench.run import BenchReport, Row
from frontend_mess.matrix.report import json_safe, template_environment

TOP_DISPATCHES = 15
HEADERS = [
    "runtime",
    "median ms",
    "spread",
    "p90 ms",
    "inf/s",
    "compile s",
    "cold ms",
    "cold-warm ms",
    "peak MB",
    "size MB",
    "numerics",
]


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _numerics(row: Row) -> str:
    if row.numerics_ok is None:
        return "-"
    return f"{'ok' if row.numerics_ok else 'WRONG'} ({row.error_ratio:.2g} of tol)"


def _cells(row: Row) -> list[str]:
    return [
        row.runtime,
        _f(row.median_ms, 2),
        "-" if row.spread is None else f"{100 * row.spread:.0f}%",
        _f(row.p90_ms, 2),
        _f(row.throughput),
        _f(row.compile_s),
        _f(row.cold_ms),
        _f(row.cold_over_warm_ms),
        _f(row.peak_mb, 0),
        "-" if row.artifact_bytes is None else f"{row.artifact_bytes / 1e6:.2f}",
        _numerics(row),
    ]


def ratios(report: BenchReport) -> list[tuple[str, float]]:
    """iree over each other runtime (lower is faster for iree)."""
    found = []
    for row in report.rows:
        if row.runtime != "iree":
            ratio = report.ratio("iree", row.runtime)
            if ratio is not None:
                found.append((f"iree/{row.runtime}", ratio))
    return found


def dispatch_cells(d: dict) -> list[str]:
    return [
        f"{100 * d['share']:.1f}%",
        f"{d['mean_ms']:.3f}",
        f"{d['calls']:g}",
        _f(d["gflops"]),
        _f(d["intensity"]),
        "-" if d["roofline"] is None else f"{100 * d['roofline']:.0f}%",
        f"{d['name']} ({', '.join(d['ops']) or 'no linalg op'})",
    ]


def text(report: BenchReport) -> str:
    lines = [
        f"bench {report.source}: batch {report.batch}, {report.threads} threads, "
        f"{report.rounds} round{'s' if report.rounds != 1 else ''} taking turns; numerics "
        f"against {report.reference}",
        "",
        *_table(HEADERS, [_cells(r) for r in report.rows if r.error is None]),
    ]
    for row in report.rows:
        if row.error is not None:
            lines.append(f"{row.runtime}: not measured: {row.error}")
    found = ratios(report)
    if found:
        lines += ["", "ratios (median latency): " + ", ".join(f"{n} {v:.2f}" for n, v in found)]
    iree = report.row("iree")
    if report.iree_benchmark_ms is not None and iree is not None and iree.median_ms is not None:
        lines.append(
            f"iree-benchmark-module, same artifact: {report.iree_benchmark_ms:.2f} ms (the "
            f"Python call adds {iree.median_ms - report.iree_benchmark_ms:+.2f} ms)"
        )
    if report.machine:
        m = report.machine
        lines += [
            "",
            f"this machine, {m['threads']} threads: {m['gflops']:.0f} GFLOP/s (f32 GEMM), "
            f"{m['gbytes_per_s']:.1f} GB/s (copy); ridge {m['ridge_flop_per_byte']:.1f} FLOP/B",
        ]
    if report.dispatches:
        rows = [dispatch_cells(d) for d in report.dispatches[:TOP_DISPATCHES]]
        headers = ["share", "ms/call", "calls", "GFLOP/s", "FLOP/B", "roofline", "dispatch"]
        lines += [
            "",
            f"dispatches, the most time first (top {len(rows)} of {len(report.dispatches)}; "
            f"roofline: achieved / attainable at that intensity):",
            *_table(headers, rows),
        ]
    return "\n".join(lines) + "\n"


def json_text(report: BenchReport) -> str:
    data = report.to_json()
    data["ratios"] = dict(ratios(report))
    return json.dumps(json_safe(data), indent=1) + "\n"


BAR_WIDTH = 560


def html_page(report: BenchReport) -> str:
    measured = [r for r in report.rows if r.median_ms is not None]
    slowest = max((r.median_ms for r in measured), default=1.0) or 1.0
    bars = [
        {
            "runtime": r.runtime,
            "ms": r.median_ms,
            "label": f"{r.median_ms:.2f} ms",
            "width": round(max(2.0, BAR_WIDTH * r.median_ms / slowest), 1),
        }
        for r in measured
    ]
    return (
        template_environment(__package__)
        .get_template("bench.html")
        .render(
            report=report,
            headers=HEADERS,
            rows=[_cells(r) for r in report.rows if r.error is None],
            failed=[r for r in report.rows if r.error is not None],
            ratios=ratios(report),
            bars=bars,
            bar_left=120,
            dispatch_rows=[dispatch_cells(d) for d in report.dispatches],
        )
    )

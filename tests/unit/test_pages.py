"""The HTML pages in a real browser: Debian's chromium, driven by selenium through chromedriver.
The matrix page renders the committed `reports/matrix-*.jsonl`, filters by its URL hash, shows a
failing cell's error on a click, and styles only the cell table's status cells; the analysis page
draws one visible bar per op kind and tables with rows. Neither may log a JavaScript error."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from frontend_mess.analysis.analyze import analyze_module
from frontend_mess.analysis.report import html_page as analysis_page
from frontend_mess.analysis.report import json_text
from frontend_mess.api import linalg_module
from frontend_mess.matrix.report import html_page as matrix_page
from frontend_mess.matrix.report import json_safe
from frontend_mess.matrix.runner import read_results
from frontend_mess.sources import SourceOptions

REPORTS = Path(__file__).resolve().parents[2] / "reports"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# A big matmul next to a tiny bias add (65,536 times fewer FLOPs) and a fill with none: on a
# linear scale the add's bar would be a pixel wide.
SKEWED_MLIR = """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%a: tensor<128x128xf32>, %b: tensor<128x128xf32>, %x: tensor<4x16xf32>,
                %y: tensor<4x16xf32>) -> (tensor<128x128xf32>, tensor<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<128x128xf32>
  %init = linalg.fill ins(%zero : f32) outs(%empty : tensor<128x128xf32>) -> tensor<128x128xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<128x128xf32>, tensor<128x128xf32>)
                      outs(%init : tensor<128x128xf32>) -> tensor<128x128xf32>
  %small = tensor.empty() : tensor<4x16xf32>
  %add = linalg.generic {indexing_maps = [#map, #map, #map],
                         iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<4x16xf32>, tensor<4x16xf32>) outs(%small : tensor<4x16xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<4x16xf32>
  return %mm, %add : tensor<128x128xf32>, tensor<4x16xf32>
}
"""

# Facts about the page read in one script call: one WebDriver round trip per row would take
# minutes for 2,500 rows.
ROWS_JS = """
return Array.from(document.querySelectorAll('#cells-table tbody tr:not(.error)')).map(tr =>
  Array.from(tr.cells).map(td => td.textContent));
"""


def _strict_json(line: str) -> object:
    def refuse(token: str) -> object:
        raise ValueError(f"{token} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_json_safe_replaces_non_finite_numbers():
    value = {"a": [math.inf, -math.inf, math.nan, 1.5], "b": (math.nan, 2), "c": "inf", "d": 0}
    assert json_safe(value) == {"a": [None, None, None, 1.5], "b": [None, 2], "c": "inf", "d": 0}
    record = {"suite": "s", "source": "x", "path": "onnx", "target": "llvm-cpu",
              "status": "mismatch", "error": "", "error_class": "",
              "max_rel_error": math.inf}  # fmt: skip
    page = matrix_page([record])
    embedded = page.split('id="cells">', 1)[1].split("</script>", 1)[0]
    assert _strict_json(embedded)[0]["max_rel_error"] is None
    assert "Infinity" not in page and "NaN" not in page


def test_committed_matrix_records_are_strict_json():
    files = sorted(REPORTS.glob("matrix-*.jsonl"))
    assert files
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    _strict_json(line)
                except ValueError as exc:
                    raise AssertionError(f"{path.name}:{number}: {exc}") from exc


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(
            f"chromium/chromedriver not installed ({CHROMIUM}, {CHROMEDRIVER}): "
            "apt-get install chromium chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _open(driver, page: Path, hash_: str = "") -> None:
    """Load the page afresh (about:blank first: a hash-only change to the same file would keep
    the last test's sort and open error rows), then check the console stayed clean."""
    driver.get("about:blank")
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(page.as_uri() + (f"#{hash_}" if hash_ else ""))
    _assert_no_js_errors(driver)


def _assert_no_js_errors(driver) -> None:
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def _rows(driver) -> list[list[str]]:
    return driver.execute_script(ROWS_JS)


def _status_column(driver) -> int:
    keys = driver.execute_script(
        "return Array.from(document.querySelectorAll('#cells-table th'), th => th.dataset.key);"
    )
    return keys.index("status")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    found = [r for path in sorted(REPORTS.glob("matrix-*.jsonl")) for r in read_results(path)]
    assert found, "no committed matrix records"
    return found


@pytest.fixture(scope="module")
def matrix_html(records, tmp_path_factory) -> Path:
    page = tmp_path_factory.mktemp("pages") / "matrix.html"
    page.write_text(matrix_page(records), encoding="utf-8")
    return page


def test_matrix_page_renders_every_committed_record(browser, matrix_html, records):
    _open(browser, matrix_html)
    rows = _rows(browser)
    assert len(rows) == len(records) > 0
    passed = sum(r["status"] == "pass" for r in records)
    shown = browser.find_element("id", "shown").text
    assert shown == f"{len(records)} of {len(records)} cells, {passed} pass"


def test_matrix_page_filters_by_status_in_the_hash(browser, matrix_html, records):
    _open(browser, matrix_html, "status=mismatch")
    rows = _rows(browser)
    status = _status_column(browser)
    expected = sum(r["status"] == "mismatch" for r in records)
    assert 0 < len(rows) == expected < len(records)
    assert {row[status] for row in rows} == {"mismatch"}
    assert browser.find_element("id", "status").get_attribute("value") == "mismatch"

    _open(browser, matrix_html, "status=fail&path=fx-tosa")
    rows = _rows(browser)
    keys = browser.execute_script(
        "return Array.from(document.querySelectorAll('#cells-table th'), th => th.dataset.key);"
    )
    expected = [r for r in records if r["status"] != "pass" and r["path"] == "fx-tosa"]
    assert 0 < len(rows) == len(expected) < len(records)
    assert "pass" not in {row[status] for row in rows}
    assert {row[keys.index("path")] for row in rows} == {"fx-tosa"}


def test_matrix_page_filters_by_text_in_the_hash_and_writes_the_hash(browser, matrix_html, records):
    _open(browser, matrix_html, "q=Resize")
    rows = _rows(browser)
    expected = [
        r for r in records if "resize" in f"{r['source']} {r['error']} {r['error_class']}".lower()
    ]
    assert 0 < len(rows) == len(expected) < len(records)
    assert browser.find_element("id", "q").get_attribute("value") == "Resize"

    # Typing into the search box filters and puts the filter into the address to share (from
    # failures only: each keystroke redraws the table, and 2,500 rows six times is slow).
    _open(browser, matrix_html, "status=fail")
    browser.find_element("id", "q").send_keys("Resize")
    assert len(_rows(browser)) == sum(r["status"] != "pass" for r in expected)
    assert browser.execute_script("return location.hash;") == "#status=fail&q=Resize"
    _assert_no_js_errors(browser)


def test_matrix_page_sorts_by_a_column(browser, matrix_html, records):
    _open(browser, matrix_html, "suite=onnx-models")  # a few hundred rows: redrawn per click
    browser.find_element("css selector", '#cells-table th[data-key="source"]').click()
    sources = [row[1] for row in _rows(browser)]
    assert sources == sorted(r["source"] for r in records if r["suite"] == "onnx-models")
    assert sources[0] != sources[-1]
    browser.find_element("css selector", '#cells-table th[data-key="source"]').click()
    assert [row[1] for row in _rows(browser)] == sources[::-1]


def test_matrix_page_click_shows_a_failing_cells_error(browser, matrix_html, records):
    _open(browser, matrix_html, "status=mismatch")
    row = browser.find_element("css selector", "#cells-table tbody tr.failing")
    suite, source, path, target = (td.text for td in row.find_elements("tag name", "td")[:4])
    record = next(
        r
        for r in records
        if (r["suite"], r["source"], r["path"], r["target"]) == (suite, source, path, target)
    )
    assert record["error"]
    row.click()
    shown = browser.find_elements("css selector", "#cells-table tbody tr.error")
    assert len(shown) == 1
    # the error, then (where the cell has them) its store run and its repro
    assert shown[0].get_attribute("textContent").startswith(record["error"])
    assert shown[0].is_displayed()
    row.click()  # a second click folds it away
    assert browser.find_elements("css selector", "#cells-table tbody tr.error") == []
    _assert_no_js_errors(browser)


def test_matrix_page_links_repros_and_filters_by_environment(browser, tmp_path):
    """A failing cell whose error class has a committed repro links its ISSUE.md; the env
    filter (suite x path x variant) keeps one environment's cells."""
    from frontend_mess.matrix.report import committed_repros, repro_links

    # the first class with a repro directory (the index also lists classes without one)
    name, entry = next((n, e) for n, e in committed_repros().items() if e.get("repro"))
    base = {"suite": "s", "path": entry["cell"]["path"], "target": "llvm-cpu", "seconds": {}}
    records = [
        {
            **base,
            "source": "a",
            "status": "compile-fail",
            "error": "boom",
            "error_class": entry["error_class"],
            "env": "default",
        },
        {
            **base,
            "source": "a",
            "status": "pass",
            "error": "",
            "error_class": "",
            "env": "torch-next",
        },
    ]
    page = tmp_path / "reports" / "matrix.html"
    page.parent.mkdir()
    page.write_text(matrix_page(records, repro_links=repro_links(page)), encoding="utf-8")
    _open(browser, page, "status=fail")
    row = browser.find_element("css selector", "#cells-table tbody tr.failing")
    row.click()
    link = browser.find_element("css selector", "#cells-table tbody tr.error a")
    href = link.get_attribute("href")  # resolved by the browser against the page's address
    assert link.text.startswith("repro: ") and name in href
    assert Path(href.removeprefix("file://")).is_file(), href
    _open(browser, page, "env=torch-next")
    assert len(_rows(browser)) == 1
    _assert_no_js_errors(browser)


STYLES_JS = """
return Array.from(document.querySelectorAll(arguments[0]), el => {
  const style = getComputedStyle(el);
  return [style.color, style.backgroundColor, style.fontWeight];
});
"""


def _styles(driver, selector: str) -> list[tuple[str, str, str]]:
    """(color, background-color, font-weight) of every element the selector finds."""
    return [tuple(style) for style in driver.execute_script(STYLES_JS, selector)]


def test_pass_rate_table_columns_are_styled_alike(browser, matrix_html):
    _open(browser, matrix_html)
    paths = [th.text for th in browser.find_elements("css selector", "#rates th[data-path]")]
    assert "fx-tosa" in paths and len(paths) > 1
    other = next(p for p in paths if p != "fx-tosa")
    column = {p: i + 2 for i, p in enumerate(paths)}  # nth-child: the suite's <th> comes first
    tosa = _styles(browser, f"#rates tbody td:nth-child({column['fx-tosa']})")
    rest = _styles(browser, f"#rates tbody td:nth-child({column[other]})")
    assert tosa and rest
    assert set(tosa) == set(rest)
    # The status colours themselves still apply in the cell table: failures differ from passes.
    passing = set(_styles(browser, "#cells-table tr.pass td.status"))
    failing = set(_styles(browser, "#cells-table tr.failing td.status"))
    assert len(passing) == len(failing) == 1
    assert passing != failing and next(iter(failing))[2] in ("700", "bold")


def test_matrix_page_keeps_hostile_text_inert(browser, tmp_path):
    """An error that quotes markup, `</script>` or `<!--<script>` (which would put the parser in
    the script's double-escaped state) and an infinite error stay data."""
    hostile = "</script><!--<script><b>not markup</b> & 'quotes'"
    base = {"suite": "t", "path": "onnx", "target": "llvm-cpu", "stage": "", "seconds": {},
            "max_rel_error": None, "error_class": ""}  # fmt: skip
    records = [
        {**base, "source": "ok", "status": "pass", "error": ""},
        {
            **base,
            "source": "bad",
            "status": "mismatch",
            "error": hostile,
            "max_rel_error": math.inf,
        },
    ]
    page = tmp_path / "hostile.html"
    page.write_text(matrix_page(records), encoding="utf-8")
    _open(browser, page)
    assert len(_rows(browser)) == 2
    assert browser.find_elements("css selector", "b") == []
    browser.find_element("css selector", "#cells-table tbody tr.failing").click()
    error = browser.find_element("css selector", "#cells-table tbody tr.error")
    assert error.get_attribute("textContent") == hostile
    _assert_no_js_errors(browser)


@pytest.fixture(scope="module")
def skewed(tmp_path_factory):
    source = tmp_path_factory.mktemp("mlir") / "skewed.mlir"
    source.write_text(SKEWED_MLIR)
    return analyze_module(linalg_module(str(source), SourceOptions()), "skewed.mlir")


def test_analysis_json_is_strict(skewed):
    data = _strict_json(json_text(skewed))
    assert data["totals"]["flops"] == sum(op["flops"] for op in data["ops"]) > 0


def test_analysis_page_draws_a_visible_bar_per_op_kind(browser, skewed, tmp_path):
    page = tmp_path / "analysis.html"
    page.write_text(analysis_page(skewed), encoding="utf-8")
    _open(browser, page)
    flops = Counter()
    for op in skewed.ops:
        flops[op.named] += op.flops or 0
    bars = browser.find_elements("css selector", "#chart rect.bar")
    assert sorted(bar.get_attribute("data-kind") for bar in bars) == sorted(flops)
    sizes = {bar.get_attribute("data-kind"): bar.rect for bar in bars}
    assert all(size["width"] > 0 and size["height"] > 0 for size in sizes.values())
    big, most = max(flops.items(), key=lambda kv: kv[1])
    small, least = min(((k, v) for k, v in flops.items() if v), key=lambda kv: kv[1])
    assert most >= 1000 * least  # the module is as skewed as the chart must cope with
    # Log scale: a kind 1000x smaller is still a real bar, not a sliver.
    assert sizes[small]["width"] >= 0.1 * sizes[big]["width"]
    headings = [h.text for h in browser.find_elements("tag name", "h2")]
    assert "FLOPs per op kind (log scale)" in headings  # a log scale says so
    axis = browser.find_elements("css selector", "#chart .axis text")
    assert len(axis) >= 3 and axis[-1].text == "FLOP (log)"

    named = browser.find_elements("css selector", "#named tbody tr")
    assert len(named) == len(skewed.named_ops) > 0
    ops = browser.find_elements("css selector", "#ops tbody tr")
    assert len(ops) == len(skewed.ops) > 0


def test_analysis_page_sorts_the_op_table(browser, skewed, tmp_path):
    """Sorting the second table sorts by the clicked column (an index counted over every
    table's headers sorted the ops table by a column two to the right)."""
    page = tmp_path / "analysis.html"
    page.write_text(analysis_page(skewed), encoding="utf-8")
    _open(browser, page)
    bytes_column = 7  # `#`, named, iterators, loops, MACs, FLOPs, bytes: nth-child counts from 1
    browser.find_element("css selector", f"#ops th:nth-child({bytes_column})").click()
    values = browser.execute_script(
        f"return Array.from(document.querySelectorAll('#ops tbody td:nth-child({bytes_column})'),"
        " td => Number(td.dataset.v));"
    )
    traffic = [(op.bytes_read or 0) + (op.bytes_written or 0) for op in skewed.ops]
    assert values == sorted(traffic) != traffic  # the click changed the order
    _assert_no_js_errors(browser)


def test_a_failing_cell_with_a_stored_run_shows_how_to_get_its_stages(browser, tmp_path):
    """A cell computed with a store names its run: the click shows the command that copies
    the cell's IR and .vmfb out (frontend-mess store export)."""
    base = {"suite": "t", "path": "fx-linalg", "target": "llvm-cpu", "stage": "compile",
            "seconds": {}, "max_rel_error": None, "error_class": "x"}  # fmt: skip
    records = [
        {**base, "source": "stored", "status": "compile-fail", "error": "boom", "run": "R-1"},
        {**base, "source": "plain", "status": "compile-fail", "error": "bang"},
    ]
    page = tmp_path / "runs.html"
    page.write_text(matrix_page(records), encoding="utf-8")
    _open(browser, page)
    for row in browser.find_elements("css selector", "#cells-table tbody tr.failing"):
        row.click()
    shown = [e.get_attribute("textContent") for e in browser.find_elements(
        "css selector", "#cells-table tbody tr.error")]  # fmt: skip
    assert sorted(shown) == ["bang", "boomfrontend-mess store export R-1 ./R-1"]
    _assert_no_js_errors(browser)


def test_bench_page_draws_latency_to_scale_and_keeps_text_inert(browser, tmp_path):
    """One bar per measured runtime, its length proportional to the median (the slowest is
    the full width); a source name and an error that hold markup stay text."""
    from frontend_mess.bench.report import BAR_WIDTH
    from frontend_mess.bench.report import html_page as bench_page
    from frontend_mess.bench.run import BenchReport, Row

    hostile = "</script><!--<script><b>not markup</b> & 'quotes'"
    report = BenchReport(
        source=hostile,
        batch=1,
        threads=2,
        rounds=3,
        reference="eager",
        rows=[
            Row("eager", median_ms=40.0, spread=0.05, p90_ms=41.0, throughput=25.0),
            Row("iree", median_ms=10.0, spread=0.02, p90_ms=11.0, throughput=100.0),
            Row("onnxruntime", median_ms=20.0, spread=0.1, p90_ms=22.0, throughput=50.0),
            Row("inductor", error=hostile),
        ],
    )
    page = tmp_path / "bench.html"
    page.write_text(bench_page(report), encoding="utf-8")
    _open(browser, page)
    bars = {
        bar.get_attribute("data-runtime"): bar.rect
        for bar in browser.find_elements("css selector", "#latency rect.bar")
    }
    assert set(bars) == {"eager", "iree", "onnxruntime"}  # the failed runtime has no bar
    assert bars["eager"]["width"] == pytest.approx(BAR_WIDTH, abs=1)
    assert bars["iree"]["width"] == pytest.approx(BAR_WIDTH / 4, abs=1)
    assert bars["onnxruntime"]["width"] == pytest.approx(BAR_WIDTH / 2, abs=1)
    assert len(browser.find_elements("css selector", "#runtimes tbody tr")) == 3
    assert browser.find_elements("css selector", "b") == []
    failed = browser.find_element("css selector", "p.failed")
    assert failed.get_attribute("textContent") == f"inductor: not measured: {hostile}"
    assert hostile in browser.find_element("tag name", "h1").get_attribute("textContent")
    _assert_no_js_errors(browser)

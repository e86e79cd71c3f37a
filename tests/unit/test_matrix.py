"""The matrix runner: one process per cell, statuses, resume, summary, compare."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from frontend_mess.matrix.cell import error_class
from frontend_mess.matrix.report import compare_runs, html_page, summary_markdown
from frontend_mess.matrix.runner import cells, read_results, run_matrix
from frontend_mess.support.errors import FrontendError

INPUTS = Path(__file__).resolve().parents[1] / "filecheck" / "Inputs"


def cell(source: str, path: str = "fx-torch", suite: str = "test") -> dict:
    return {
        "suite": suite,
        "source": source,
        "path": path,
        "target": "llvm-cpu",
        "compile_only": False,
    }


def test_statuses_resume_and_summary(tmp_path):
    output = tmp_path / "m.jsonl"
    todo = [
        cell(str(INPUTS / "mlp.py")),
        cell(f"{INPUTS / 'zoo.py'}:AddMul"),
        cell(str(INPUTS / "rotary.py"), "fx-tosa"),
    ]
    records = run_matrix(todo, output, jobs=2, timeout_s=300)
    status = {Path(r["source"]).name + "/" + r["path"]: r["status"] for r in records}
    assert status == {
        "mlp.py/fx-torch": "pass",
        "zoo.py:AddMul/fx-torch": "import-fail",
        "rotary.py/fx-tosa": "pass",
    }
    passed = next(r for r in records if r["status"] == "pass")
    assert set(passed["seconds"]) == {"load", "export", "import", "compile", "run"}
    assert passed["max_rel_error"] is not None
    again = run_matrix(todo, output, jobs=2, timeout_s=300)  # resume: nothing reruns
    assert len(again) == 3 and len(read_results(output)) == 3
    summary = summary_markdown(again)
    assert "| fx-torch | 1 | 2 | 50% |" in summary


def test_timeout_and_crash_fail_only_their_cell(tmp_path):
    output = tmp_path / "m.jsonl"
    records = run_matrix([cell(str(INPUTS / "mlp.py"))], output, timeout_s=1)
    assert records[0]["status"] == "timeout"
    output.unlink()
    records = run_matrix([cell(str(INPUTS / "mlp.py"))], output, memory_gb=0.3)
    assert records[0]["status"] == "crash"


def test_compare():
    """The drift view: versions that moved, fixes and breaks grouped by the failing side's
    error class (cells, models, first error, repro), and cells failing differently."""
    v1 = {"torch": "2.14.1", "iree-base-compiler": "3.13.0"}
    v2 = {"torch": "2.15.0", "iree-base-compiler": "3.13.0"}

    def record(source, status, error_class=None, error="", versions=v1, env="default"):
        return {
            **cell(source),
            "status": status,
            "error_class": error_class,
            "error": error,
            "versions": versions,
            "env": env,
        }

    old = [
        record("a", "pass"),
        record("b", "compile-fail", "onnx.Cast", "failed to legalize onnx.Cast"),
        record("c", "compile-fail", "onnx.Cast", "failed to legalize onnx.Cast"),
        record("d", "import-fail", "OnnxImportError", "x"),
    ]
    new = [
        record("a", "run-fail", "signal 11", "killed by signal 11", v2, "torch-next"),
        record("b", "pass", versions=v2, env="torch-next"),
        record("c", "pass", versions=v2, env="torch-next"),
        record("d", "compile-fail", "torch.aten.sum", "y", v2, "torch-next"),
    ]
    repros = {"cast-repro": {"error_class": "onnx.Cast", "repro": "cast-repro"}}
    text = compare_runs(old, new, repros)
    assert "environments: default -> torch-next" in text
    assert "versions changed: 1" in text and "torch: 2.14.1 -> 2.15.0" in text
    assert "newly passing: 2" in text
    assert "`onnx.Cast` (was): 2 cells, 2 models; first error: failed to legalize" in text
    assert "repro reports/repros/cast-repro" in text and "+ test b" in text
    assert "newly failing: 1" in text and "`signal 11` (now): 1 cells" in text
    assert "failing differently: 1" in text and "`OnnxImportError` -> compile-fail" in text
    assert "iree-base-compiler" not in text
    old[0]["host_isa"], new[0]["host_isa"] = "avx512f", "avx2"
    assert "- test a fx-torch llvm-cpu (hosts differ: avx512f and avx2" in compare_runs(old, new)


def test_summary_pivots_suite_by_environment():
    records = [
        {**cell("a"), "status": "pass", "env": "default"},
        {**cell("a"), "status": "compile-fail", "env": "torch-next", "error_class": "x"},
    ]
    summary = summary_markdown(records)
    assert "| test (default) | 1/1 (100%) |" in summary
    assert "| test (torch-next) | 0/1 (0%) |" in summary
    assert "| test | 1/1" in summary_markdown(records[:1])


@pytest.mark.slow
def test_a_line_cut_short_by_a_kill_reruns_on_resume(tmp_path):
    output = tmp_path / "m.jsonl"
    todo = [cell(str(INPUTS / "mlp.py")), cell(f"{INPUTS / 'zoo.py'}:AddMul")]
    first = run_matrix(todo, output, timeout_s=300)
    assert len(first) == 2
    lines = output.read_text().splitlines()
    output.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # killed mid-write
    assert len(read_results(output)) == 1
    again = run_matrix(todo, output, timeout_s=300)
    assert sorted(r["source"] for r in again) == sorted(c["source"] for c in todo)
    assert all(json.loads(line) for line in output.read_text().splitlines())
    # the first line damaged (issue 11): skipped, its cell rerun, the file whole again
    lines = output.read_text().splitlines()
    output.write_text(lines[0][:10] + "\n" + lines[1] + "\n")
    third = run_matrix(todo, output, timeout_s=300)
    assert sorted(r["source"] for r in third) == sorted(c["source"] for c in todo)
    assert all(json.loads(line) for line in output.read_text().splitlines())


def test_records_carry_versions_and_flags(tmp_path):
    records = run_matrix([cell(f"{INPUTS / 'zoo.py'}:AddMul")], tmp_path / "m.jsonl")
    assert records[0]["versions"]["iree-base-compiler"] == "3.13.0"
    assert "--iree-hal-target-device=local" in records[0]["flags"]


def test_onnx_suites_take_the_onnx_paths():
    todo = cells(["onnx-node", "hf-tiny"], ["fx-torch", "onnx"], ["llvm-cpu"], match=["test_abs"])
    assert {(c["suite"], c["path"]) for c in todo} == {("onnx-node", "onnx")}
    todo = cells(["onnx-node"], ["fx-torch"], ["llvm-cpu"], match=["test_abs"])
    assert {c["path"] for c in todo} == {"onnx", "onnx-iree"}  # both importers by default


def test_onnx_node_cells(tmp_path):
    todo = [
        {**cell(name, path), "suite": "onnx-node"}
        for name, path in [
            ("test_abs", "onnx"),
            ("test_abs", "onnx-iree"),
            ("test_cumprod_1d", "onnx"),
            ("test_cast_FLOAT_to_DOUBLE", "onnx"),
        ]
    ]
    records = {(r["source"], r["path"]): r for r in run_matrix(todo, tmp_path / "m.jsonl")}
    assert records["test_abs", "onnx"]["status"] == "pass"
    assert records["test_abs", "onnx"]["max_rel_error"] == 0.0
    assert records["test_abs", "onnx-iree"]["status"] == "pass"
    assert records["test_cumprod_1d", "onnx"]["status"] == "compile-fail"
    assert records["test_cumprod_1d", "onnx"]["error_class"] == "onnx.CumProd"
    assert records["test_cast_FLOAT_to_DOUBLE", "onnx"]["status"] == "pass"  # iree #24180


def test_damaged_lines_anywhere_are_skipped_and_reported(tmp_path, capsys):
    good = json.dumps(
        {"suite": "s", "source": "a", "path": "onnx", "target": "llvm-cpu", "status": "pass"}
    )
    results = tmp_path / "r.jsonl"
    results.write_text(f"{good[:20]}\n\x00garbage\n{good}\n[1]\n{good}")
    assert [r["source"] for r in read_results(results)] == ["a", "a"]
    assert "skipped 3 damaged line(s) (1, 2, 4)" in capsys.readouterr().err


def test_unreadable_result_file_is_one_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n{}\n")
    assert read_results(bad) == []  # a run resumes from nothing: every cell reruns
    with pytest.raises(FrontendError, match="holds no matrix record"):
        read_results(bad, must_exist=True)
    with pytest.raises(FrontendError, match="does not exist"):
        read_results(tmp_path / "missing.jsonl", must_exist=True)


def test_error_class():
    wrong = "main takes 157 input(s) (24xf32, 24xf32, i64, 24xf32), got 1"
    assert error_class(wrong) == error_class(wrong.replace("157", "103").replace("24x", "16x"))
    assert error_class(wrong) == "the function's inputs are not the model's"
    assert error_class("error: failed to legalize operation 'tosa.gather' that") == "tosa.gather"
    assert error_class("unexpected KeyError: 'x'") == "KeyError"
    illegal = (
        "error: failed to legalize operation 'torch.operator' that was explicitly marked "
        'illegal: %0 = "torch.operator"(%arg0) <{name = "onnx.CumProd"}>'
    )
    assert error_class(illegal) == "onnx.CumProd"
    runtime = "Error invoking function: c/runtime/src/iree/hal/buffer_view.c:47: OUT_OF_RANGE; x"
    assert error_class(runtime) == "runtime OUT_OF_RANGE"
    assert error_class("IREE failed for test_x: error: needs 12 bytes (--keep-diagnostics D)") == (
        "needs N bytes"
    )


def _records() -> list[dict]:
    base = {"target": "llvm-cpu", "stage": "", "max_rel_error": None, "seconds": {"load": 0.1}}
    return [
        {**base, "suite": "onnx-node", "source": "test_abs", "path": "onnx", "status": "pass",
         "error": "", "error_class": ""},
        {**base, "suite": "onnx-node", "source": "test_cumprod_1d", "path": "onnx",
         "status": "compile-fail", "stage": "compile", "error_class": "onnx.CumProd",
         "error": "failed to legalize 'onnx.CumProd' </script><b>not markup</b>"},
        {**base, "suite": "torchvision", "source": "resnet18", "path": "fx-tosa",
         "status": "mismatch", "error": "main output 0: max abs 3", "error_class": "mismatch"},
    ]  # fmt: skip


def test_html_page_embeds_every_record_and_escapes_errors():
    page = html_page(_records())
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the error text is inert
    embedded = page.split('id="cells">', 1)[1].split("</script>", 1)[0]
    # each record as given, with the environment variant it was made in (older: the default)
    # and whether it counts as passing (report.passed: the page's one source of that fact)
    expected = [{**r, "env": "default", "passing": r["status"] == "pass"} for r in _records()]
    assert json.loads(embedded.replace("<\\/", "</")) == expected
    assert "http://" not in page and "https://" not in page  # opens with no network
    assert "1/2 (50%)" in page  # onnx-node × onnx pass rate


@pytest.mark.skipif(not shutil.which("chromium"), reason="no chromium to render the page")
def test_html_page_filters_in_a_headless_browser(tmp_path):
    page = tmp_path / "matrix.html"
    page.write_text(html_page(_records()))

    def rendered(hash_: str) -> str:
        done = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--dump-dom",
                f"file://{page}#{hash_}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.stdout

    def table(dom: str) -> str:
        return dom.split('id="cells-table"', 1)[1].split("</table>", 1)[0]

    everything = rendered("")
    assert "3 of 3 cells, 1 pass" in everything
    failures = rendered("status=fail")
    assert "2 of 3 cells, 0 pass" in failures and "test_abs" not in table(failures)
    assert "onnx.CumProd" in table(failures) and "resnet18" in table(failures)
    search = rendered("q=cumprod")
    assert "1 of 3 cells" in search and "resnet18" not in table(search)


def test_rerun_failures_touches_only_the_cells_asked_for(tmp_path):
    output = tmp_path / "m.jsonl"
    other = {**cell("elsewhere"), "status": "compile-fail", "error_class": "x", "seconds": {}}
    output.write_text(json.dumps(other) + "\n")
    todo = [cell(f"{INPUTS / 'zoo.py'}:AddMul")]
    run_matrix(todo, output)
    records = run_matrix(todo, output, rerun_failures=True)
    assert sorted(r["source"] for r in records) == sorted(["elsewhere", todo[0]["source"]])


def node_cell(source: str, path: str = "onnx") -> dict:
    return cell(source, path, "onnx-node")


@pytest.mark.slow
def test_onnx_node_cells_of_one_ir_compile_once(tmp_path):
    """Both ONNX importers give a node case the same IR, so with a store its second cell's
    compile is the first one's, a failure included (store/stages.py compiled); the records
    are what each cell computed alone says, and the shared stage is named."""
    from frontend_mess.store.objects import Store

    cases = ["test_abs", "test_affine_grid_2d"]  # passes; iree-compile fails (onnx.AffineGrid)
    todo = [node_cell(c, p) for c in cases for p in ("onnx", "onnx-iree")]
    alone = run_matrix(todo, tmp_path / "alone.jsonl", jobs=2)
    store = Store(tmp_path / "store")
    shared = run_matrix(todo, tmp_path / "shared.jsonl", jobs=1, store=store)
    fields = ("status", "stage", "error", "error_class", "max_rel_error")
    by_cell = {(r["source"], r["path"]): r for r in alone}
    for record in shared:
        want = by_cell[record["source"], record["path"]]
        assert {f: record[f] for f in fields} == {f: want[f] for f in fields}
    status = {(r["source"], r["path"]): r["status"] for r in shared}
    assert status[("test_abs", "onnx")] == status[("test_abs", "onnx-iree")] == "pass"
    assert status[("test_affine_grid_2d", "onnx-iree")] == "compile-fail"
    # path by path (and one at a time, here): the second path's cells find the first's compile
    passed = [r for r in shared if r["source"] == "test_abs"]
    assert [r.get("shared") for r in passed] == [None, ["compile"]]
    assert not any("shared" in r for r in alone)


@pytest.mark.slow
def test_a_worker_that_times_out_or_dies_fails_only_that_cell(tmp_path):
    """Node cells share a worker process (runner.Worker): a timeout kills it and fails only
    the cell in flight, and the next cell starts a fresh one; a worker that cannot run at all
    (no memory) gives each cell a crash record, not a hang."""
    from frontend_mess.matrix.runner import Worker

    worker = Worker(16.0, None, False)
    try:
        assert worker.run(node_cell("test_abs"), 0)["status"] == "timeout"
        assert worker.process is None
        first = worker.run(node_cell("test_abs"), 300)
        process = worker.process
        second = worker.run(node_cell("test_relu"), 300)
        assert first["status"] == second["status"] == "pass"
        assert worker.process is process  # one process ran both
    finally:
        worker.close()
    assert worker.process is None
    records = run_matrix(
        [node_cell("test_abs"), node_cell("test_relu")], tmp_path / "m.jsonl", memory_gb=0.3
    )
    assert [r["status"] for r in records] == ["crash", "crash"]

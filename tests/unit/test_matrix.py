"""The matrix runner: one process per cell, statuses, resume, summary, compare."""

from pathlib import Path

from frontend_mess.matrix import compare_runs, read_results, run_matrix, summary_markdown
from frontend_mess.matrix_cell import error_class

INPUTS = Path(__file__).resolve().parents[1] / "filecheck" / "Inputs"


def cell(source: str, path: str = "fx-torch") -> dict:
    return {
        "suite": "test",
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
    assert set(passed["seconds"]) == {"import", "compile", "run"}
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
    old = [{**cell("a"), "status": "pass"}, {**cell("b"), "status": "compile-fail"}]
    new = [{**cell("a"), "status": "run-fail"}, {**cell("b"), "status": "pass"}]
    text = compare_runs(old, new)
    assert "newly passing: 1" in text and "+ test b" in text
    assert "newly failing: 1" in text and "(run-fail)" in text


def test_error_class():
    assert error_class("error: failed to legalize operation 'tosa.gather' that") == "tosa.gather"
    assert error_class("unexpected KeyError: 'x'") == "KeyError"

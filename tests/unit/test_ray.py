"""`matrix --executor ray` on a Ray cluster of this machine (a head and one more worker node,
started with `ray start` on loopback, as CI does): the same records as the local executor, a
cell that segfaults or runs out of its memory cap fails alone, a killed driver resumes losing
and duplicating nothing, and without Ray installed one error line. notes/ray.md."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from frontend_mess.matrix.runner import read_results
from frontend_mess.store.objects import Store

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ROOT / "tests" / "filecheck" / "Inputs"
# onnx-node cases that pass, and that fail at import, compile, run and compare (their
# committed records, reports/matrix-onnx-node.jsonl): each status is compared
SLICE = [
    "test_sum_one_input",
    "test_max_one_input",
    "test_cast_FLOAT16_to_INT2",
    "test_cast_INT4_to_FLOAT16",
    "test_scan_sum",
    "test_gridsample_nearest_align_corners_1_additional_1",
]
ray_missing = pytest.mark.skipif(
    __import__("importlib").util.find_spec("ray") is None,
    reason="ray: the optional extra is not installed here (`uv sync --extra ray`; CI has it)",
)


def matrix(
    *args: str, output: Path, check: bool = True, store: Path | None = None
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "frontend_mess", "matrix", "--suite", "onnx-node"]
    command += ["--path", "onnx", "-q", "-o", str(output)]
    command += ["--store", str(store)] if store else ["--no-store"]
    command += [arg for name in SLICE for arg in ("--match", name)]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


def verdicts(path: Path) -> dict[str, tuple[str, str]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = read_results(path)  # a line cut short by the kill is skipped, as on resume
    assert len(records) >= len(lines) - 1
    assert len({r["source"] for r in records}) == len(records), "a cell recorded twice"
    return {r["source"]: (r["status"], r["error_class"]) for r in records}


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster on loopback: a head with one CPU and a second node with one. Ray 2.60
    turns token authentication on for `ray start --head`: every process of the cluster and
    every driver needs the token (here in the environment, which the drivers inherit)."""
    import secrets

    ray = str(Path(sys.executable).parent / "ray")
    # Ray's sockets live under its temp dir, and an AF_UNIX path has at most 107 bytes: under
    # pytest-xdist, tmp_path_factory's /tmp/pytest-of-root/pytest-N/popen-gw0/... is too long
    # ("validate_socket_filename failed"), so the cluster gets a short directory of its own
    temp = Path(tempfile.mkdtemp(prefix="fm-ray-", dir="/tmp"))
    port = 6400 + os.getpid() % 500
    address = f"127.0.0.1:{port}"
    common = ["--num-cpus=1", "--disable-usage-stats"]
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {name: os.environ.get(name) for name in auth}
    os.environ.update(auth)
    env = dict(os.environ)
    subprocess.run(
        [ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--include-dashboard=false", f"--temp-dir={temp}", *common],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    try:
        command = [ray, "start", f"--address={address}", "--node-ip-address=127.0.0.1", *common]
        for _ in range(3):  # a loaded host's head may not take a node at once
            joined = subprocess.run(command, capture_output=True, text=True, env=env)
            if joined.returncode == 0:
                break
            time.sleep(5)
        assert joined.returncode == 0, f"the second node did not join: {joined.stderr[-1500:]}"
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env)
        shutil.rmtree(temp, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def local_verdicts(tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("local") / "local.jsonl"
    matrix("-j", "2", output=output)
    found = verdicts(output)
    assert len(found) >= len(SLICE)
    return found


@pytest.mark.slow
@pytest.mark.timeout(900)  # a stuck cluster fails the test, not CI
@ray_missing
def test_ray_records_equal_the_local_executors(cluster, local_verdicts, tmp_path):
    output = tmp_path / "ray.jsonl"
    matrix("--executor", "ray", "--address", cluster, output=output)
    assert verdicts(output) == local_verdicts
    statuses = {status for status, _ in local_verdicts.values()}
    assert {"pass", "import-fail", "compile-fail", "run-fail", "mismatch"} <= statuses
    nodes = {json.loads(line)["node"] for line in output.read_text().splitlines()}
    assert len(nodes) == 2, nodes  # both nodes ran cells, and each record names its node


@pytest.mark.slow
@pytest.mark.timeout(900)  # a stuck cluster fails the test, not CI
@ray_missing
def test_stages_computed_on_the_nodes_are_hits_elsewhere(cluster, local_verdicts, tmp_path):
    """With a store on a filesystem every node sees (here one directory), the nodes write each
    cell's stages there; a later run elsewhere (the local executor) is served from it."""
    store = tmp_path / "store"
    matrix("--executor", "ray", "--address", cluster, output=tmp_path / "ray.jsonl", store=store)
    stages = {stage for stage, _ in Store(store).actions()}
    assert "cell" in stages and len(stages - {"cell", "suite"}) >= 1, stages
    again = tmp_path / "local.jsonl"
    matrix("-j", "1", output=again, store=store)
    records = read_results(again)
    assert all(r.get("cached") for r in records), [r["source"] for r in records]
    assert verdicts(again) == local_verdicts


@pytest.mark.slow
@pytest.mark.timeout(900)  # a stuck cluster fails the test, not CI
@ray_missing
def test_a_killed_driver_resumes_losing_and_duplicating_nothing(cluster, local_verdicts, tmp_path):
    output = tmp_path / "killed.jsonl"
    command = [sys.executable, "-m", "frontend_mess", "matrix", "--suite", "onnx-node"]
    command += ["--path", "onnx", "--no-store", "-q", "-o", str(output), "-j", "1"]
    command += ["--executor", "ray", "--address", cluster]
    command += [arg for name in SLICE for arg in ("--match", name)]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and driver.poll() is None:
        if output.exists() and len(output.read_text().splitlines()) >= 2:
            break
        time.sleep(0.5)
    assert driver.poll() is None, "the run ended before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    before = len(verdicts(output))
    assert 2 <= before < len(local_verdicts)
    matrix("--executor", "ray", "--address", cluster, output=output)
    assert verdicts(output) == local_verdicts


@pytest.mark.slow
@pytest.mark.timeout(900)  # a stuck cluster fails the test, not CI
@ray_missing
def test_a_segfault_or_the_memory_cap_fails_only_its_cell(cluster, tmp_path):
    from frontend_mess.matrix.runner import run_matrix

    def cell(source: Path) -> dict:
        return {"suite": "torchvision", "source": str(source), "path": "fx-torch",
                "target": "llvm-cpu", "compile_only": False}  # fmt: skip

    cells = [cell(INPUTS / "segfault.py"), cell(INPUTS / "mlp.py")]
    try:  # run_matrix imports Ray (ray_executor._ray, which turns Ray's uv hook off first)
        records = run_matrix(cells, tmp_path / "a.jsonl", executor="ray", address=cluster)
        by_source = {Path(r["source"]).name: r for r in records}
        assert by_source["segfault.py"]["status"] == "crash"
        assert by_source["segfault.py"]["error_class"] == "signal 11"
        assert by_source["mlp.py"]["status"] == "pass"
        records = run_matrix(cells[1:], tmp_path / "b.jsonl", executor="ray", address=cluster,
                             memory_gb=0.3)  # fmt: skip
        assert [r["status"] for r in records] == ["crash"]
    finally:
        if "ray" in sys.modules:
            sys.modules["ray"].shutdown()  # this process joined the cluster: leave first


@pytest.mark.slow
@pytest.mark.timeout(900)  # a stuck cluster fails the test, not CI
@ray_missing
@pytest.mark.skipif(shutil.which("uv") is None, reason="uv: not on PATH here")
def test_a_driver_under_uv_run_uses_the_nodes_environment(cluster, tmp_path):
    """Ray replicates a driver started by `uv run` onto its workers (a fresh environment from
    pyproject.toml, without the ray extra, where they die at start) unless
    RAY_ENABLE_UV_RUN_RUNTIME_ENV is off, which ray_executor does. Under the hook this run
    never ends; the deadline makes that a failure."""
    output = tmp_path / "uv.jsonl"
    command = ["uv", "run", "--no-sync", "python", "-m", "frontend_mess", "matrix"]
    command += ["--suite", "onnx-node", "--path", "onnx", "--no-store", "-q", "-o", str(output)]
    command += ["--match", SLICE[0], "--executor", "ray", "--address", cluster]
    unset = ("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "VIRTUAL_ENV")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r["status"] for r in read_results(output)] == ["pass"]


def test_without_ray_one_error_line(monkeypatch, capsys, tmp_path):
    from frontend_mess import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = cli.main(["matrix", "--suite", "onnx-node", "--match", "test_abs", "--executor",
                     "ray", "--no-store", "-o", str(tmp_path / "r.jsonl")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "uv sync --extra ray" in err
    assert not (tmp_path / "r.jsonl").exists() or not (tmp_path / "r.jsonl").read_text()


def test_address_needs_the_ray_executor(capsys):
    from frontend_mess import cli

    code = cli.main(["matrix", "--suite", "onnx-node", "--address", "127.0.0.1:6379"])
    assert code == 2 and "add --executor ray" in capsys.readouterr().err

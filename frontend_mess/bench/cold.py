"""One cold start, in the fresh process this module runs as (bench/run.py starts it):
load a deployable artifact, call it once, then time a few warm calls; print JSON.

    python -m frontend_mess.bench.cold '{"kind": "iree", "files": [...], "inputs": [...]}'

`kind` is `iree` (files: the `.vmfb`, then its `.irpa` archives) or `onnxruntime` (files:
the `.onnx`). The clock starts after the imports (Python's start-up is apart, as the issue
counts it) and stops when the first call's outputs are on the host. Peak memory is this
process's peak resident set (VmHWM) beyond what it held before loading: the runtime, the weights it
maps or copies, and its working memory for one call.
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise OSError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    """Restart this address space's peak resident set (VmHWM) from now, so the imports'
    peak is left out. (getrusage's maxrss would not do: it survives fork and exec, so it
    would report the bench process's peak, torch loaded.)"""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _iree(files: list[str], arrays: list, threads: int):
    from frontend_mess.backend.artifact import Artifact
    from frontend_mess.bench.runtimes import set_iree_threads

    set_iree_threads(threads)
    module = Artifact.load(files[0], tuple(files[1:])).module()
    return lambda: module.call(None, arrays)


def _onnxruntime(files: list[str], arrays: list, threads: int):
    from frontend_mess.bench.runtimes import ort_session

    session = ort_session(files[0], threads)
    names = [i.name for i in session.get_inputs()]
    feed = dict(zip(names, arrays, strict=True))
    return lambda: session.run(None, feed)


LOADERS = {"iree": _iree, "onnxruntime": _onnxruntime}


def _import_loaders() -> None:
    """Import what the loaders import, before the clock: imports are start-up, not cold
    start. frontend-mess's own modules too: where nothing writes `.pyc` files
    (PYTHONDONTWRITEBYTECODE, as on these machines), importing runtime.py and params.py
    compiled them inside the clock: 4-5 ms of resnet18's cold start (notes/store.md)."""
    import encodings.cp437  # noqa: F401  (zipfile decodes the archive's names with it)
    import mmap  # noqa: F401

    import iree.runtime  # noqa: F401
    import onnxruntime  # noqa: F401

    import frontend_mess.backend.integrity  # noqa: F401
    import frontend_mess.backend.params  # noqa: F401
    import frontend_mess.backend.runtime  # noqa: F401
    import frontend_mess.bench.runtimes  # noqa: F401


def measure(kind: str, files: list[str], inputs: list[str], threads: int, warm: int = 5) -> dict:
    import numpy as np

    arrays = [np.load(path, allow_pickle=False) for path in inputs]
    _import_loaders()

    _reset_peak()
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    call = LOADERS[kind](files, arrays, threads)
    call()
    cold = time.perf_counter() - start
    times = []
    for _ in range(warm):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {
        "cold_ms": 1000 * cold,
        "warm_ms": 1000 * statistics.median(times),
        "peak_mb": _status_mb("VmHWM") - before,
    }


def main(argv: list[str]) -> int:
    request = json.loads(argv[0])
    print(json.dumps(measure(**request)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

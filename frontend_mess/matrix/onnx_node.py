"""The ONNX node conformance cases (`onnx.backend.test.case.node`) as files on disk.

The `onnx` wheel ships no `data/node` directory: its ~1,900 cases are Python code that builds a
model and reference inputs/outputs, about 12 s for all of them. A matrix cell runs in its own
process and must not pay that, so the cases are written once, in the layout onnx itself uses
for `data/node` (`NAME/model.onnx`, `NAME/test_data_set_0/input_0.pb`, `output_0.pb`, plus
`data.json` with the case's rtol/atol), under a cache directory keyed by the onnx version.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from frontend_mess.support.errors import FrontendError
from frontend_mess.support.progress import QUIET, Progress

_COMPLETE = "COMPLETE"


def cache_root() -> Path:
    """`$FRONTEND_MESS_CACHE`, else `$XDG_CACHE_HOME/frontend-mess`, else ~/.cache/..."""
    if "FRONTEND_MESS_CACHE" in os.environ:
        return Path(os.environ["FRONTEND_MESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "frontend-mess"


def cases_dir(progress: Progress = QUIET) -> Path:
    """The directory holding every case, written on first use (whole, or not at all)."""
    import onnx

    root = cache_root() / f"onnx-node-{onnx.__version__}"
    if (root / _COMPLETE).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with progress.step(f"writing the ONNX node conformance cases to {root}"):
        scratch = Path(tempfile.mkdtemp(prefix=root.name + ".", dir=root.parent))
        try:
            from onnx.backend.test.case.node import collect_testcases

            with warnings.catch_warnings():  # the cases divide by zero on purpose
                warnings.simplefilter("ignore")
                cases = collect_testcases(None)
            for case in cases:
                write_case(case, scratch / case.name)
            (scratch / _COMPLETE).write_text(onnx.__version__ + "\n")
            if root.exists() and not (root / _COMPLETE).exists():
                shutil.rmtree(root, ignore_errors=True)  # a half-written one, from a kill
            try:
                scratch.rename(root)
            except OSError:
                # another process (a second test worker) put a whole copy in place first
                if not (root / _COMPLETE).exists():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return root


def case_names(progress: Progress = QUIET) -> list[str]:
    root = cases_dir(progress)
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def _value_kind(value_info) -> str:
    return value_info.type.WhichOneof("value") or "tensor_type"


def _serialize(value, value_info) -> bytes:
    from onnx import TensorProto, numpy_helper

    kind = _value_kind(value_info)
    if kind == "sequence_type":
        return numpy_helper.from_list(value, value_info.name).SerializeToString()
    if kind == "optional_type":
        return numpy_helper.from_optional(value, value_info.name).SerializeToString()
    if kind == "map_type":
        return numpy_helper.from_dict(value, value_info.name).SerializeToString()
    if isinstance(value, TensorProto):
        return value.SerializeToString()
    return numpy_helper.from_array(value, value_info.name).SerializeToString()


def _deserialize(data: bytes, value_info):
    import onnx
    from onnx import numpy_helper

    kind = _value_kind(value_info)
    if kind == "sequence_type":
        proto = onnx.SequenceProto()
        proto.ParseFromString(data)
        return numpy_helper.to_list(proto)
    if kind == "optional_type":
        proto = onnx.OptionalProto()
        proto.ParseFromString(data)
        return numpy_helper.to_optional(proto)
    if kind == "map_type":
        proto = onnx.MapProto()
        proto.ParseFromString(data)
        return numpy_helper.to_dict(proto)
    proto = onnx.TensorProto()
    proto.ParseFromString(data)
    return numpy_helper.to_array(proto)


def write_case(case, directory: Path) -> None:
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(case.model.SerializeToString())
    (directory / "data.json").write_text(json.dumps({"rtol": case.rtol, "atol": case.atol}))
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        data_set = directory / f"test_data_set_{i}"
        data_set.mkdir()
        for j, value in enumerate(inputs):
            (data_set / f"input_{j}.pb").write_bytes(_serialize(value, graph.input[j]))
        for j, value in enumerate(outputs):
            (data_set / f"output_{j}.pb").write_bytes(_serialize(value, graph.output[j]))


@dataclass
class NodeCase:
    name: str
    model: object  # onnx.ModelProto
    data_sets: list[tuple[list, list]]
    rtol: float
    atol: float


def load_case(name: str, root: Path | None = None) -> NodeCase:
    import onnx

    directory = (root or cases_dir()) / name
    if not (directory / "model.onnx").is_file():
        raise FrontendError(
            f"no ONNX node case {name!r} in {directory.parent}: list them with "
            f"`frontend-mess matrix --suite onnx-node --list`"
        )
    model = onnx.load(str(directory / "model.onnx"))
    tolerance = json.loads((directory / "data.json").read_text())
    graph = model.graph
    data_sets = []
    for data_set in sorted(directory.glob("test_data_set_*")):
        inputs = [
            _deserialize((data_set / f"input_{j}.pb").read_bytes(), graph.input[j])
            for j in range(len(list(data_set.glob("input_*.pb"))))
        ]
        outputs = [
            _deserialize((data_set / f"output_{j}.pb").read_bytes(), graph.output[j])
            for j in range(len(list(data_set.glob("output_*.pb"))))
        ]
        data_sets.append((inputs, outputs))
    return NodeCase(name, model, data_sets, tolerance["rtol"], tolerance["atol"])

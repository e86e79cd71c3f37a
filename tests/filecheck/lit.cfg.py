"""lit configuration: RUN lines read like what a user types.

`frontend-mess` and `filecheck` are the project's console scripts, found on PATH (the
environment's bin directory is put first); `%python` is the environment's interpreter;
`%inputs` is the directory of model files that several tests share, `%hf_tiny` the tiny
Hugging Face configs in frontend_mess/matrix/data/hf-tiny, and `%onnx_data` the test data
that the `onnx` wheel ships (onnx/backend/test/data).
"""

import os
import sys

import lit.formats

config = globals()["config"]  # provided by lit

config.name = "frontend-mess"
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".test", ".py", ".mlir"]
config.excludes = ["Inputs", "lit.cfg.py", "Output"]
config.test_source_root = os.path.dirname(__file__)

bin_dir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
for name in ("HOME", "TMPDIR", "CI", "UV_CACHE_DIR", "XDG_CACHE_HOME", "FRONTEND_MESS_CACHE"):
    if name in os.environ:
        config.environment[name] = os.environ[name]
# No model hub at run time: fail fast instead of waiting on the network.
config.environment["HF_HUB_OFFLINE"] = "1"
config.environment["PYTHONUNBUFFERED"] = "1"
# Tests neither read nor fill the user's store (a cached stage would hide the work a test
# checks); the store's own tests name one with --store %t.store.
config.environment["FRONTEND_MESS_STORE"] = "off"

config.substitutions.append(("%python", sys.executable))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "Inputs")))
config.substitutions.append(
    (
        "%hf_tiny",
        os.path.join(
            config.test_source_root, "..", "..", "frontend_mess", "matrix", "data", "hf-tiny"
        ),
    )
)
import onnx  # noqa: E402  (lit runs in the project's environment, which has onnx)

config.substitutions.append(
    ("%onnx_data", os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data"))
)

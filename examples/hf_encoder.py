"""A Hugging Face encoder (a tiny BERT, random weights) from a saved directory: `hf:DIR`.

The config comes from frontend-mess's hf-tiny set; the model is built from it, saved with
`save_pretrained` to a temp dir, and imported from there with `from_pretrained`, the way a
downloaded model is. It is imported to linalg, compiled with IREE, run on random token ids and
compared with the same checkpoint run by transformers, then checked with `verify`.

    uv run python examples/hf_encoder.py
    uv run python examples/hf_encoder.py --config distilbert --seq-len 16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers

import frontend_mess

TINY_CONFIGS = Path(frontend_mess.__file__).parent / "matrix" / "data" / "hf-tiny"
#: elementwise tolerance for comparing IREE with transformers (float32 on CPU)
RTOL, ATOL = 1e-3, 1e-4


def save_tiny_model(name: str, directory: Path, auto: type = transformers.AutoModel) -> Path:
    """Build the hf-tiny config `name` with random weights and save it like a checkpoint."""
    settings = json.loads((TINY_CONFIGS / f"{name}.json").read_text())
    settings.pop("architectures", None)  # save_pretrained records the class actually built
    config = transformers.AutoConfig.for_model(settings.pop("model_type"), **settings)
    torch.manual_seed(0)
    auto.from_config(config).save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="bert", help="an encoder config in hf-tiny")
    parser.add_argument("--seq-len", type=int, default=8, help="example sequence length")
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()

    with tempfile.TemporaryDirectory() as scratch:
        directory = save_tiny_model(args.config, Path(scratch) / args.config)
        source = f"hf:{directory}"

        model = frontend_mess.import_model(source, to="linalg", seq_len=args.seq_len)
        print(f"imported {args.config}: {model.choices}")  # the task and attention chosen
        print(f"{sum(model.stats().values())} ops in the linalg module")
        artifact = model.compile()
        print(artifact)  # the signature: (input_ids, attention_mask) -> hidden states, pooled

        # Run it ourselves on fresh token ids and compare with transformers' own forward.
        reference = transformers.AutoModel.from_pretrained(directory).eval()
        generator = torch.Generator().manual_seed(7)
        ids = torch.randint(0, reference.config.vocab_size, (1, args.seq_len), generator=generator)
        mask = torch.ones_like(ids)
        got = artifact.run(ids, mask)[0]
        with torch.no_grad():
            want = reference(input_ids=ids, attention_mask=mask).last_hidden_state.numpy()
        error = float(np.abs(got - want).max())
        print(f"last_hidden_state {got.shape}: max abs error vs transformers {error:.3g}")
        if not np.allclose(got, want, rtol=RTOL, atol=ATOL):
            sys.exit(f"FAIL: IREE differs from transformers (rtol {RTOL}, atol {ATOL})")

        # verify: compile this linalg module, run it and PyTorch on seeded random inputs.
        report = model.verify()
        print(report.text(), end="")
    if not report.ok:
        sys.exit("FAIL: verify found a mismatch")
    print("OK: the encoder matches PyTorch")


if __name__ == "__main__":
    main()

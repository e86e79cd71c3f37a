"""A Hugging Face decoder (a tiny GPT-2 language model, random weights) from `hf:DIR`.

The tiny config is built with its causal-LM head, saved with `save_pretrained` and imported
back with `from_pretrained`; the task (`causal-lm`) comes from the saved config's
`architectures`. The model is imported at a fixed sequence length, compiled and verified, then
imported with a dynamic sequence length (`dynamic_dims=["1"]`: dim 1 of every input, so the
signature shows `?`) and verified at two lengths.

    uv run python examples/hf_decoder.py
    uv run python examples/hf_decoder.py --config llama
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
import transformers

import frontend_mess

TINY_CONFIGS = Path(frontend_mess.__file__).parent / "matrix" / "data" / "hf-tiny"


def save_tiny_model(
    name: str, directory: Path, auto: type = transformers.AutoModelForCausalLM
) -> Path:
    """Build the hf-tiny config `name` with random weights and save it like a checkpoint."""
    settings = json.loads((TINY_CONFIGS / f"{name}.json").read_text())
    settings.pop("architectures", None)  # save_pretrained records the class actually built
    config = transformers.AutoConfig.for_model(settings.pop("model_type"), **settings)
    torch.manual_seed(0)
    auto.from_config(config).save_pretrained(directory)
    return directory


def signature(model: frontend_mess.ImportedModel) -> str:
    line = next(line for line in model.text.splitlines() if "func.func" in line)
    return line.strip().removesuffix(" {")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="gpt2", help="a decoder-only config in hf-tiny")
    parser.add_argument("--seq-len", type=int, default=8, help="example sequence length")
    args = parser.parse_args()
    transformers.utils.logging.disable_progress_bar()

    with tempfile.TemporaryDirectory() as scratch:
        source = f"hf:{save_tiny_model(args.config, Path(scratch) / args.config)}"

        # Static: (input_ids, attention_mask) of 1 x seq-len -> logits 1 x seq-len x vocab.
        model = frontend_mess.import_model(source, to="linalg", seq_len=args.seq_len)
        print(f"imported {args.config}: {model.choices}")
        print(f"static:  {signature(model)}")
        static = model.verify()  # compiles this linalg module, compares with PyTorch
        print(static.text(), end="")

        # Dynamic sequence length: torch.export bounds it by the position embeddings.
        dynamic = frontend_mess.import_model(
            source, to="linalg", seq_len=args.seq_len, dynamic_dims=["1"]
        )
        print(f"dynamic: {signature(dynamic)}")
        if "?" not in signature(dynamic):
            sys.exit("FAIL: dynamic_dims=['1'] left the sequence length static")

        # verify with a dynamic dim runs two lengths (seq-len and seq-len + 1) through one
        # compiled module, on the default import path (fx-torch).
        report = frontend_mess.verify(source, seq_len=args.seq_len, dynamic_dims=["1"])
        print(report.text(), end="")
    if not (static.ok and report.ok):
        sys.exit("FAIL: verify found a mismatch")
    print("OK: the decoder matches PyTorch at a fixed and at a dynamic sequence length")


if __name__ == "__main__":
    main()

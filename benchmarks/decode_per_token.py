"""What the KV cache buys: the time to produce one token at prompt lengths 8, 64 and 256, with
the cache (`decode_step` of `--task text-generation-with-past`) and without one (`causal-lm`:
the whole prefix through the model for every token), on IREE llvm-cpu, side by side in one
run (issue 18).

    uv run python benchmarks/decode_per_token.py [--lengths 8,64,256] [--rounds 5]

The model is hf-tiny's Llama config with 512 position embeddings, random weights. With the
cache, one module serves every length (prefill padded to the longest prompt, a static cache of
the longest prompt + 16 positions); decode_step is timed at the position after each prompt.
Without it, one module per length (its input is the prefix), timed on a prefix of that length.
Ratios only: these hosts differ, and timings move with what else runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "frontend_mess" / "matrix" / "data" / "hf-tiny" / "llama.json"
NEW_TOKENS = 16


def compiled(source: str, **options):
    from frontend_mess import pipeline
    from frontend_mess.backend.targets import target_spec
    from frontend_mess.sources import SourceOptions

    loaded = pipeline.load(source, SourceOptions(**options))
    return loaded, pipeline.compile_loaded(loaded, target_spec("llvm-cpu")).module()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="8,64,256")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]

    import numpy as np

    from frontend_mess.bench.timing import take_turns
    from frontend_mess.importers.hf_generation import GENERATION_TASK

    scratch = Path(tempfile.mkdtemp(prefix="decode-per-token."))
    config = json.loads(CONFIG.read_text())
    config["max_position_embeddings"] = 512
    (scratch / "llama.json").write_text(json.dumps(config))
    source = f"hf-config:{scratch / 'llama.json'}"
    longest = max(lengths)
    loaded, cached = compiled(
        source, task=GENERATION_TASK, seq_len=longest, max_cache_len=longest + NEW_TOKENS
    )
    cache = [a.numpy() for a in loaded.torch.functions["decode_step"].example_args[2:]]
    calls = {}
    for n in lengths:
        step = [np.array([[1]], dtype=np.int64), np.array([n], dtype=np.int64), *cache]
        calls[f"cache {n}"] = lambda step=step: cached.call("decode_step", step)
        _, whole = compiled(source, task="causal-lm", seq_len=n)
        prefix = [np.ones((1, n), dtype=np.int64), np.ones((1, n), dtype=np.int64)]
        prefix = prefix[: len(whole.signature("main").inputs)]
        calls[f"no cache {n}"] = lambda whole=whole, prefix=prefix: whole.call("main", prefix)
    latency = take_turns(calls, rounds=args.rounds)
    first = latency[f"cache {lengths[0]}"].median_ms
    print(
        f"per-token time, ms (median of {args.rounds} rounds), and as a multiple of the "
        f"cached step at {lengths[0]}:"
    )
    for n in lengths:
        with_cache = latency[f"cache {n}"].median_ms
        without = latency[f"no cache {n}"].median_ms
        print(
            f"  prompt {n:>4}: with the cache {with_cache:7.3f} ({with_cache / first:5.2f}x)   "
            f"without {without:7.3f} ({without / first:5.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Decoder-only causal LMs as they are deployed: `prefill` and `decode_step` sharing a KV
cache held in plain tensors (`--task text-generation-with-past`, optimum's name for it).

- `prefill(input_ids[1, P]) -> (logits[1, P, V], k0, v0, k1, v1, ...)`: the prompt, right-padded
  to P tokens (`--seq-len`), from an empty cache. The logits of its last real token pick the
  first new one; what the padding writes into the cache past the prompt is never read (every
  query attends only to positions up to its own) and is overwritten as decoding goes on.
- `decode_step(token[1, 1], position[1], k0, v0, ...) -> (logits[1, 1, V], k0', v0', ...)`:
  one token at `position`, written into the cache there.

Each cache tensor is `[1, kv_heads, max_cache_len, head_dim]`: a static maximum length
(`--max-cache-len`) with a position input, not a dynamic one. Why: every path (fx-torch,
fx-linalg, fx-tosa, fx-stablehlo, turbine) and IREE's codegen take static shapes, the
function's signature is then the same at every step (one compiled function, no recompiling
per length), and it is what transformers' own export recipe for ExecuTorch does
(`integrations/executorch.py`, `TorchExportableModuleWithStaticCache`). The cost: attention
always reads all `max_cache_len` positions, masked past `position`.

The cache is transformers' own `StaticCache`, whose layers are handed the input tensors
(cloned, so the export sees no mutated input) at each call, so the model's attention, masks
and position handling are transformers' own for every architecture.
notes/huggingface.md; tests/unit/test_generation.py.
"""

from __future__ import annotations

import inspect

from frontend_mess.support.errors import FrontendError, first_lines

GENERATION_TASK = "text-generation-with-past"
#: the prompt the matrix's hf-generate cells decode from (token ids every hf-tiny vocabulary has)
GENERATION_PROMPT = (3, 17, 5, 9, 22)


def cache_shapes(model, max_cache_len: int) -> list[tuple[int, ...]]:
    """The shapes of the cache tensors, keys then values per layer: one step of the model with
    transformers' dynamic cache says them (a config's head counts do not: Falcon's multi-query
    attention keeps one kv head whatever `num_attention_heads` says)."""
    import torch
    from transformers import DynamicCache

    kind = model.config.model_type
    try:
        with torch.no_grad():
            out = model(
                input_ids=torch.zeros(1, 1, dtype=torch.int64),
                past_key_values=DynamicCache(config=model.config),
                use_cache=True,
            )
    except MemoryError:
        raise
    except Exception as exc:  # the model's forward rejects a cache
        raise FrontendError(
            f"{kind} does not run with transformers' KV cache ({type(exc).__name__}: "
            f"{first_lines(exc, 1)}): {GENERATION_TASK} needs a decoder-only LM that takes one"
        ) from exc
    cache = getattr(out, "past_key_values", None)
    if not getattr(cache, "layers", None):
        raise FrontendError(
            f"{kind} returns no KV cache from its forward ({type(model).__name__}): "
            f"{GENERATION_TASK} needs a decoder-only LM that does (Llama, GPT-2, Qwen2, ...)"
        )
    shapes = []
    for layer in cache.layers:
        for tensor in (layer.keys, layer.values):
            batch, heads, _, dim = tensor.shape
            shapes.append((batch, heads, max_cache_len, dim))
    return shapes


class CachedStep:
    """Builds the two modules: the model run on `input_ids` at `position` with the cache
    given as tensors, returning the logits and the updated cache."""

    @staticmethod
    def module(model, shapes: list[tuple[int, ...]], max_cache_len: int, *, prefill: bool):
        import torch
        from transformers import StaticCache
        from transformers.cache_utils import StaticLayer

        cache = StaticCache(max_cache_len=max_cache_len, config=model.config)
        if len(cache.layers) * 2 != len(shapes):
            raise FrontendError(
                f"{model.config.model_type}: its cache has {len(shapes) // 2} layers but "
                f"transformers' StaticCache makes {len(cache.layers)}: not supported for "
                f"{GENERATION_TASK}"
            )
        dtype = next(model.parameters()).dtype
        for index in range(len(cache.layers)):
            # a sliding-window layer's wraparound is control flow an export cannot keep; up to
            # max_cache_len tokens it is a plain static layer (transformers' executorch recipe)
            layer = StaticLayer(max_cache_len)
            keys, values = (torch.zeros(s, dtype=dtype) for s in shapes[2 * index : 2 * index + 2])
            layer.lazy_initialization(keys[:, :, :1], values[:, :, :1])
            cache.layers[index] = layer
        takes_positions = "position_ids" in inspect.signature(model.forward).parameters

        def step(input_ids, position, tensors):
            for index, layer in enumerate(cache.layers):
                layer.keys = tensors[2 * index].clone()
                layer.values = tensors[2 * index + 1].clone()
                layer.cumulative_length = position[0].clone()
            extra = {}
            if takes_positions:
                length = input_ids.shape[1]
                extra["position_ids"] = (torch.arange(length) + position[0]).unsqueeze(0)
            out = model(input_ids=input_ids, past_key_values=cache, use_cache=True, **extra)
            result = [out.logits]
            for layer in cache.layers:
                result += [layer.keys, layer.values]
            return tuple(result)

        class Prefill(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids):
                empty = [torch.zeros(s, dtype=dtype) for s in shapes]
                return step(input_ids, torch.zeros(1, dtype=torch.int64), empty)

        class DecodeStep(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, token, position, *tensors):
                return step(token, position, tensors)

        made = Prefill() if prefill else DecodeStep()
        if not prefill:  # optimum's names for the cache inputs
            made.input_names = ["token", "position"] + [
                f"past_key_values.{i // 2}.{'value' if i % 2 else 'key'}"
                for i in range(len(shapes))
            ]
        type(made).__name__ = type(model).__name__
        return made.eval()


def functions(model, *, seq_len: int, max_cache_len: int) -> dict:
    """`prefill` and `decode_step` with their example inputs (a prompt of `seq_len` tokens;
    one token at the position after it, with a cache of random values)."""
    import torch

    from frontend_mess.defaults import EXAMPLE_INPUT_SEED

    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        raise FrontendError(
            f"{config.model_type} is an encoder-decoder: {GENERATION_TASK} is for decoder-only "
            f"causal LMs (use --task seq2seq-lm: an encoder and a decoder step)"
        )
    if seq_len >= max_cache_len:
        raise FrontendError(
            f"--seq-len {seq_len} (the prompt) leaves no room in --max-cache-len "
            f"{max_cache_len}: give a cache longer than the prompt"
        )
    limit = getattr(config, "max_position_embeddings", None)
    if isinstance(limit, int) and 0 < limit < max_cache_len:
        raise FrontendError(
            f"--max-cache-len {max_cache_len} is more than {config.model_type} has positions "
            f"for (max_position_embeddings {limit})"
        )
    shapes = cache_shapes(model, max_cache_len)
    generator = torch.Generator().manual_seed(EXAMPLE_INPUT_SEED)
    vocab = getattr(config, "vocab_size", None) or 2
    prompt = torch.randint(0, vocab, (1, seq_len), generator=generator, dtype=torch.int64)
    token = torch.randint(0, vocab, (1, 1), generator=generator, dtype=torch.int64)
    position = torch.tensor([seq_len], dtype=torch.int64)
    dtype = next(model.parameters()).dtype
    cache = tuple(torch.randn(s, generator=generator).to(dtype) for s in shapes)
    prefill = CachedStep.module(model, shapes, max_cache_len, prefill=True)
    decode = CachedStep.module(model, shapes, max_cache_len, prefill=False)
    return {"prefill": (prefill, (prompt,)), "decode_step": (decode, (token, position, *cache))}


def reference_generate(model, prompt: list[int], new_tokens: int) -> list[int]:
    """transformers' own greedy `generate` on the same weights (its dynamic cache): the tokens
    after the prompt. No end-of-sequence token stops it (greedy decoding on the artifact does
    not stop either), and none is suppressed (`min_new_tokens` would mask it)."""
    import torch
    from transformers import GenerationConfig

    ids = torch.tensor([prompt], dtype=torch.int64)
    # a fresh config, not the checkpoint's generation_config: its repetition penalty or
    # suppressed tokens would make `generate` something other than plain argmax
    config = GenerationConfig(
        max_new_tokens=new_tokens,
        do_sample=False,
        num_beams=1,
        use_cache=True,
        eos_token_id=None,
        pad_token_id=getattr(model.config, "pad_token_id", None) or 0,
    )
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)
    return out[0, len(prompt) :].tolist()


__all__ = ["GENERATION_TASK", "cache_shapes", "functions", "reference_generate"]

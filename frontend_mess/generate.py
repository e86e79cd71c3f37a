"""Greedy decoding with a `prefill`/`decode_step` module (importers/hf_generation.py), on the
compiled artifact or on the PyTorch modules it was traced from, and the check of the two
against each other and against transformers' own `generate` (`frontend-mess generate
--check`). notes/huggingface.md; tests/unit/test_generation.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from frontend_mess.support.arrays import to_numpy, to_torch
from frontend_mess.support.errors import FrontendError

#: a function of the module: its inputs in, its outputs out, as numpy arrays
Call = Callable[[list[np.ndarray]], list[np.ndarray]]


@dataclass
class Generation:
    tokens: list[int]
    #: the logits each token was picked from (a row of the vocabulary's size, per step)
    logits: list[np.ndarray] = field(repr=False)


def parse_prompt(text: str) -> list[int]:
    """`--prompt-ids 1,2,3` (commas or spaces)."""
    try:
        ids = [int(part) for part in text.replace(",", " ").split()]
        if ids and max(ids) > np.iinfo(np.int64).max:
            raise ValueError
    except ValueError:
        raise FrontendError(
            f"--prompt-ids {text!r}: give token ids as integers, e.g. 1,2,3"
        ) from None
    if not ids or min(ids) < 0:
        raise FrontendError(f"--prompt-ids {text!r}: give one or more token ids, each 0 or more")
    return ids


def check_fits(
    prompt: Sequence[int], new_tokens: int, *, prompt_len: int, max_cache_len: int
) -> None:
    """The prompt fits the prefill, and it and the new tokens fit the cache (checked before
    anything is compiled). The last token is not fed back, so it needs no position."""
    if prompt_len >= max_cache_len:
        raise FrontendError(
            f"--seq-len {prompt_len} (the prefill) leaves no room in --max-cache-len "
            f"{max_cache_len}: give a cache longer than the prompt"
        )
    if len(prompt) > prompt_len:
        raise FrontendError(
            f"the prompt has {len(prompt)} tokens; the prefill takes at most {prompt_len} "
            f"(--seq-len {len(prompt)} or more)"
        )
    needed = len(prompt) + new_tokens - 1
    if needed > max_cache_len:
        raise FrontendError(
            f"{len(prompt)} prompt tokens + {new_tokens} new ones do not fit a cache of "
            f"{max_cache_len} positions (--max-cache-len {needed} or more)"
        )


def check_vocabulary(prompt: Sequence[int], vocab: int | None) -> None:
    if vocab is not None and max(prompt) >= vocab:
        raise FrontendError(
            f"--prompt-ids: token id {max(prompt)} is outside the model's vocabulary "
            f"(vocab_size {vocab})"
        )


def greedy(
    prefill: Call,
    decode_step: Call,
    prompt: Sequence[int],
    new_tokens: int,
    *,
    prompt_len: int,
    max_cache_len: int,
    vocab: int | None = None,
) -> Generation:
    """Prefill the prompt (right-padded to the `prompt_len` the module was traced with), then
    one decode step per token, each picking the most likely next token."""
    check_fits(prompt, new_tokens, prompt_len=prompt_len, max_cache_len=max_cache_len)
    check_vocabulary(prompt, vocab)
    ids = np.zeros((1, prompt_len), dtype=np.int64)
    ids[0, : len(prompt)] = prompt
    out = prefill([ids])
    row, cache = np.asarray(out[0])[0, len(prompt) - 1], list(out[1:])
    tokens, rows = [], []
    position = len(prompt)
    for step in range(new_tokens):
        token = int(np.argmax(row))
        tokens.append(token)
        rows.append(row)
        if step == new_tokens - 1:
            break
        out = decode_step(
            [np.array([[token]], dtype=np.int64), np.array([position], dtype=np.int64), *cache]
        )
        row, cache = np.asarray(out[0])[0, -1], list(out[1:])
        position += 1
    return Generation(tokens, rows)


def _greedy_job(prompt: list[int], new_tokens: int, shape: dict, module) -> Generation:
    def on(name: str) -> Call:
        return lambda arrays: module.call(name, arrays)

    return greedy(on("prefill"), on("decode_step"), prompt, new_tokens, **shape)


def on_artifact(
    artifact,
    prompt: list[int],
    new_tokens: int,
    *,
    prompt_len: int,
    max_cache_len: int,
    device: str | None = None,
) -> Generation:
    """Greedy decoding on a compiled module: in one child process for the whole loop where
    calls are isolated (the CLI: a crash in compiled code is an error line), else here."""
    import functools

    from frontend_mess.backend.runtime import ISOLATE, run_in_child
    from frontend_mess.backend.targets import DEFAULT_DEVICE

    shape = {"prompt_len": prompt_len, "max_cache_len": max_cache_len}
    job = functools.partial(_greedy_job, list(prompt), new_tokens, shape)
    device = device or DEFAULT_DEVICE.get(artifact.target, "local-task")
    if ISOLATE.enabled:
        return run_in_child(artifact, device, job, "prefill and decode_step")
    return job(artifact.module(device))


def torch_call(module) -> Call:
    """A PyTorch module as a `Call`."""
    import torch

    def call(arrays: list[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            outputs = module(*[to_torch(a) for a in arrays])
        return [to_numpy(t) for t in outputs]

    return call


@dataclass
class GenerationCheck:
    """The artifact's greedy tokens against the PyTorch modules' and transformers' `generate`,
    and its logits against PyTorch's at each step (verify.compare: rtol of the largest
    magnitude, as `verify` judges an output)."""

    artifact: Generation
    torch: Generation
    transformers: list[int]
    #: one verify.OutputCheck per step, up to the first step where the tokens part
    steps: list = field(repr=False)
    rtol: float
    atol: float

    @property
    def tokens_match(self) -> bool:
        return self.artifact.tokens == self.torch.tokens == self.transformers

    @property
    def max_scaled_error(self) -> float:
        return max((step.scaled_error for step in self.steps), default=0.0)

    @property
    def ok(self) -> bool:
        return self.tokens_match and all(step.ok for step in self.steps)

    def line(self) -> str:
        logits = f"logits within rtol {self.rtol:g}, atol {self.atol:g} at every step"
        off = next((step for step in self.steps if not step.ok), None)
        if off is not None:
            logits = f"logits past tolerance at {off.function} ({off.max_abs:.3g} max abs error)"
        if self.tokens_match:
            count = len(self.artifact.tokens)
            return f"{count} tokens equal transformers' generate (greedy); {logits}"
        where = min(
            first_difference(self.artifact.tokens, self.transformers),
            first_difference(self.artifact.tokens, self.torch.tokens),
            first_difference(self.torch.tokens, self.transformers),
        )
        return (
            f"tokens differ from step {where} (artifact "
            f"{self.artifact.tokens}, transformers {self.transformers}, PyTorch modules "
            f"{self.torch.tokens}); {logits}"
        )


def check(
    artifact: Generation, torch: Generation, transformers: list[int], rtol: float, atol: float
) -> GenerationCheck:
    """Compare up to the first step where the artifact's tokens and PyTorch's part (after it
    the two decode different sequences)."""
    from frontend_mess.verify import compare

    steps = first_difference(artifact.tokens, torch.tokens) + 1
    pairs = zip(artifact.logits[:steps], torch.logits, strict=False)
    compared = [
        compare(f"step {i}", 0, np.asarray(got), np.asarray(want), rtol, atol)
        for i, (got, want) in enumerate(pairs)
    ]
    return GenerationCheck(artifact, torch, transformers, compared, rtol, atol)


def first_difference(a: Sequence[int], b: Sequence[int]) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def check_against_framework(
    loaded,
    made: Generation,
    prompt: list[int],
    *,
    prompt_len: int,
    max_cache_len: int,
    rtol: float,
    atol: float,
) -> GenerationCheck:
    """`made` (the artifact's decoding) against the same greedy loop on the PyTorch modules it
    was traced from and transformers' own `generate` on their weights: what `generate
    --check`, `verify` of a text-generation-with-past source and an hf-generate cell judge."""
    from frontend_mess.importers.hf_generation import reference_generate

    functions = loaded.torch.functions
    reference = greedy(
        torch_call(functions["prefill"].module),
        torch_call(functions["decode_step"].module),
        prompt, len(made.tokens), prompt_len=prompt_len, max_cache_len=max_cache_len,
    )  # fmt: skip
    model = functions["prefill"].module.model
    theirs = reference_generate(model, prompt, len(made.tokens))
    return check(made, reference, theirs, rtol, atol)


def check_artifact(
    loaded, artifact, prompt: list[int], new_tokens: int, *, rtol: float, atol: float,
    device: str | None = None,
) -> GenerationCheck:  # fmt: skip
    """Decode on `artifact` and check it (check_against_framework)."""
    options = loaded.options
    shape = {"prompt_len": options.seq_len, "max_cache_len": options.max_cache_len}
    made = on_artifact(artifact, prompt, new_tokens, device=device, **shape)
    return check_against_framework(loaded, made, prompt, rtol=rtol, atol=atol, **shape)

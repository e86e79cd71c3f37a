"""`--task text-generation-with-past` and `generate` (importers/hf_generation.py, generate.py):
prefill and decode_step with the KV cache as tensors. The PyTorch modules' greedy decoding
equals transformers' own `generate` for every decoder architecture of hf-tiny; the compiled
artifact's equals both, logits within verify's tolerance at each step; the cache makes a
decode step's cost independent of the prompt; bad requests get one line before compiling.
Models are hf-tiny's configs with random weights (seeded)."""

import subprocess
import sys
from pathlib import Path

import pytest

from frontend_mess.support.errors import FrontendError

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "frontend_mess" / "matrix" / "data" / "hf-tiny"
#: hf-tiny's decoder-only causal LMs
DECODERS = [
    "bloom", "falcon", "gemma", "gpt2", "gpt_neox", "llama", "mistral", "opt", "phi", "qwen2",
]  # fmt: skip
PROMPT = [3, 17, 5, 9, 22]


def _functions(name: str, seq_len: int = 8, max_cache_len: int = 32):
    from frontend_mess.importers import hf, hf_generation

    model, task, _ = hf.load(f"hf-config:{CONFIGS / name}.json", task=hf_generation.GENERATION_TASK)
    assert task == hf_generation.GENERATION_TASK
    parts = hf_generation.functions(model, seq_len=seq_len, max_cache_len=max_cache_len)
    return model, {fn: module for fn, (module, _) in parts.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", DECODERS)
def test_the_pytorch_modules_decode_as_transformers_generate(name):
    from frontend_mess import generate
    from frontend_mess.importers.hf_generation import reference_generate

    model, modules = _functions(name)
    ours = generate.greedy(
        generate.torch_call(modules["prefill"]),
        generate.torch_call(modules["decode_step"]),
        PROMPT, 16, prompt_len=8, max_cache_len=32,
    )  # fmt: skip
    assert ours.tokens == reference_generate(model, PROMPT, 16)


@pytest.mark.slow
def test_a_wrong_cache_breaks_the_match():
    """The check can fail: decoding with the cache zeroed at each step (no memory of the
    prompt) gives other tokens than transformers' generate."""
    import numpy as np

    from frontend_mess import generate
    from frontend_mess.importers.hf_generation import reference_generate

    model, modules = _functions("llama")
    decode = generate.torch_call(modules["decode_step"])

    def forgetful(arrays):
        return decode([*arrays[:2], *(np.zeros_like(a) for a in arrays[2:])])

    prefill = generate.torch_call(modules["prefill"])
    ours = generate.greedy(prefill, forgetful, PROMPT, 16, prompt_len=8, max_cache_len=32)
    assert ours.tokens != reference_generate(model, PROMPT, 16)


@pytest.mark.slow
def test_falcon_multi_query_cache_shapes_come_from_the_model():
    """Falcon's config says 2 attention heads; its multi-query cache holds 1 (a shape read from
    the config would make decode_step's index_copy fail)."""
    from frontend_mess.importers.hf_generation import cache_shapes

    model, _ = _functions("falcon")
    shapes = cache_shapes(model, 32)
    assert {s[1] for s in shapes} == {1} and model.config.num_attention_heads == 2
    assert {s[2] for s in shapes} == {32}


def _generate(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "frontend_mess", "generate", *args, "--no-store", "-q"]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_generate_on_the_artifact_equals_transformers():
    done = _generate(f"hf-config:{CONFIGS}/llama.json", "--prompt-ids", "3,17,5,9,22", "--check")
    assert done.returncode == 0, done.stderr[-2000:]
    tokens, verdict = done.stdout.strip().splitlines()
    assert len(tokens.split(",")) == 16
    assert verdict.startswith("16 tokens equal transformers' generate"), verdict
    assert "logits within rtol" in verdict


@pytest.mark.slow
def test_verify_of_a_generation_source_also_decodes():
    """`verify` checks each function on random inputs, then greedy decoding as generate does."""
    command = [sys.executable, "-m", "frontend_mess", "verify", f"hf-config:{CONFIGS}/gpt2.json"]
    command += ["--task", "text-generation", "--no-store", "-q"]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert plain.returncode == 0 and "generate (prompt" not in plain.stdout, plain.stderr
    command[command.index("text-generation")] = "text-generation-with-past"
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "prefill output 0" in done.stdout and "decode_step output 4" in done.stdout
    assert "generate (prompt [3, 17, 5, 9, 22]): 16 tokens equal transformers'" in done.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--prompt-ids", "1,2,x"], "give token ids as integers"),
        (["--prompt-ids", "1,2,3,4,5,6,7,8,9"], "the prefill takes at most 8 (--seq-len 9"),
        (["--prompt-ids", "1,2", "--max-new-tokens", "40"], "--max-cache-len 41 or more"),
        (["--prompt-ids", "1,500"], "outside the model's vocabulary (vocab_size 128)"),
        (["--prompt-ids", "1", "--seq-len", "32"], "leaves no room in --max-cache-len 32"),
        (["--prompt-ids", "1", "--task", "fill-mask"], "generate runs --task"),
    ],
)
def test_bad_requests_get_one_line_before_compiling(args, says, tmp_path):
    config = tmp_path / "llama.json"
    config.write_text((CONFIGS / "llama.json").read_text())
    done = _generate(f"hf-config:{config}", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_generate_takes_only_hugging_face_sources():
    done = _generate("resnet18", "--prompt-ids", "1")
    assert done.returncode == 2 and "Hugging Face causal LM" in done.stderr


def test_optimum_task_names_are_aliases():
    from frontend_mess.importers import hf

    assert hf.canonical_task("text-generation") == "causal-lm"
    assert hf.canonical_task("fill-mask") == "masked-lm"
    assert hf.canonical_task("auto") is None
    assert hf.canonical_task(hf.GENERATION_TASK) == hf.GENERATION_TASK
    with pytest.raises(FrontendError, match="unknown task 'text-gen'"):
        hf.canonical_task("text-gen")


def _made(tokens: list[int], logits: list[list[float]]):
    import numpy as np

    from frontend_mess.generate import Generation

    return Generation(tokens, [np.array(row, dtype=np.float32) for row in logits])


def test_the_check_fails_on_other_tokens_or_logits_past_tolerance():
    from frontend_mess.generate import check

    rows = [[0.0, 1.0, 0.5], [2.0, 0.0, 0.1]]
    same = check(_made([1, 0], rows), _made([1, 0], rows), [1, 0], 1e-3, 1e-4)
    assert same.ok and same.line().startswith("2 tokens equal transformers' generate")
    other = check(_made([1, 0], rows), _made([1, 0], rows), [1, 2], 1e-3, 1e-4)
    assert not other.ok and "tokens differ from step 1" in other.line()
    off = check(_made([1, 0], [[0.0, 1.0, 0.5], [2.0, 0.5, 0.1]]), _made([1, 0], rows), [1, 0],
                1e-3, 1e-4)  # fmt: skip
    assert not off.ok and "logits past tolerance at step 1" in off.line()


def test_the_hf_generate_suite_is_the_decoders_and_xlnet():
    from frontend_mess.matrix.runner import suite_sources

    names = [s.rsplit("/", 1)[-1].removesuffix(".json") for s in suite_sources("hf-generate")]
    assert names == sorted([*DECODERS, "xlnet"])


@pytest.mark.slow
def test_a_dynamic_prompt_length_verifies_and_decodes():
    """`--dynamic-dim 0:1`: prefill takes a prompt of any length (and decode_step several new
    tokens at once) up to the cache; checked at two lengths, then greedy decoding as
    transformers' generate. decode_step's `forward(token, position, *cache)` needs
    dynamic_shapes shaped as its signature (fx.dynamic_shapes)."""
    import frontend_mess

    source = f"hf-config:{CONFIGS / 'llama'}.json"
    task = "text-generation-with-past"
    report = frontend_mess.verify(source, task=task, dynamic_dims=["0:1"])
    assert report.ok, report.text()
    prefill = {c.shape for c in report.checks if c.function.startswith("prefill ") and c.index == 0}
    assert prefill == {(1, 8, 128), (1, 9, 128)}
    model = frontend_mess.import_model(source, to="torch", task=task, dynamic_dims=["0:1"])
    assert "func.func @prefill(%arg0: !torch.vtensor<[1,?],si64>)" in model.text

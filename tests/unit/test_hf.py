"""Hugging Face importer: tiny configs from frontend_mess/matrix/data/hf-tiny, random weights,
saved to a temporary directory where `from_pretrained` is the path under test. Each known breakage
has a test that shows the upstream failure and one that shows frontend-mess's import working."""

import json
from pathlib import Path

import pytest
import torch
import transformers

import frontend_mess
from frontend_mess.importers import hf
from frontend_mess.support.errors import FrontendError

pytestmark = pytest.mark.slow

TINY = Path(__file__).resolve().parents[2] / "frontend_mess" / "matrix" / "data" / "hf-tiny"


def saved(name: str, tmp_path: Path, auto=transformers.AutoModel) -> Path:
    config = transformers.AutoConfig.from_pretrained(TINY / f"{name}.json")
    auto.from_config(config).save_pretrained(tmp_path / name)
    return tmp_path / name


def test_default_task_from_architectures():
    config = transformers.AutoConfig.from_pretrained(TINY / "gpt2.json")
    assert hf.default_task(config) == "causal-lm"
    config.architectures = None
    assert hf.default_task(config) == "base"


@pytest.mark.parametrize("name", ["bert", "gpt2", "llama", "t5", "vit"])
def test_issue_models_import_to_linalg_from_a_directory(name, tmp_path):
    """The five architectures the issue names, via from_pretrained on a saved directory."""
    directory = saved(name, tmp_path)
    model = frontend_mess.import_model(f"hf:{directory}", to="linalg")
    assert "linalg." in model.text
    assert not [op for op in model.stats() if op.startswith("torch.")]
    assert model.choices["task"] == "base"  # AutoModel saved a base architecture


def test_pretrained_weights_are_loaded(tmp_path):
    directory = saved("bert", tmp_path)
    built, _, _ = hf.load(f"hf:{directory}")
    reference = transformers.AutoModel.from_pretrained(directory)
    assert torch.equal(
        built.embeddings.word_embeddings.weight, reference.embeddings.word_embeddings.weight
    )


def test_bert_non_persistent_buffer_breaks_plain_torch_mlir():
    """BERT's position_ids: torch-mlir's own entry point fails (torch-mlir #4744)."""
    from torch_mlir import fx

    model, _, _ = hf.load(f"hf-config:{TINY / 'bert.json'}", task="base")
    assert "embeddings.position_ids" in dict(model.named_buffers())
    ((module, args),) = hf.functions(model, "base").values()
    program = torch.export.export(module, args, strict=False)
    with pytest.raises(AssertionError, match="Could not find state mapping for buffer"):
        fx.export_and_import(program, output_type="linalg-on-tensors")
    assert (
        "linalg.batch_matmul"
        in frontend_mess.import_model(f"hf-config:{TINY / 'bert.json'}", task="base").text
    )


def test_gpt2_cache_breaks_export_unless_turned_off():
    """GPT-2 with use_cache=True returns a DynamicCache; exporting its raw output fails."""
    config = transformers.AutoConfig.from_pretrained(TINY / "gpt2.json")
    config.use_cache = True
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    ids = torch.zeros(1, 4, dtype=torch.int64)

    class Raw(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, ids):
            return self.model(input_ids=ids, use_cache=True)

    with pytest.raises(Exception):  # noqa: B017  (the type varies with torch's version)
        torch.export.export(Raw(), (ids,), strict=False)
    imported = frontend_mess.import_model(f"hf-config:{TINY / 'gpt2.json'}", to="torch")
    assert "!torch.vtensor<[1,8,128],f32>" in imported.text  # logits only, no cache outputs


def test_outputs_are_plain_tensors_matching_the_model():
    model, task, _ = hf.load(f"hf-config:{TINY / 'gpt2.json'}")
    ((wrapped, args),) = hf.functions(model, task).values()
    outputs = wrapped(*args)
    assert isinstance(outputs, tuple) and all(isinstance(t, torch.Tensor) for t in outputs)
    expected = model(input_ids=args[0], attention_mask=args[1]).logits
    torch.testing.assert_close(outputs[0], expected, rtol=0, atol=0)


def test_attention_choice_is_recorded_and_can_be_forced():
    default = frontend_mess.import_model(f"hf-config:{TINY / 'llama.json'}", to="fx")
    assert default.choices["attention"] == "sdpa"
    assert "scaled_dot_product_attention" in default.text
    eager = frontend_mess.import_model(
        f"hf-config:{TINY / 'llama.json'}", to="fx", attention="eager"
    )
    assert eager.choices["attention"] == "eager"
    assert "scaled_dot_product_attention" not in eager.text


def test_encoder_decoder_gives_two_functions():
    model = frontend_mess.import_model(f"hf-config:{TINY / 'bart.json'}", to="linalg")
    assert list(model.programs) == ["encoder", "decoder_step"]
    assert "func.func @encoder(" in model.text and "func.func @decoder_step(" in model.text


def test_seq_len():
    model = frontend_mess.import_model(f"hf-config:{TINY / 'bert.json'}", to="torch", seq_len=5)
    assert "!torch.vtensor<[1,5],si64>" in model.text


def test_token_ids_are_in_vocabulary_range():
    model, task, _ = hf.load(f"hf-config:{TINY / 'gpt2.json'}")
    ((_, (ids, mask)),) = hf.functions(model, task, seq_len=64).values()
    assert ids.max() < model.config.vocab_size and ids.min() >= 0
    assert torch.all(mask == 1)


def test_missing_directory_is_one_clear_error(tmp_path, monkeypatch):
    with pytest.raises(FrontendError, match="nothing does not exist"):
        hf.load(f"hf:{tmp_path / 'nothing'}")  # a path: never looked up on the hub
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FrontendError, match="no network at run time"):
        hf.load("hf:no-such-org/no-such-model")  # an id, not in the cache


def test_config_without_model_type(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(FrontendError, match="has no model_type"):
        hf.load(f"hf-config:{path}")


@pytest.mark.parametrize("config", sorted(TINY.glob("*.json")), ids=lambda p: p.stem)
def test_every_tiny_config_imports_to_linalg(config):
    """The architectures listed in notes/huggingface.md, each from its tiny config."""
    model = frontend_mess.import_model(f"hf-config:{config}", to="linalg")
    assert not [op for op in model.stats() if op.startswith("torch.")]
    assert model.stats()["func.func"] == len(model.programs) >= 1


def test_audio_models_without_a_decoder_are_refused_in_one_line():
    """wav2vec2-style models take raw `input_values`; only Whisper-style speech
    encoder-decoders (log-mel `input_features`) get example inputs."""
    config = transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2, vocab_size=16,
    )  # fmt: skip
    model = transformers.AutoModel.from_config(config)
    with pytest.raises(FrontendError, match="takes audio features"):
        hf.functions(model, "base")


def test_whisper_is_an_encoder_of_log_mel_features_and_a_decoder_step():
    """Whisper's encoder takes exactly 2 x max_source_positions frames of num_mel_bins
    features (hf-tiny's whisper.json: 80 x 64); the step takes the start token and the
    encoder's hidden states, and returns logits over the vocabulary."""
    model, task, _ = hf.load(f"hf-config:{TINY / 'whisper.json'}")
    assert task == "speech-seq2seq"
    parts = hf.functions(model, task)
    assert list(parts) == ["encoder", "decoder_step"]
    (features,) = parts["encoder"][1]
    assert tuple(features.shape) == (1, 80, 64) and features.dtype == torch.float32
    ids, hidden = parts["decoder_step"][1]
    assert ids.tolist() == [[model.config.decoder_start_token_id]]
    assert tuple(hidden.shape) == (1, 32, 64)
    with torch.no_grad():
        (logits,) = parts["decoder_step"][0](ids, hidden)
        want = model(input_features=features, decoder_input_ids=ids).logits
    assert torch.allclose(logits, want, atol=1e-6)
    assert hf.canonical_task("automatic-speech-recognition") == "speech-seq2seq"


@pytest.mark.slow
def test_whisper_verifies_on_llvm_cpu():
    report = frontend_mess.verify(f"hf-config:{TINY / 'whisper.json'}")
    assert report.ok, report.text()
    assert [c.function for c in report.checks] == ["encoder", "decoder_step"]


@pytest.mark.slow
def test_a_whisper_tiny_sized_model_imports_from_its_directory(tmp_path):
    """openai/whisper-tiny's shape (WhisperConfig's defaults: 4+4 layers, d_model 384, 51,865
    tokens, 3,000 frames; 38 M parameters), random weights saved by save_pretrained and read
    back by from_pretrained (hf:DIR), imported to linalg."""
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig())
    model.save_pretrained(tmp_path)
    imported = frontend_mess.import_model(f"hf:{tmp_path}", to="linalg")
    assert list(imported.programs) == ["encoder", "decoder_step"]
    text = imported.text
    assert "func.func @encoder(%arg0: tensor<1x80x3000xf32>) -> tensor<1x1500x384xf32>" in text
    assert "-> tensor<1x1x51865xf32>" in text
    assert not [op for op in imported.stats() if op.startswith("torch.")]


@pytest.mark.parametrize("via", ["fx-stablehlo", "onnx", "turbine"])
def test_encoder_decoder_verifies_on_single_function_paths(via):
    """StableHLO's shape refinement and an ONNX graph each take one function; T5's encoder and
    decoder_step are lowered (or exported) apart and merged. iree-turbine takes both at once as
    an `FxPrograms` (pipeline._turbine_programs). Through ONNX, T5 also needs the
    TorchScript fallback (dynamo cannot view its attention reshape) and its empty initializer
    inlined (test_onnx.py::test_empty_initializer_survives_bytecode)."""
    report = frontend_mess.verify(f"hf-config:{TINY / 't5.json'}", via=via)
    assert report.ok, report.text()
    assert [c.function for c in report.checks] == ["encoder", "decoder_step"]


@pytest.mark.parametrize(("name", "dim"), [("bert", "1"), ("gpt2", "1"), ("t5", "1"), ("vit", "0")])
def test_dynamic_dims_verify_at_two_sizes(name, dim):
    """`--dynamic-dim 1` (the sequence of every token input) or `0` (a vision model's batch):
    the module is traced once with the dim symbolic and verified at two sizes against
    PyTorch eager. T5's decoder step gets two symbols (one decoder token, eight hidden
    states)."""
    report = frontend_mess.verify(f"hf-config:{TINY / name}.json", dynamic_dims=[dim])
    assert report.ok, report.text()
    functions = {c.function.split(" at ")[0] for c in report.checks}  # "main at 1x8, 1x8"
    for function in functions:  # each function's first output at two sizes
        shapes = {
            c.shape
            for c in report.checks
            if c.function.startswith(f"{function} at ") and c.index == 0
        }
        assert len(shapes) == 2, (function, shapes)
    imported = frontend_mess.import_model(
        f"hf-config:{TINY / name}.json", to="linalg", dynamic_dims=[dim]
    )
    assert "?x" in imported.text or "x?" in imported.text


def test_a_dynamic_sequence_is_bounded_by_the_position_embeddings():
    """torch.export needs the bound (the position table has max_position_embeddings rows):
    the symbol gets it from the config rather than failing on an unbounded guard."""
    model = frontend_mess.import_model(
        f"hf-config:{TINY / 'bert.json'}", to="fx", dynamic_dims=["1"]
    )
    program = next(iter(model.programs.values()))
    limit = json.loads((TINY / "bert.json").read_text())["max_position_embeddings"]
    uppers = [int(r.upper) for r in program.range_constraints.values()]
    assert limit in uppers, uppers


def test_other_speech_encoder_decoders_are_refused_in_one_line():
    """Speech2Text is a speech seq2seq model too, but its features are frames x features
    (no num_mel_bins): refused, not traced with Whisper's layout."""
    config = transformers.Speech2TextConfig(
        d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=64,
        max_source_positions=64, max_target_positions=32, conv_channels=16,
    )  # fmt: skip
    model = transformers.Speech2TextForConditionalGeneration(config)
    with pytest.raises(FrontendError, match="takes audio features"):
        hf.functions(model, "speech-seq2seq")

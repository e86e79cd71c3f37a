"""Hugging Face transformers models: `hf:DIR_OR_ID` (weights via `from_pretrained`) and
`hf-config:DIR_OR_FILE` (a `config.json`, random weights).

What breaks a naive `torch.export` of a transformers model, and what this module does:
- outputs are `ModelOutput` objects and, for decoders, hold a `DynamicCache` that torch.export
  cannot flatten (pytorch #136582): the model is wrapped so that it returns a flat tuple of
  tensors, and `use_cache` is off;
- non-persistent buffers (BERT's `position_ids`, RoPE's `inv_freq`): handled for every torch
  source in `importers/torch.py` (torch-mlir #4744);
- the attention implementation: `sdpa` where the model supports it (torch-mlir decomposes it
  into matmuls and a softmax, and it keeps the graph small), else `eager`; the choice is
  reported and `--attention` overrides it;
- encoder-decoders (T5, BART, ...): the encoder and one decoder step become two functions,
  `encoder` and `decoder_step`, of one module (see notes/huggingface.md);
- transformers' own stderr chatter (the "Loading weights" bar, config warnings, the load
  report that lists newly initialized weights) is silenced while loading, like torch's output,
  unless FRONTEND_MESS_VERBOSE is set.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from frontend_mess.defaults import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_MAX_CACHE_LEN,
    DEFAULT_SEED,
    DEFAULT_SEQ_LEN,
    EXAMPLE_INPUT_SEED,
)
from frontend_mess.importers.hf_generation import GENERATION_TASK
from frontend_mess.support.capture import upstream_output, verbose
from frontend_mess.support.errors import FrontendError, first_lines

if TYPE_CHECKING:
    import torch

PRETRAINED_PREFIX = "hf:"
CONFIG_PREFIX = "hf-config:"
PREFIXES = (PRETRAINED_PREFIX, CONFIG_PREFIX)

# --task name -> (Auto class, the modeling_auto mapping that lists its architectures)
TASKS: dict[str, tuple[str, str]] = {
    "base": ("AutoModel", "MODEL_MAPPING_NAMES"),
    "causal-lm": ("AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"),
    "masked-lm": ("AutoModelForMaskedLM", "MODEL_FOR_MASKED_LM_MAPPING_NAMES"),
    "seq2seq-lm": ("AutoModelForSeq2SeqLM", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES"),
    "sequence-classification": (
        "AutoModelForSequenceClassification",
        "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    ),
    "image-classification": (
        "AutoModelForImageClassification",
        "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    ),
    # Whisper-style: an encoder of log-mel `input_features` and a decoder step
    "speech-seq2seq": ("AutoModelForSpeechSeq2Seq", "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES"),
    # prefill + decode_step with the KV cache as tensors (importers/hf_generation.py)
    GENERATION_TASK: ("AutoModelForCausalLM", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"),
}
#: the names optimum's exporters and transformers' pipelines give the same tasks; `auto`
#: (like no --task) takes the task from the config's `architectures`
TASK_ALIASES: dict[str, str | None] = {
    "feature-extraction": "base",
    "text-generation": "causal-lm",
    "fill-mask": "masked-lm",
    "text2text-generation": "seq2seq-lm",
    "text-classification": "sequence-classification",
    "automatic-speech-recognition": "speech-seq2seq",
    "auto": None,
}
TASK_NAMES = (*TASKS, *TASK_ALIASES)
ATTENTION = ("sdpa", "eager")


def is_source(source: str) -> bool:
    return source.startswith(PREFIXES)


#: the largest config.json read (real ones are a few kB; a bigger file is not a config).
MAX_CONFIG_BYTES = 16 * 2**20
CONFIG_NAME = "config.json"


def read_config_json(path: Path) -> dict:
    """A `config.json` as a dict, checked before transformers sees it: a regular file of sane
    size, JSON, an object, a `model_type` that transformers ships, and no `auto_map`.

    `auto_map` names Python files in the model directory (`configuration_*.py`,
    `modeling_*.py`) that transformers would import to build the model: code from the model's
    author, not from the user. frontend-mess never runs it (`trust_remote_code=False`
    everywhere; transformers would otherwise ask on stdin, and `yes |` answers for the user).
    """
    from frontend_mess.support.paths import input_file

    input_file(path, "config file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise FrontendError(f"{path} is over {MAX_CONFIG_BYTES >> 20} MB: not a config.json")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FrontendError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise FrontendError(f"{path} nests too deeply to be a config.json") from None
    if not isinstance(data, dict):
        raise FrontendError(
            f"{path} holds a JSON {type(data).__name__}, not an object: is it a transformers "
            f"config.json?"
        )
    if "auto_map" in data:
        files = sorted({str(v).split(".")[0] + ".py" for v in _auto_map_targets(data)})
        raise FrontendError(
            f"{path} has an auto_map: it asks to run the model's own Python code "
            f"({', '.join(files) or 'from its directory'}); frontend-mess never runs a "
            f"model's code (trust_remote_code=False): use a model type transformers ships"
        )
    model_type = data.get("model_type")
    if model_type is None:
        raise FrontendError(f"{path} has no model_type: is it a transformers config.json?")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING_NAMES:
        close = difflib.get_close_matches(str(model_type), list(CONFIG_MAPPING_NAMES), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see transformers' model list"
        raise FrontendError(
            f"{path}: transformers {_transformers_version()} has no model_type "
            f"{model_type!r}: {hint}"
        )
    return data


def _auto_map_targets(data: dict) -> list[str]:
    values = data["auto_map"].values() if isinstance(data["auto_map"], dict) else []
    flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
    return [v.split("--")[-1] for v in flat if isinstance(v, str)]


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def _looks_like_path(location: str) -> bool:
    """A hub id is `name` or `org/name`; a path a user types has more to it."""
    return (
        location.startswith((".", "/", "~"))
        or location.endswith(".json")
        or location.count("/") > 1
        or os.sep != "/"
        and os.sep in location
    )


def _load_config(location: str):
    from transformers import AutoConfig

    path = Path(location)
    if not path.exists() and _looks_like_path(location):
        raise FrontendError(f"{location} does not exist (a directory with a config.json?)")
    try:
        if path.is_dir() or path.exists():
            file = path / CONFIG_NAME if path.is_dir() else path
            if path.is_dir() and not file.exists():
                raise FrontendError(f"{path} has no {CONFIG_NAME}: is it a transformers model?")
            data = read_config_json(file)
            if path.is_dir():
                return AutoConfig.from_pretrained(location, trust_remote_code=False)
            model_type = data.pop("model_type")
            return AutoConfig.for_model(model_type, **data)
        # a hub id: only the cache can serve it (no network at run time); transformers reads
        # the config, and trust_remote_code=False makes it refuse an auto_map, not ask
        return AutoConfig.from_pretrained(location, trust_remote_code=False)
    except FrontendError:
        raise
    except Exception as exc:  # OSError, ValueError, transformers' own validation errors
        where = "directory" if path.is_dir() else "file" if path.is_file() else "id"
        hint = (
            "give a directory with a config.json, or an id already in the Hugging Face cache "
            "(there is no network at run time)"
        )
        raise FrontendError(
            f"cannot load a transformers config from {where} {location!r}: "
            f"{first_lines(exc, 1)}; {hint}"
        ) from None


def default_task(config) -> str:
    """The task whose Auto mapping lists the config's first architecture; `base` if none."""
    from transformers.models.auto import modeling_auto

    for architecture in getattr(config, "architectures", None) or []:
        for task, (_, mapping) in TASKS.items():
            if task != "base" and architecture in getattr(modeling_auto, mapping).values():
                return task
    return "base"


def canonical_task(task: str | None) -> str | None:
    """A task name as TASKS spells it (an optimum/pipelines name is an alias); None: auto."""
    if task in TASK_ALIASES:
        return TASK_ALIASES[task]
    if task is not None and task not in TASKS:
        raise FrontendError(f"unknown task {task!r}: use one of {', '.join(TASK_NAMES)}")
    return task


def _auto_class(task: str):
    import transformers

    if task not in TASKS:
        raise FrontendError(f"unknown task {task!r}: use one of {', '.join(TASK_NAMES)}")
    return getattr(transformers, TASKS[task][0])


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Keep transformers' loading chatter off stderr, then put its settings back.

    `-q` promises a quiet stderr, but `from_pretrained` draws a "Loading weights" tqdm bar and
    transformers logs config warnings and a load report through its own logger, all on stderr.
    Its verbosity and progress-bar switches stop those at the source; `upstream_output()`
    catches what they do not cover (`warnings.warn`, stray prints). Both are global state, so
    they are restored for whoever uses transformers next in this process (a test, the API
    caller). FRONTEND_MESS_VERBOSE=1 lets everything through, as for torch's output.
    """
    if verbose():
        yield
        return
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with upstream_output():
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load(
    source: str,
    *,
    task: str | None = None,
    attention: str | None = None,
    seed: int = DEFAULT_SEED,
) -> tuple[torch.nn.Module, str, str]:
    """Build the model; returns (model in eval mode, task, attention implementation). A
    config's random weights are drawn from `seed`."""
    # The config is read inside too: AutoConfig.from_pretrained logs the config warnings.
    with quiet_transformers():
        return _load(source, task=task, attention=attention, seed=seed)


def _location(source: str) -> str:
    location = source.removeprefix(PRETRAINED_PREFIX).removeprefix(CONFIG_PREFIX)
    if location.startswith("~"):  # the shell does not expand `~` after `hf:`
        location = os.path.expanduser(location)
    if not location:
        raise FrontendError(f"{source!r} names no directory, file or id")
    return location


def load_config(source: str):
    """The source's transformers config alone (no weights, no model built)."""
    with quiet_transformers():
        return _load_config(_location(source))


def _load(
    source: str, *, task: str | None, attention: str | None, seed: int
) -> tuple[torch.nn.Module, str, str]:
    pretrained = source.startswith(PRETRAINED_PREFIX)
    location = _location(source)
    config = _load_config(location)
    task = canonical_task(task) or default_task(config)
    auto = _auto_class(task)
    if attention is not None and attention not in ATTENTION:
        raise FrontendError(f"unknown attention {attention!r}: use one of {', '.join(ATTENTION)}")
    config.use_cache = False
    last_error = None
    for attn in [attention] if attention else list(ATTENTION):
        try:
            if pretrained:
                model = auto.from_pretrained(
                    location, config=config, attn_implementation=attn, trust_remote_code=False
                )
            else:
                import torch

                torch.manual_seed(seed)  # again per attempt: a failed one drew numbers
                model = auto.from_config(config, attn_implementation=attn, trust_remote_code=False)
            return model.eval(), task, attn
        except ValueError as exc:  # "does not support an attention implementation ..."
            last_error = exc
            about_attention = "attn" in str(exc).lower() or "attention" in str(exc).lower()
            if attention or not about_attention:
                break
        except OSError as exc:
            raise FrontendError(
                f"cannot load weights for {location!r}: {first_lines(exc, 1)}"
            ) from None
        except Exception as exc:  # the model's own constructor rejected the config
            raise FrontendError(
                f"transformers cannot build {config.model_type} for task {task} from "
                f"{location}: {type(exc).__name__}: {first_lines(exc, 1)}"
            ) from None
    raise FrontendError(
        f"transformers cannot build {config.model_type} for task {task}: "
        f"{first_lines(last_error, 1)}"
    )


class TensorOutputs:
    """Wraps a transformers model so that it takes positional tensors and returns a flat tuple
    of tensors: what torch.export and MLIR functions want, instead of a `ModelOutput` with a
    cache object in it."""

    @staticmethod
    def wrap(model, names: list[str], **fixed):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *tensors):
                out = self.model(**dict(zip(names, tensors, strict=True)), **fixed)
                values = out.to_tuple() if hasattr(out, "to_tuple") else out
                if isinstance(values, torch.Tensor):
                    return (values,)
                return tuple(v for v in values if isinstance(v, torch.Tensor))

        Wrapped.__name__ = type(model).__name__
        wrapped = Wrapped().eval()
        wrapped.input_names = list(names)  # forward(*tensors) has none (sources.Function)
        return wrapped


def _accepts(model, name: str) -> bool:
    parameters = inspect.signature(model.forward).parameters
    return name in parameters


def _text_inputs(config, seq_len: int, generator):
    import torch

    vocab = getattr(config, "vocab_size", None) or 2
    ids = torch.randint(0, vocab, (1, seq_len), generator=generator, dtype=torch.int64)
    return ids, torch.ones(1, seq_len, dtype=torch.int64)


def functions(
    model, task: str, *, seq_len: int = DEFAULT_SEQ_LEN, max_cache_len: int = DEFAULT_MAX_CACHE_LEN
) -> dict:
    """MLIR function name -> (module to trace, example args) for this model."""
    import torch

    if task == GENERATION_TASK:
        from frontend_mess.importers import hf_generation

        return hf_generation.functions(model, seq_len=seq_len, max_cache_len=max_cache_len)
    config = model.config
    generator = torch.Generator().manual_seed(EXAMPLE_INPUT_SEED)
    fixed = {"use_cache": False} if _accepts(model, "use_cache") else {}
    fixed["return_dict"] = True
    if _is_whisper_like(model):
        return _speech_encoder_decoder(model, generator, fixed)
    if _accepts(model, "input_features") or _accepts(model, "input_values"):
        raise FrontendError(
            f"{config.model_type} takes audio features; frontend-mess makes example inputs for "
            f"text (input_ids), vision (pixel_values) and Whisper-style speech encoder-decoder "
            f"(input_features) models only"
        )
    if _accepts(model, "pixel_values"):
        channels = getattr(config, "num_channels", 3)
        size = getattr(config, "image_size", DEFAULT_IMAGE_SIZE)
        size = size if isinstance(size, int) else size[0]
        pixels = torch.randn(1, channels, size, size, generator=generator)
        return {"main": (TensorOutputs.wrap(model, ["pixel_values"], **fixed), (pixels,))}
    ids, mask = _text_inputs(config, seq_len, generator)
    if getattr(config, "is_encoder_decoder", False):
        return _encoder_decoder(model, ids, mask, fixed)
    names, args = ["input_ids"], [ids]
    if _accepts(model, "attention_mask"):
        names.append("attention_mask")
        args.append(mask)
    return {"main": (TensorOutputs.wrap(model, names, **fixed), tuple(args))}


def _encoder_decoder(model, ids, mask, fixed) -> dict:
    """`encoder(input_ids, attention_mask) -> hidden states` and `decoder_step(decoder_input_ids,
    encoder_hidden_states, attention_mask) -> logits` (or hidden states for a base model). The
    step decodes the whole prefix it is given: no KV cache, so every step is the same function.
    """
    encoder = TensorOutputs.wrap(
        model.get_encoder(), ["input_ids", "attention_mask"], return_dict=True
    )
    return _with_decoder_step(model, encoder, (ids, mask), fixed, masked=True)


def _is_whisper_like(model) -> bool:
    """An encoder-decoder over log-mel `input_features` laid out as Whisper's (batch x
    num_mel_bins x 2*max_source_positions). Speech2Text (frames x features) and
    SeamlessM4T take other layouts and are refused with the other audio models."""
    config = model.config
    return (
        _accepts(model, "input_features")
        and getattr(config, "is_encoder_decoder", False)
        and isinstance(getattr(config, "num_mel_bins", None), int)
        and isinstance(getattr(config, "max_source_positions", None), int)
    )


def _speech_encoder_decoder(model, generator, fixed) -> dict:
    """Whisper-style: `encoder(input_features) -> hidden states` over log-mel features
    (batch x num_mel_bins x frames) and `decoder_step(decoder_input_ids,
    encoder_hidden_states) -> logits`. Whisper's encoder takes exactly 2 x
    max_source_positions frames (its convolutions halve them; it refuses other lengths), so
    the frame count is the config's, not --seq-len."""
    import torch

    config = model.config
    frames = 2 * config.max_source_positions
    features = torch.randn(1, config.num_mel_bins, frames, generator=generator)
    encoder = TensorOutputs.wrap(model.get_encoder(), ["input_features"], return_dict=True)
    return _with_decoder_step(model, encoder, (features,), fixed, masked=False)


def _with_decoder_step(model, encoder, encoder_args: tuple, fixed, *, masked: bool) -> dict:
    """The encoder and a decoder step over its hidden states (`masked`: the step also takes
    the encoder's attention mask, the last of `encoder_args`)."""
    import torch

    with torch.no_grad():
        hidden = encoder(*encoder_args)[0]
    start = getattr(model.config, "decoder_start_token_id", None) or 0
    decoder_ids = torch.full((1, 1), start, dtype=torch.int64)

    class DecoderStep(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def step(self, decoder_input_ids, encoder_hidden_states, **mask):
            out = self.model(
                decoder_input_ids=decoder_input_ids,
                encoder_outputs=(encoder_hidden_states,),
                **mask,
                **fixed,
            )
            first = out.logits if hasattr(out, "logits") else out.last_hidden_state
            return (first,)

    # explicit signatures (no *args): torch.export and the ONNX exporter name inputs by them
    class MaskedDecoderStep(DecoderStep):
        def forward(self, decoder_input_ids, encoder_hidden_states, attention_mask):
            return self.step(
                decoder_input_ids, encoder_hidden_states, attention_mask=attention_mask
            )

    class UnmaskedDecoderStep(DecoderStep):
        def forward(self, decoder_input_ids, encoder_hidden_states):
            return self.step(decoder_input_ids, encoder_hidden_states)

    if masked:
        step, step_args = MaskedDecoderStep(), (decoder_ids, hidden, encoder_args[-1])
    else:
        step, step_args = UnmaskedDecoderStep(), (decoder_ids, hidden)
    return {"encoder": (encoder, encoder_args), "decoder_step": (step.eval(), step_args)}

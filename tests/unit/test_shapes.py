"""Input specs: `1x3x224x224`, `2x16:i64`, `x=1x4:f16`."""

import pytest
import torch

from frontend_mess.shapes import InputSpec, parse_input_spec, random_inputs
from frontend_mess.support.errors import FrontendError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1x3x224x224", InputSpec((1, 3, 224, 224), "f32")),
        ("2x16:i64", InputSpec((2, 16), "i64")),
        ("ids=1x7:i32", InputSpec((1, 7), "i32", name="ids")),
        ("5", InputSpec((5,), "f32")),
        (":f16", InputSpec((), "f16")),
    ],
)
def test_parse(text, expected):
    assert parse_input_spec(text) == expected


@pytest.mark.parametrize("text", ["1x3xfoo", "1x", "x3", "1,3", "-1x3", "1x3:"])
def test_malformed_shapes_are_user_errors(text):
    with pytest.raises(FrontendError, match="malformed input shape"):
        parse_input_spec(text)


def test_unknown_dtype_lists_the_known_ones():
    with pytest.raises(FrontendError, match="unknown dtype 'q7'.*f32"):
        parse_input_spec("2x2:q7")


def test_random_inputs_are_seeded_and_typed():
    specs = [parse_input_spec("2x3"), parse_input_spec("4:i64"), parse_input_spec("2:bf16")]
    first, second = random_inputs(specs), random_inputs(specs)
    assert [t.dtype for t in first] == [torch.float32, torch.int64, torch.bfloat16]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert first[1].min() >= 0 and first[1].max() < 2


@pytest.mark.parametrize(
    ("iree", "ours"), [("2x16xi64", "2x16:i64"), ("1x3xf32", "1x3:f32"), ("4xui8", "4:u8")]
)
def test_iree_spelling_means_the_same_spec(iree, ours):
    """`run --input 2x16xi64=random` and `--input-shape 2x16:i64` spell one thing; both parse."""
    assert parse_input_spec(iree) == parse_input_spec(ours)


def test_run_input_takes_both_spellings():
    import numpy as np

    from frontend_mess.backend.runtime import parse_run_input

    for text in ("2x16xi64=random", "2x16:i64", "2x16:i64=random"):
        array = parse_run_input(text, np.random.default_rng(0))
        assert array.shape == (2, 16) and array.dtype == np.int64, text

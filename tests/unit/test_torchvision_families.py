"""torchvision's families beyond classification (importers/torchvision_models.py): a
detection model exported as its dense network verifies against PyTorch eager, and the
families' models resolve with their own inputs."""

from __future__ import annotations

import pytest

from frontend_mess import pipeline
from frontend_mess.backend.targets import target_spec
from frontend_mess.verify import verify

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.slow


def test_a_detection_model_imports_as_its_dense_network():
    loaded = pipeline.load("ssdlite320_mobilenet_v3_large")
    assert "NMS left out" in loaded.choices["fixed"]
    function = loaded.torch.main
    with torch.no_grad():
        outputs = function.module(*function.example_args)
    # the head's raw outputs, named: every anchor's class logits and box regression
    assert list(outputs) == ["bbox_regression", "cls_logits"]
    assert outputs["cls_logits"].shape[-1] == 91  # COCO's classes
    # to linalg, every output kept (iree-compile then fails on one of its depthwise convs:
    # reports/matrix-torchvision-families.jsonl)
    imported = pipeline.to_kind(loaded, "linalg")
    results = imported.mlir_module.body.operations[0].type.results
    assert [list(t.shape) for t in results] == [list(o.shape) for o in outputs.values()]


def test_a_two_stage_detection_model_verifies_as_its_region_proposal_network():
    loaded = pipeline.load("fasterrcnn_mobilenet_v3_large_320_fpn")
    report = verify(loaded, target_spec("llvm-cpu"), via="fx-linalg")
    # three feature levels (the FPN's two and its pool): objectness and box deltas of each
    assert report.ok and len(report.checks) == 6, report.text()


def test_a_video_model_takes_a_clip_and_optical_flow_two_images():
    video = pipeline.load("r3d_18").torch.main.example_args
    assert [tuple(a.shape) for a in video] == [(1, 3, 16, 112, 112)]
    flow = pipeline.load("raft_small").torch.main.example_args
    assert [tuple(a.shape) for a in flow] == [(1, 3, 128, 128)] * 2


def test_an_unknown_name_suggests_a_family_model():
    from frontend_mess.support.errors import FrontendError

    with pytest.raises(FrontendError, match="fcn_resnet50"):
        pipeline.load("fcn_resnet5")


def test_random_vit_output_depends_on_the_image(tmp_path):
    """A weightless ViT's zero-initialized head is redrawn (torchvision_models._redraw_zero_heads),
    so its logits change with the image; a given --weights file is loaded as it is."""
    import torch

    from frontend_mess.importers.torchvision_models import build
    from frontend_mess.sources import seeded

    with seeded(0):
        model = build("vit_b_32")
    assert model.heads.head.weight.abs().sum() > 0
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(images)
    assert (logits[0] - logits[1]).abs().max() > 1e-3
    with seeded(0):
        again = build("vit_b_32")
    assert torch.equal(again.heads.head.weight, model.heads.head.weight)  # seeded: reproducible
    state = {k: torch.zeros_like(v) if k.startswith("heads.head") else v
             for k, v in model.state_dict().items()}  # fmt: skip
    torch.save(state, tmp_path / "w.pt")
    loaded = build("vit_b_32", weights=tmp_path / "w.pt")
    assert not loaded.heads.head.weight.any()

"""`flash train --export-half`: the shipped copy of a model is half the size and generates the same grasps to
float16 rounding."""

import torch
from flash_training.train.command import export_half
from flash_training.train.trainer import train
from safetensors.torch import load_file

from flash_core.generator import GraspGenerator


def test_half_precision_copy_is_smaller_and_generates_the_same_grasps(tiny_config, tmp_path):
    tiny_config.loop.steps, tiny_config.loop.val_every = 2, 0
    model_dir = train(tiny_config, tmp_path / "run").model_dir
    half_dir = export_half(model_dir, tmp_path / "half")
    full, half = load_file(str(model_dir / "model.safetensors")), load_file(str(half_dir / "model.safetensors"))
    assert full.keys() == half.keys()
    assert all(half[k].dtype == torch.float16 for k in half if full[k].is_floating_point())
    assert (half_dir / "model.safetensors").stat().st_size < 0.6 * (model_dir / "model.safetensors").stat().st_size
    cloud = torch.nn.functional.normalize(torch.randn(400, 3, generator=torch.Generator().manual_seed(0)), dim=-1)
    kwargs = {"num_grasps": 2, "seed": 0, "steps": 4, "method": "euler"}
    a = GraspGenerator.from_checkpoint(model_dir).generate("grasp the mug", cloud * 0.05, **kwargs)
    b = GraspGenerator.from_checkpoint(half_dir).generate("grasp the mug", cloud * 0.05, **kwargs)
    for ga, gb in zip(a, b, strict=True):
        assert torch.allclose(torch.as_tensor(ga.vector), torch.as_tensor(gb.vector), atol=2e-3)

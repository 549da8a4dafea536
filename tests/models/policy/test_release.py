"""The released NitroGen layout: a checkpoint in the ng.pt layout imports strictly and computes the same
chunk; a malicious pickle is refused before it can do anything; the 25 ↔ 21 action mapping round-trips."""

from __future__ import annotations

import os
import pickletools
from dataclasses import asdict
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from pydantic import BaseModel

from models.policy import FlowMatchingPolicy, PolicyConfig, build_meta_policy, load_policy, parameter_counts, policy_profile
from models.policy.action_space import from_model, to_model
from models.policy.release import IMPORT_RECORD, import_release, padflow_to_release
from models.policy.safe_pickle import UnsafePickleError, read_checkpoint
from padflow.actions import (
    BUTTONS,
    NITROGEN_RELEASE_TOKENS,
    NITROGEN_RELEASE_UNUSED,
    release_to_unified,
    unified_to_release,
)
from padflow.cli import main as cli

ROOT = Path(__file__).resolve().parents[3]
HORIZON = 4
TINY_RELEASE = PolicyConfig(
    image_size=32, patch_size=8, vision_arch="siglip", vision_head=True, vision_width=64, vision_layers=1, vision_heads=1,
    vision_mlp=128, mixer_blocks=1, mixer_width=64, mixer_heads=2, dit_blocks=2, dit_width=64, dit_heads=2,
    time_features=256, action_horizon=HORIZON, action_dim=25, action_layout="nitrogen-release", time_embedding="buckets",
    mixer_norm=False, layer_norm_eps=1e-5, dit_mlp_norm_affine=False, modulation="scale_shift", decoder="relu_projected",
    position_rows=32, context_length=20, dit_self_attention=False, time_alpha=1.6, time_beta=0.8,
)


# Stand-ins for the reference's pydantic config classes (nitrogen/cfg.py, modules.py): the checkpoint
# pickles them by module and class name, which the importer never imports.
class DiTConfig(BaseModel):
    num_attention_heads: int = 2
    attention_head_dim: int = 32
    output_dim: int = 64
    num_layers: int = 2
    activation_fn: str = "gelu-approximate"
    norm_type: str = "ada_norm"
    norm_elementwise_affine: bool = False
    norm_eps: float = 1e-5
    positional_embeddings: str | None = None
    interleave_self_attention: bool = False
    cross_attention_dim: int | None = 64


class MixerConfig(BaseModel):
    num_attention_heads: int = 2
    attention_head_dim: int = 32
    num_layers: int = 1
    activation_fn: str = "gelu-approximate"
    positional_embeddings: str | None = None


class ModelConfig(BaseModel):
    diffusion_model_cfg: DiTConfig = DiTConfig()
    vl_self_attention_cfg: MixerConfig = MixerConfig()
    hidden_size: int = 64
    max_seq_len: int = 32
    action_dim: int = 25
    action_horizon: int = HORIZON
    add_pos_embed: bool = True
    noise_beta_alpha: float = 1.6
    noise_beta_beta: float = 0.8
    num_inference_timesteps: int = 16
    vision_hidden_size: int = 64


class TokenizerConfig(BaseModel):
    max_sequence_length: int = 20


class CkptConfig(BaseModel):
    experiment_name: str = "tiny"
    model_cfg: ModelConfig = ModelConfig()
    tokenizer_cfg: TokenizerConfig = TokenizerConfig()


def release_checkpoint(path: Path, seed: int = 0) -> FlowMatchingPolicy:
    """Write a tiny policy's weights in the ng.pt layout (release names, pydantic config object); return the policy."""
    torch.manual_seed(seed)
    policy = FlowMatchingPolicy(TINY_RELEASE).eval()
    torch.save({"model": padflow_to_release(policy.state_dict(), TINY_RELEASE), "ckpt_config": CkptConfig()}, path)
    return policy


def test_ng_pt_layout_imports_with_strict_load_and_gives_the_same_chunk(tmp_path: Path):
    original = release_checkpoint(tmp_path / "ng.pt")
    assert cli(["policy", "import-nitrogen", str(tmp_path / "ng.pt"), "--out", str(tmp_path / "imported")]) == 0
    imported = load_policy(tmp_path / "imported")  # models/io.py: strict, every tensor named and shaped
    assert imported.cfg == TINY_RELEASE
    frames = torch.rand(2, 3, 32, 32) * 2 - 1
    noise = torch.randn(2, HORIZON, 25)
    assert torch.equal(original.denoise(frames, noise, 16), imported.denoise(frames, noise, 16))
    record = yaml.safe_load((tmp_path / "imported" / IMPORT_RECORD).read_text())
    assert record["ckpt_config"]["__class__"].endswith("test_release.CkptConfig")  # a plain dict, never the class
    assert record["ckpt_config"]["model_cfg"]["diffusion_model_cfg"]["num_layers"] == 2
    assert record["release"]["euler_steps"] == 16 and record["dropped"] == []
    card = (tmp_path / "imported" / "README.md").read_text()  # the model card every exported policy folder has
    assert "NitroGen release" in card and "## Intended use" in card


class RunsACommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_is_refused_and_its_command_never_runs(tmp_path: Path):
    marker, ckpt = tmp_path / "pwned", tmp_path / "ng.pt"
    torch.save({"model": {}, "ckpt_config": RunsACommand(marker)}, ckpt)
    with zipfile.ZipFile(ckpt) as z:  # the payload is real: the pickle calls os.system
        assert "system" in "".join(str(arg) for _, arg, _ in pickletools.genops(z.read("ng/data.pkl")))
    with pytest.raises(UnsafePickleError, match=r"calls (posix|os)\.system"):
        import_release(ckpt, tmp_path / "out")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()
    assert cli(["policy", "import-nitrogen", str(ckpt), "--out", str(tmp_path / "out")]) != 0
    assert not marker.exists()


def test_restricted_reader_gives_the_tensors_torch_saved(tmp_path: Path):
    state = {"a": torch.randn(3, 4), "b": torch.arange(6, dtype=torch.int64)[1:4], "c": torch.randn(2, 2).bfloat16().T}
    torch.save({"model": state, "tags": {"x", "y"}}, tmp_path / "t.pt")
    read = read_checkpoint(tmp_path / "t.pt")
    assert read["tags"] == ["x", "y"]
    for k, v in state.items():
        assert read["model"][k].dtype == v.dtype and torch.equal(read["model"][k], v)


def test_release_and_unified_actions_round_trip():
    rng = np.random.default_rng(0)
    unified = np.zeros((3, 18, 21), np.float32)
    unified[..., :17] = rng.random((3, 18, 17)) < 0.4
    unified[..., 17:] = rng.uniform(-1, 1, (3, 18, 4))
    release = unified_to_release(unified)
    assert release.shape == (3, 18, 25)
    np.testing.assert_allclose(release_to_unified(release), unified, atol=1e-6)
    # torch (what the model trains and samples with) agrees with numpy, value for value
    torch.testing.assert_close(to_model("nitrogen-release", torch.from_numpy(unified)), torch.from_numpy(release))
    torch.testing.assert_close(from_model("nitrogen-release", torch.from_numpy(release)), torch.from_numpy(unified))
    # conventions: SOUTH is token 18 of shared.py's order, sticks come last in [0, 1] with y down
    south = np.zeros(21, np.float32)
    south[BUTTONS.index("SOUTH")], south[17], south[18] = 1.0, 1.0, 1.0  # SOUTH, left stick right and up
    one = unified_to_release(south)
    assert NITROGEN_RELEASE_TOKENS[18] == "SOUTH" and one[18] == 1.0 and one[:21].sum() == 1.0
    assert one[21] == 1.0 and one[22] == 0.0
    # the RIGHT_* tokens the unified pad lacks are dropped on the way in
    tokens = np.zeros(25, np.float32)
    tokens[[NITROGEN_RELEASE_TOKENS.index(t) for t in NITROGEN_RELEASE_UNUSED]] = 1.0
    tokens[21:] = 0.5
    assert not release_to_unified(tokens).any()


def test_release_profile_has_the_release_parameter_count():
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["models"]
    counts = parameter_counts(build_meta_policy(policy_profile(models, "nitrogen-release")))
    assert counts["total"] == 493_631_513  # the reference built at the released config


def test_release_small_computes_what_the_release_computes_at_small_sizes():
    """The CPU-scale fine-tuning measurement (docs/nitrogen.md) stands for the release only if every choice but size is the release's."""
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["models"]
    release, small, ours = (asdict(policy_profile(models, name)) for name in ("nitrogen-release", "small", "release-small"))
    sizes = {"image_size", "patch_size", "time_features", "vision_head"} | {
        f"{part}_{what}" for part in ("vision", "mixer", "dit") for what in ("width", "layers", "heads", "mlp", "blocks")} & set(ours)
    assert {k: v for k, v in ours.items() if k not in sizes} == {k: v for k, v in release.items() if k not in sizes}
    assert {k: ours[k] for k in sizes} == {k: small[k] for k in sizes}

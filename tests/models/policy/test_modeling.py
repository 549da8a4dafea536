"""The policy learns, samples with a reused image context, saves, loads, and refuses bad files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from models.policy import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    FlowMatchingPolicy,
    PolicyConfig,
    build_meta_policy,
    load_policy,
    parameter_counts,
    policy_profile,
    prepare_frames,
    save_policy,
)

ROOT = Path(__file__).resolve().parents[3]
TINY = PolicyConfig(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2, vision_mlp=64,
                    mixer_blocks=1, mixer_width=32, mixer_heads=2, dit_blocks=2, dit_width=64, dit_heads=4,
                    time_features=16)
NITROGEN_PARAMETERS = 4.93e8  # the released checkpoint


def tiny_policy(seed: int = 0, cfg: PolicyConfig = TINY) -> FlowMatchingPolicy:
    torch.manual_seed(seed)
    return FlowMatchingPolicy(cfg).eval()


def game_frames(n: int = 4) -> np.ndarray:
    """n 48x64 frames: a coloured block whose position differs per frame, random noise in the overlay corner."""
    rng = np.random.default_rng(0)
    frames = np.full((n, 48, 64, 3), 30, np.uint8)
    for i in range(n):
        frames[i, 8:24, 8 + 12 * i : 20 + 12 * i] = (200, 60 * i, 255 - 60 * i)
        frames[i, 32:48, 44:64] = rng.integers(0, 255, (16, 20, 3))
    return frames


def label_chunks(n: int = 4) -> torch.Tensor:
    rng = np.random.default_rng(1)
    labels = torch.zeros(n, 16, 21)
    labels[..., :17] = torch.from_numpy(rng.random((n, 16, 17)) < 0.3).float()
    labels[..., 17:] = torch.from_numpy(rng.uniform(-0.9, 0.9, (n, 16, 4))).float()
    return labels


def test_loss_gives_no_gradient_to_unobserved_dimensions():
    policy = tiny_policy().train()
    frames = prepare_frames(game_frames(4), None, None, "none", 32)
    observed = torch.ones(4, 21, dtype=torch.bool)
    unseen = [15, 16, 19, 20]  # BACK, GUIDE, RIGHT_X, RIGHT_Y: a pad without them
    observed[:2, unseen] = False  # half the batch comes from that pad
    torch.manual_seed(0)
    policy.loss({"frames": frames, "actions": label_chunks(4), "observed": observed}).backward()
    out = policy.action_decoder[-1]  # the last layer: one weight row and bias per action dimension
    assert (out.weight.grad[unseen] != 0).all(dim=1).any(), "chunks that observe them still train them"
    policy.zero_grad()
    observed[2:, unseen] = False
    torch.manual_seed(0)
    policy.loss({"frames": frames, "actions": label_chunks(4), "observed": observed}).backward()
    assert (out.weight.grad[unseen] == 0).all() and (out.bias.grad[unseen] == 0).all()
    assert (out.bias.grad[[0, 17]] != 0).all()


def test_sample_returns_valid_unified_actions():
    policy = tiny_policy()
    frames = prepare_frames(game_frames(2), None, None, "none", 32)
    out = policy.sample(frames, steps=4, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 16, 21)
    assert set(out[..., :17].unique().tolist()) <= {0.0, 1.0}
    assert out[..., 17:].abs().max() <= 1.0


def test_reused_image_context_gives_identical_chunks_to_recomputing_it():
    policy = tiny_policy()
    frames = prepare_frames(game_frames(3), None, None, "none", 32)
    cached = policy.sample(frames, steps=16, generator=torch.Generator().manual_seed(5))
    recomputed = policy.sample(frames, steps=16, generator=torch.Generator().manual_seed(5), recompute_context=True)
    assert torch.equal(cached, recomputed)


def test_blind_policy_learns_exactly_what_the_same_weights_learn_from_blank_frames():
    """The blind arm encodes its one constant picture once for the batch: same loss and gradients as every row encoding it."""
    blind = tiny_policy(cfg=replace(TINY, frame_input="blind")).train()
    seeing = tiny_policy().train()
    seeing.load_state_dict(blind.state_dict())
    frames = prepare_frames(game_frames(4), None, None, "none", 32)
    labels = label_chunks(4)
    losses = []
    for policy, shown in ((blind, frames), (seeing, torch.zeros_like(frames))):
        torch.manual_seed(3)  # the same noise and times for both
        loss = policy.loss({"frames": shown, "actions": labels})
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for (name, a), b in zip(blind.named_parameters(), seeing.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize("time_embedding", ["continuous", "buckets"])
def test_time_conditioning_computed_for_all_steps_ahead_gives_the_chunk_of_a_plain_euler_loop(time_embedding):
    policy = tiny_policy(cfg=replace(TINY, time_embedding=time_embedding))
    frames = prepare_frames(game_frames(3), None, None, "none", 32)
    noise = torch.randn(3, 16, 21, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        context, x = policy.encode_image(frames), noise
        for i in range(16):  # velocity computes its own time conditioning; i/16 is exact, so buckets floor alike
            x = x + (1 / 16) * policy.velocity(x, torch.full((3,), i / 16), context)
    ahead = policy.denoise(frames, noise, 16)
    assert (ahead - x).abs().max().item() <= 1e-5


@pytest.mark.slow
def test_overfits_a_handful_of_chunks_and_samples_reproduce_the_labels():
    """Objective, sampler and overlay masking wired right: 4 masked frames → their exact chunks."""
    frames = prepare_frames(game_frames(), (0, 0, 64, 48), (44, 32, 64, 48), "black", 32)
    labels = label_chunks()
    policy = tiny_policy().train()
    steps, copies = 300, 8  # each step sees every chunk 8 times, with fresh noise and times

    def fixed_loss() -> float:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(123)
            return policy.loss({"frames": frames.repeat(32, 1, 1, 1), "actions": labels.repeat(32, 1, 1)}).item()

    before = fixed_loss()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=5e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    for _ in range(steps):
        loss = policy.loss({"frames": frames.repeat(copies, 1, 1, 1), "actions": labels.repeat(copies, 1, 1)})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    after = fixed_loss()
    assert after <= 0.1 * before, (before, after)
    out = policy.eval().sample(frames, steps=16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[..., :17], labels[..., :17])
    # sticks are continuous: within 0.1 on average (predicting their mean would miss by ~0.45)
    stick_error = (out[..., 17:] - labels[..., 17:]).abs().mean().item()
    assert stick_error < 0.1, stick_error


def test_nitrogen_500m_profile_counts_within_5_percent_of_the_release():
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["models"]
    counts = parameter_counts(build_meta_policy(policy_profile(models, "nitrogen-500m")))
    assert abs(counts["total"] - NITROGEN_PARAMETERS) / NITROGEN_PARAMETERS < 0.05, counts
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    assert 2.9e8 < counts["vision"] < 3.2e8 and 4.5e7 < counts["mixer"] < 5.5e7 and 1.1e8 < counts["dit"] < 1.3e8


@pytest.mark.slow
def test_nitrogen_500m_runs_one_forward_pass():
    models = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["models"]
    policy = tiny_policy(cfg=policy_profile(models, "nitrogen-500m"))
    frames = torch.zeros(1, 3, 256, 256)
    with torch.no_grad():
        context = policy.encode_image(frames)
        velocity = policy.velocity(torch.zeros(1, 16, 21), torch.tensor([0.5]), context)
    assert context.tokens.shape == (1, 256, 1024)
    assert velocity.shape == (1, 16, 21) and torch.isfinite(velocity).all()


def test_save_load_round_trip_gives_the_same_chunks(tmp_path: Path):
    policy = tiny_policy(seed=3)
    save_policy(policy, tmp_path / "policy")
    loaded = load_policy(tmp_path / "policy")
    frames = prepare_frames(game_frames(2), None, None, "none", 32)
    assert loaded.cfg == TINY
    assert torch.equal(policy.sample(frames, generator=torch.Generator().manual_seed(1)),
                       loaded.sample(frames, generator=torch.Generator().manual_seed(1)))
    record = json.loads((tmp_path / "policy" / CONFIG_FILE).read_text())
    assert record["parameters"] == parameter_counts(policy)["total"]
    assert (tmp_path / "policy" / WEIGHTS_FILE).stat().st_mode & 0o044  # readable like any other output


def test_save_pretrained_and_from_pretrained_are_the_same_one_way(tmp_path: Path):
    policy = tiny_policy(seed=4)
    folder = policy.save_pretrained(tmp_path / "policy")
    assert sorted(p.name for p in folder.iterdir()) == sorted([WEIGHTS_FILE, CONFIG_FILE])  # save_policy's files
    loaded = FlowMatchingPolicy.from_pretrained(folder)
    assert loaded.cfg == TINY and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(policy.state_dict().values(), loaded.state_dict().values(), strict=True))


def test_missing_corrupt_and_mismatched_checkpoints_are_refused_by_name(tmp_path: Path):
    folder = save_policy(tiny_policy(), tmp_path / "policy")
    weights, config = folder / WEIGHTS_FILE, folder / CONFIG_FILE
    good_weights, good_config = weights.read_bytes(), config.read_text()

    weights.write_bytes(good_weights[: len(good_weights) // 2])  # a torn write
    with pytest.raises(ValueError, match="policy.safetensors: contents do not match"):
        load_policy(folder)
    record = json.loads(good_config)
    record["weights_sha256"] = __import__("hashlib").sha256(weights.read_bytes()).hexdigest()
    config.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_policy(folder)

    weights.write_bytes(good_weights)
    record = json.loads(good_config)
    record["config"]["dit_width"] = 128  # the weights were saved for width 64
    record["config"]["dit_heads"] = 4
    config.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"does not fit the config's policy \(.*wrong shapes"):
        load_policy(folder)

    config.write_text("{not json")
    with pytest.raises(ValueError, match=r"policy_config.json: not a readable policy config \(not valid JSON"):
        load_policy(folder)
    config.unlink()
    with pytest.raises(ValueError, match="policy_config.json: missing"):
        load_policy(folder)


def test_pretrained_siglip2_vision_weights_load_from_a_local_folder(tmp_path: Path):
    from transformers import Siglip2Config, Siglip2Model

    torch.manual_seed(7)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, patch_size=8,
                  num_patches=16)
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=100)
    full = Siglip2Model(Siglip2Config(vision_config=vision, text_config=text))  # what a download holds: vision + text
    full.save_pretrained(tmp_path / "siglip2")
    policy = tiny_policy(cfg=replace(TINY, pretrained=str(tmp_path / "siglip2")))
    saved = full.vision_model.embeddings.patch_embedding.weight
    assert torch.equal(policy.vision.model.embeddings.patch_embedding.weight, saved)
    assert torch.equal(policy.vision.model.encoder.layers[0].mlp.fc1.weight, full.vision_model.encoder.layers[0].mlp.fc1.weight)

    with pytest.raises(ValueError, match=r"does not match the policy's vision sizes \(hidden_size: folder 32 vs config 64"):
        FlowMatchingPolicy(replace(TINY, pretrained=str(tmp_path / "siglip2"), vision_width=64))
    with pytest.raises(ValueError, match="not a transformers model folder"):
        FlowMatchingPolicy(replace(TINY, pretrained=str(tmp_path / "nowhere")))


def test_fixed_resolution_siglip_layout_loads_too(tmp_path: Path):
    from transformers import SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(8)
    source = SiglipVisionModel(SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                                  num_attention_heads=2, patch_size=8, image_size=32))
    source.save_pretrained(tmp_path / "siglip")
    policy = tiny_policy(cfg=replace(TINY, vision_arch="siglip", pretrained=str(tmp_path / "siglip")))
    assert torch.equal(policy.vision.model.embeddings.patch_embedding.weight, source.embeddings.patch_embedding.weight)
    out = policy.sample(torch.zeros(1, 3, 32, 32), steps=2)
    assert out.shape == (1, 16, 21)


@pytest.mark.parametrize("change, field", [({"image_size": 30}, "image_size"), ({"dit_heads": 5}, "dit_width"),
                                           ({"vision_arch": "clip"}, "vision_arch"), ({"action_dim": 25}, "action_dim")])
def test_bad_policy_config_names_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        replace(TINY, **change)

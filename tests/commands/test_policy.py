"""`padflow policy info` counts a size without building it; `policy act` prints a chunk from a PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.policy import FlowMatchingPolicy, PolicyConfig, save_policy
from padflow.commands import policy as policy_command

TINY = PolicyConfig(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2, vision_mlp=64,
                    mixer_blocks=1, mixer_width=32, mixer_heads=2, dit_blocks=2, dit_width=32, dit_heads=2,
                    time_features=16)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    policy_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_info_counts_the_nitrogen_size(capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    assert run(["policy", "info", "--profile", "nitrogen-500m", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    counts, trained = info["parameters"], info["trained"]
    assert set(counts) == {"vision", "mixer", "dit", "action_encoder", "action_decoder", "total"}
    assert abs(counts["total"] / 4.93e8 - 1) < 0.05
    assert trained["all"] == counts["total"] and trained["freeze_vision"] == counts["total"] - counts["vision"]
    assert 0 < trained["lora"] < trained["freeze_vision_mixer"] < trained["freeze_vision"]
    with pytest.raises(ValueError, match="unknown model profile 'huge'"):
        run(["policy", "info", "--profile", "huge"])


def test_act_prints_sixteen_steps_of_valid_actions(tmp_path: Path, capsys):
    torch.manual_seed(0)
    folder = save_policy(FlowMatchingPolicy(TINY), tmp_path / "policy")
    image = np.zeros((60, 80, 3), np.uint8)
    image[10:30, 20:40] = (0, 200, 255)
    cv2.imwrite(str(tmp_path / "frame.png"), image)
    assert run(["policy", "act", "--checkpoint", str(folder), "--image", str(tmp_path / "frame.png"), "--steps", "4", "--json"]) == 0
    chunk = json.loads(capsys.readouterr().out)
    assert len(chunk) == 16 and all(len(step) == 21 for step in chunk)
    assert all(step["SOUTH"] in (0, 1) and -1 <= step["LEFT_X"] <= 1 for step in chunk)
    assert run(["policy", "act", "--checkpoint", str(folder), "--image", str(tmp_path / "frame.png")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 17  # header + 16 steps
    with pytest.raises(ValueError, match="not a readable image"):
        run(["policy", "act", "--checkpoint", str(folder), "--image", str(tmp_path / "missing.png")])

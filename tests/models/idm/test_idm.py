"""The IDM: it fits a tiny labelled set, labels a whole video, saves and loads strictly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.idm import IdmConfig, InverseDynamicsModel, idm_loss, label_video, load_idm, save_idm, to_windows
from models.idm.modeling import press_weights
from padflow.actions import ACTION_INDEX

TINY = IdmConfig(image_size=16, window=8, channels=(8, 8, 16), grid=2, width=16, layers=1, heads=2, dropout=0.0)
RIGHT = ACTION_INDEX["DPAD_RIGHT"]


def scripted_video(presses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 16x16 video of a block that steps right on the frame after DPAD_RIGHT is pressed, else steps back (wrapping round).

    Returns uint8 frames (T, 16, 16, 3) and the unified actions (T, 21) that made them.
    """
    actions = np.zeros((len(presses), 21), np.float32)
    actions[:, RIGHT] = presses
    frames = np.zeros((len(presses), 16, 16, 3), np.uint8)
    x = 4
    for t, pressed in enumerate(presses):
        frames[t, 6:10, x : x + 3] = 255
        x = (x + 2 if pressed else x - 1) % 13  # the press shows in the next frame: only a non-causal model sees it
    return frames, actions


def fit(model: InverseDynamicsModel, frames: np.ndarray, actions: np.ndarray, steps: int) -> list[float]:
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    starts = list(range(0, len(frames) - TINY.window + 1, 2))
    x = to_windows(frames, starts, TINY.window)  # (B, W, 3, S, S)
    y = torch.stack([torch.from_numpy(actions[s : s + TINY.window]) for s in starts])  # (B, W, 21)
    observed = torch.ones(len(starts), 21, dtype=torch.bool)
    losses = []
    model.train()
    for _ in range(steps):
        logits, axes = model(x)
        loss = idm_loss(logits, axes, y, observed)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_idm_overfits_a_tiny_labelled_set():
    torch.manual_seed(0)
    presses = (np.random.default_rng(0).random(40) < 0.4).astype(np.float32)
    frames, actions = scripted_video(presses)
    model = InverseDynamicsModel(TINY)
    losses = fit(model, frames, actions, steps=250)
    assert losses[-1] < 0.2 * losses[0]
    predicted, confidence = label_video(model, frames)
    assert predicted.shape == (40, 21) and confidence.shape == (40,)
    inner = slice(2, -2)  # the first and last frames have no frame after them in the video
    assert ((predicted[inner, RIGHT] > 0.5) == (presses[inner] > 0.5)).mean() >= 0.9


def test_saved_idm_loads_strictly(tmp_path: Path):
    model = InverseDynamicsModel(TINY)
    save_idm(model, tmp_path)
    loaded = load_idm(tmp_path)
    x = to_windows(np.zeros((8, 16, 16, 3), np.uint8), [0], TINY.window)
    assert torch.allclose(loaded.unified(x), model.eval().unified(x))
    bigger = InverseDynamicsModel(IdmConfig(**{**TINY.__dict__, "width": 32}))
    torch.save(bigger.state_dict(), tmp_path / "unused.pt")
    (tmp_path / "idm_config.json").write_text((tmp_path / "idm_config.json").read_text().replace('"width": 16', '"width": 32'))
    with pytest.raises(ValueError, match="idm"):
        load_idm(tmp_path)


def test_idm_config_names_a_bad_size():
    with pytest.raises(ValueError, match="heads"):
        IdmConfig(width=10, heads=4)
    with pytest.raises(ValueError, match="grid 8 is finer than the encoder's 6x6 feature map"):
        IdmConfig(image_size=48, grid=8)


def test_press_weights_balance_a_rare_button_and_leave_unpressed_ones_at_one():
    actions = np.zeros((100, 21), np.float32)
    actions[:4, RIGHT] = 1.0  # 4 presses in 100 observed cells: 96 / 4 = 24
    observed = np.ones((100, 21), bool)
    weights = press_weights(actions, observed, max_weight=50.0)
    assert weights[RIGHT] == 24.0 and (np.delete(weights, RIGHT) == 1.0).all()
    assert press_weights(actions, observed, max_weight=10.0)[RIGHT] == 10.0


def test_a_weighted_loss_counts_a_missed_press_more_than_a_false_one():
    labels = torch.zeros(1, 2, 21)
    labels[0, 0, RIGHT] = 1.0  # pressed in the first frame, released in the second
    observed = torch.ones(1, 21, dtype=torch.bool)
    axes = torch.zeros(1, 2, 4)
    right = torch.full((1, 2, 17), -20.0)  # every other cell answered right, at a loss of ~0
    right[0, 0, RIGHT] = 20.0
    missed, false = right.clone(), right.clone()
    missed[0, 0, RIGHT] = -3.0  # says released where it was pressed
    false[0, 1, RIGHT] = 3.0  # says pressed where it was released
    weight = torch.ones(17)
    weight[RIGHT] = 10.0
    assert idm_loss(missed, axes, labels, observed) == pytest.approx(float(idm_loss(false, axes, labels, observed)))
    assert idm_loss(missed, axes, labels, observed, weight) > 5 * idm_loss(false, axes, labels, observed, weight)

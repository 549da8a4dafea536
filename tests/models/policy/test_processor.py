"""One preprocessing path for training and the simulator: mask, crop, resize, normalize, augment; actions ↔ model space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.policy.processor import (
    Augmentation,
    actions_to_model,
    augment,
    crop_mask_resize,
    model_to_actions,
    prepare_frames,
    to_model_input,
    training_mask_boxes,
)

NO_AUGMENTATION = Augmentation(brightness=0, contrast=0, saturation=0, hue=0, rotation_deg=0, crop_scale=1.0)


def frame_with_overlay() -> np.ndarray:
    """A 60x80 frame: letterbox bars left/right, a game picture, a bright overlay in its corner."""
    rng = np.random.default_rng(0)
    f = np.zeros((60, 80, 3), np.uint8)
    f[:, 10:70] = rng.integers(40, 200, (60, 60, 3), dtype=np.uint8)
    f[40:60, 50:70] = 255  # overlay, drawn over the game picture
    return f


def test_overlay_is_blacked_out_and_game_box_cropped():
    out = crop_mask_resize(frame_with_overlay(), (10, 0, 70, 60), (50, 40, 70, 60), "black", 60)
    assert out.shape == (60, 60, 3)
    assert (out[40:60, 40:60] == 0).all()  # overlay pixels, in crop coordinates
    assert np.array_equal(out[:40], frame_with_overlay()[:40, 10:70])  # the rest untouched (same size: no resampling)
    kept = crop_mask_resize(frame_with_overlay(), (10, 0, 70, 60), (50, 40, 70, 60), "none", 60)
    assert (kept[40:60, 40:60] == 255).all()


def test_frames_that_differ_only_under_the_overlay_give_the_same_input():
    a, b = frame_with_overlay(), frame_with_overlay()
    b[40:60, 50:70] = 17
    pa = prepare_frames(a, (10, 0, 70, 60), (50, 40, 70, 60), "black", 32)
    pb = prepare_frames(b, (10, 0, 70, 60), (50, 40, 70, 60), "black", 32)
    assert torch.equal(pa, pb)


def test_prepare_frames_is_the_training_path_without_augmentation():
    frames = np.stack([frame_with_overlay(), frame_with_overlay()[::-1].copy()])
    model_input = prepare_frames(frames, (10, 0, 70, 60), (50, 40, 70, 60), "black", 32)
    cached = np.stack([crop_mask_resize(f, (10, 0, 70, 60), (50, 40, 70, 60), "black", 32) for f in frames])
    assert model_input.shape == (2, 3, 32, 32) and model_input.dtype == torch.float32
    assert torch.equal(model_input, to_model_input(cached))
    assert torch.allclose(augment(model_input, NO_AUGMENTATION), model_input, atol=1e-5)
    assert model_input.min() >= -1 and model_input.max() <= 1
    assert to_model_input(np.zeros((1, 2, 2, 3), np.uint8)).unique().item() == -1.0  # black → -1


def test_augment_changes_pixels_keeps_range_and_is_seeded():
    x = prepare_frames(frame_with_overlay(), None, None, "none", 32).repeat(4, 1, 1, 1)
    a = augment(x, Augmentation(), torch.Generator().manual_seed(3))
    b = augment(x, Augmentation(), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert a.shape == x.shape and a.min() >= -1 - 1e-6 and a.max() <= 1 + 1e-6
    assert not torch.allclose(a, x, atol=1e-2)
    assert not torch.allclose(a[0], a[1])  # each sample gets its own draw


@pytest.mark.parametrize("kwargs, field", [({"brightness": 1.2}, "brightness"), ({"hue": 0.7}, "hue"),
                                           ({"crop_scale": 0.0}, "crop_scale"), ({"rotation_deg": 90}, "rotation_deg")])
def test_augmentation_rejects_bad_strengths(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Augmentation(**kwargs)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="uint8"):
        crop_mask_resize(np.zeros((4, 4, 3), np.float32), None, None, "black", 8)
    with pytest.raises(ValueError, match="mask_policy"):
        crop_mask_resize(np.zeros((4, 4, 3), np.uint8), None, None, "blur", 8)
    with pytest.raises(ValueError, match="game_box"):
        crop_mask_resize(np.zeros((4, 4, 3), np.uint8), (10, 10, 20, 20), None, "black", 8)


def test_model_space_maps_buttons_to_plus_minus_one_and_back():
    rng = np.random.default_rng(1)
    labels = torch.zeros(2, 16, 21)
    labels[..., :17] = torch.from_numpy(rng.random((2, 16, 17)) < 0.3).float()
    labels[..., 17:] = torch.from_numpy(rng.uniform(-0.9, 0.9, (2, 16, 4))).float()
    values = actions_to_model(labels)
    assert set(values[..., :17].unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(values[..., 17:], labels[..., 17:])
    assert torch.equal(model_to_actions(values), labels)
    assert model_to_actions(torch.full((1, 21), 3.0))[0, 17:].tolist() == [1.0] * 4  # sticks clipped


def test_training_mask_boxes_are_shares_of_the_game_picture() -> None:
    boxes = training_mask_boxes([[60, 40, 80, 60], [0, 0, 8, 8], None, [70, 50, 90, 70]],
                                [[0, 0, 80, 60], [10, 0, 90, 60], [0, 0, 80, 60], None])
    np.testing.assert_allclose(boxes[0], [0.75, 40 / 60, 1.0, 1.0])
    assert np.isnan(boxes[1]).all() and np.isnan(boxes[2]).all(), "an overlay off the picture, or none, masks nothing"
    np.testing.assert_allclose(boxes[3], [70 / 90, 50 / 70, 1.0, 1.0])  # no game box: ends at the far edges

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import ParserConfig
from padflow.actions import BUTTON_INDEX, N_BUTTONS, validate_action
from padflow.overlay.crops import parser_batch
from padflow.overlay.library import HELD_OUT_SKINS, load_library
from padflow.overlay.synth import (
    COLOUR_ORDERS,
    RenderSet,
    SynthConfig,
    load_shard,
    physical_dpad,
    random_actions,
    render_clip,
    render_split,
    save_shard,
)
from padflow.video import h264_round_trip

CFG = SynthConfig(crop_size=(64, 48), frames_per_clip=3)


@pytest.fixture(scope="module")
def library():
    return load_library()


@pytest.fixture(scope="module")
def backgrounds():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (5, 210, 160, 3), dtype=np.uint8), np.full((3, 240, 320, 3), 90, np.uint8)]


def test_random_actions_are_valid_with_presses_and_moving_sticks():
    actions = np.concatenate([random_actions(8, np.random.default_rng(i)) for i in range(200)])
    validate_action(actions)
    press_rate = actions[:, :N_BUTTONS].mean(axis=0)
    assert (press_rate > 0.03).all() and (press_rate < 0.6).all()  # every button is seen pressed and released
    sticks = actions[:, N_BUTTONS:]
    assert 0.15 < (np.abs(sticks[:, :2]).max(axis=1) == 0).mean() < 0.5  # often exactly centred
    assert (np.abs(np.hypot(sticks[:, 0], sticks[:, 1]) - 1) < 0.05).mean() > 0.15  # often at the rim


def test_physical_dpad_never_holds_opposite_directions_and_keeps_the_rest():
    actions = np.concatenate([random_actions(8, np.random.default_rng(i)) for i in range(50)])
    before = actions.copy()
    physical_dpad(actions)
    up, down, left, right = (BUTTON_INDEX[b] for b in ("DPAD_UP", "DPAD_DOWN", "DPAD_LEFT", "DPAD_RIGHT"))
    assert ((before[:, up] > 0) & (before[:, down] > 0)).any()  # the random actions do hold opposites
    assert not ((actions[:, up] > 0) & (actions[:, down] > 0)).any() and not ((actions[:, left] > 0) & (actions[:, right] > 0)).any()
    assert np.array_equal(actions[:, up], before[:, up]) and np.array_equal(actions[:, left], before[:, left])
    others = [i for i in range(actions.shape[1]) if i not in (down, right)]
    assert np.array_equal(actions[:, others], before[:, others])


def test_render_clip_gives_rectified_crops_of_the_shown_actions(library, backgrounds):
    crops, sticks, actions, colour = render_clip(library.skins["xbox-01"], backgrounds, CFG, np.random.default_rng(3))
    assert crops.shape == (3, 48, 64, 3) and crops.dtype == np.uint8
    assert sticks.shape == (3, 2, CFG.stick_size, CFG.stick_size, 3) and sticks.dtype == np.uint8
    assert actions.shape == (3, 21) and 0 <= colour < len(COLOUR_ORDERS)
    # The overlay fills the crop: a rectified render looks like the skin, not like the background.
    assert crops.std() > 10 and abs(crops.mean() - backgrounds[1].mean()) > 1


def test_renders_are_deterministic_per_seed_and_worker_count(library, backgrounds):
    skins = {i: library.skins[i] for i in ("xbox-01", "nintendo-01", "generic-01")}
    a = render_split(skins, 6, backgrounds, CFG, seed=5, split="train", workers=1)
    b = render_split(skins, 6, backgrounds, CFG, seed=5, split="train", workers=2)
    c = render_split(skins, 6, backgrounds, CFG, seed=6, split="train", workers=1)
    assert np.array_equal(a.crops, b.crops) and np.array_equal(a.sticks, b.sticks) and np.array_equal(a.actions, b.actions)
    assert not np.array_equal(a.crops, c.crops)
    assert a.skin_ids == ("generic-01", "nintendo-01", "xbox-01") * 2
    assert a.renders_per_s > 0


def test_training_split_never_uses_held_out_skins(library):
    from padflow.players.footage import collect_backgrounds
    from tasks.parser_train import ParserTrainConfig, render_sets, split_skins

    train_ids = set(library.training_ids())
    assert train_ids and not train_ids & set(HELD_OUT_SKINS)
    assert set(library.held_out_ids()) == set(HELD_OUT_SKINS)
    cfg = ParserTrainConfig(
        train_samples=2 * len(train_ids), val_samples=2 * len(HELD_OUT_SKINS), background_tasks=("pong_score_point",),
        background_frames=4, render_workers=1, synth=CFG, model=ParserConfig(crop_size=(64, 48)),
    )  # fmt: skip
    skins, _ = split_skins(cfg, Path("."), ())
    sets = render_sets(cfg, 0, skins, collect_backgrounds(cfg.background_tasks, cfg.background_frames, cfg.background_stride, 0))
    assert set(sets["train"].skin_ids) == train_ids
    assert set(sets["val_train_skins"].skin_ids) <= train_ids
    assert set(sets["val_held_out"].skin_ids) == set(HELD_OUT_SKINS)


def test_pair_batch_matches_the_extraction_crop_path(library, backgrounds):
    renders = render_split({"xbox-01": library.skins["xbox-01"]}, 2, backgrounds, CFG, seed=0, split="x")
    pairs, labels = renders.pair_batch(np.array([0, 1, 2, 3]))
    # Extraction pairs consecutive frames with parser_batch; clip pairs must be the same tensors.
    video = parser_batch(renders.crops[0], renders.sticks[0], renders.clip_view(0))
    for got, want in zip(pairs, video):
        assert np.array_equal(got[:2], want[1:])
    assert np.array_equal(labels[2:], renders.actions[1, 1:])


def test_reordered_colours_reach_the_rest_reference_too(library, backgrounds):
    renders = render_split({"xbox-01": library.skins["xbox-01"]}, 12, backgrounds, CFG, seed=0, split="x")
    assert len(set(renders.colour_orders.tolist())) > 1  # several colourings drawn
    clip = int(np.flatnonzero(renders.colour_orders != 0)[0])
    order = COLOUR_ORDERS[renders.colour_orders[clip]]
    batch, _ = renders.pair_batch(np.array([clip * (CFG.frames_per_clip - 1)]))
    plain, _ = replace(renders, colour_orders=np.zeros_like(renders.colour_orders)).pair_batch(np.array([clip * (CFG.frames_per_clip - 1)]))
    # The rest channels (3..5) of a reordered clip are the plain rest channels in the clip's order.
    assert np.array_equal(batch.frames[0, 3:], plain.frames[0, 3:][order])


def test_h264_round_trip_keeps_odd_sizes_and_picture():
    frames = np.stack([np.full((33, 47, 3), 40 * i, np.uint8) for i in range(4)])
    out = h264_round_trip(frames, crf=18)
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - frames).mean() < 3


def test_shard_round_trip_and_bad_files(tmp_path: Path, library, backgrounds):
    renders = render_split({"xbox-01": library.skins["xbox-01"]}, 2, backgrounds, CFG, seed=0, split="x")
    loaded = load_shard(save_shard(renders, tmp_path / "r.npz"))
    assert isinstance(loaded, RenderSet) and np.array_equal(loaded.crops, renders.crops) and loaded.skin_ids == renders.skin_ids
    for got, want in zip(loaded.pair_batch(np.arange(4))[0], renders.pair_batch(np.arange(4))[0]):
        assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="render shard not found"):
        load_shard(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz: not a render shard"):
        load_shard(tmp_path / "bad.npz")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="frames_per_clip"):
        SynthConfig(frames_per_clip=1)
    with pytest.raises(ValueError, match="opacity"):
        SynthConfig(opacity=(0.1, 1.0))
    with pytest.raises(ValueError, match="jpeg_share \\+ h264_share"):
        SynthConfig(jpeg_share=0.6, h264_share=0.6)

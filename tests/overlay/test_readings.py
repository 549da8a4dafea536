"""Reading a video's actions off its overlay: decoding in batches, chained parsing, button calibration, stick normalization."""

from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import OverlayParser, ParserConfig
from models.overlay_parser.cap_locator import locate_caps
from padflow.actions import AXIS_INDEX, BUTTON_INDEX
from padflow.overlay.crops import frame_crops, parser_batch, placement_transform, skin_view
from padflow.overlay.library import load_library
from padflow.overlay.readings import (
    LEFT_OUT,
    ParsedVideo,
    calibrate_buttons,
    decoded_crops,
    finish_actions,
    frame_confidence,
    normalize_sticks,
    parse_video,
    rest_reading,
    stick_columns,
)
from padflow.video import VideoError, iter_frames, write_mp4
from tasks.extract import ExtractConfig

TINY_PARSER = ParserConfig(crop_size=(64, 48), hidden_sizes=(8, 16, 24, 32), num_attention_heads=(1, 1, 1, 1), head_size=16, grid=5)


def tiny_parser(seed: int = 0) -> OverlayParser:
    """A real, untrained parser (random weights): chaining does not depend on its accuracy."""
    import torch

    torch.manual_seed(seed)
    return OverlayParser(TINY_PARSER).eval()


def test_decoded_crops_come_in_batches_of_every_frame(tmp_path: Path):
    skin = load_library().skins["xbox-01"]
    view = skin_view(skin, TINY_PARSER.crop_size, TINY_PARSER.stick_size)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(10)]
    video = tmp_path / "v.mp4"
    write_mp4(video, frames, 30.0)
    transform = placement_transform((40.0, 20.0, 120.0, 70.0), skin.size)
    batches = list(decoded_crops(video, transform, view, skin.size, 4, 1))
    assert [len(c) for c, _, _ in batches] == [4, 4, 2] and all(fps == 30.0 for _, _, fps in batches)
    expected = [frame_crops(f, transform, view, skin.size) for f in iter_frames(video)]
    np.testing.assert_array_equal(np.concatenate([c for c, _, _ in batches]), np.stack([e[0] for e in expected]))
    np.testing.assert_array_equal(np.concatenate([s for _, s, _ in batches]), np.stack([e[1] for e in expected]))
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(VideoError, match="junk.mp4"):
        list(decoded_crops(tmp_path / "junk.mp4", transform, view, skin.size, 4, 1))


def test_pairs_chain_across_batches():
    parser = tiny_parser()
    w, h = TINY_PARSER.crop_size
    s = TINY_PARSER.stick_size
    view = skin_view(load_library().skins["xbox-01"], TINY_PARSER.crop_size, s)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (11, h, w, 3), dtype=np.uint8)
    sticks = rng.integers(0, 256, (11, 2, s, s, 3), dtype=np.uint8)
    whole = parser.read(parser_batch(crops, sticks, view))
    batches = [(crops[i : i + 4], sticks[i : i + 4], 30.0) for i in range(0, len(crops), 4)]
    chained, conf, fps, logits, (cap_axes, cap_match, cap_certainty) = parse_video(parser, view, iter(batches), locate_caps)
    # Buttons agree exactly; sticks to float rounding (CPU kernels block a batch of 4 and of 11 differently).
    np.testing.assert_array_equal(chained[:, :17], whole.actions[:, :17])
    np.testing.assert_allclose(chained[:, 17:], whole.actions[:, 17:], atol=1e-5)
    np.testing.assert_allclose(conf[:, 0], whole.confidence, rtol=1e-4)
    for column, left_out in enumerate(LEFT_OUT):  # the confidence with each stick left out, for frame_confidence
        np.testing.assert_allclose(conf[:, column], whole.confidence_over(view.observed & ~stick_columns(left_out)), rtol=1e-4)
    np.testing.assert_allclose(logits, whole.button_logits, atol=1e-4)
    whole_caps = locate_caps(parser_batch(crops, sticks, view))
    np.testing.assert_allclose(cap_axes, whole_caps.axes, atol=1e-5)
    np.testing.assert_allclose(cap_match, whole_caps.match, atol=1e-5)
    np.testing.assert_allclose(cap_certainty, whole_caps.mass, atol=1e-5)
    assert fps == 30.0


def test_a_moving_axis_is_recentred_on_where_it_rests_and_scaled_by_the_99th_percentile():
    rng = np.random.default_rng(0)
    t = 300
    truth = np.where(rng.random(t) < 0.6, 0.0, rng.uniform(-1.0, 1.0, t))  # released 60 % of the time
    actions = np.zeros((t, 21), np.float32)
    # a skin on which the parser reads the released cap at 0.6 and full travel as +-0.35 around it
    actions[:, AXIS_INDEX["LEFT_X"]] = 0.6 + 0.35 * truth + rng.normal(0.0, 0.01, t)
    actions[:, AXIS_INDEX["LEFT_Y"]] = np.linspace(-0.4, 0.4, t)  # no place it rests: the middle of its readings
    out, scales, centres = normalize_sticks(actions, ExtractConfig(stick_min_range=0.2))
    assert centres["LEFT_X"] == pytest.approx(0.6, abs=0.01)
    left_x = out[:, AXIS_INDEX["LEFT_X"]]
    assert np.abs(left_x[truth == 0.0]).max() < 0.1  # released reads released, not 0.6 off
    assert scales["LEFT_X"] == pytest.approx(np.percentile(np.abs(actions[:, AXIS_INDEX["LEFT_X"]] - centres["LEFT_X"]), 99), abs=1e-5)
    assert np.abs(left_x).max() == 1.0 and 1.0 - ((left_x - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum() > 0.95
    assert centres["LEFT_Y"] == pytest.approx(0.0, abs=0.01) and np.abs(out[:, AXIS_INDEX["LEFT_Y"]]).max() == 1.0
    np.testing.assert_array_equal(out[:, :17], actions[:, :17])


def test_an_axis_that_never_moved_is_only_recentred():
    actions = np.zeros((200, 21), np.float32)
    jitter = np.random.default_rng(0).uniform(-0.01, 0.01, 200)
    actions[:, AXIS_INDEX["RIGHT_X"]] = jitter
    actions[:, AXIS_INDEX["RIGHT_Y"]] = 0.2 + jitter  # read 0.2 off centre at rest
    actions[:, AXIS_INDEX["LEFT_X"]] = -0.5 + jitter  # a resting cap over a background edge reads far off centre
    out, scales, centres = normalize_sticks(actions, ExtractConfig())
    # jitter is not blown up to full deflection; the rest reading becomes centre
    assert scales["RIGHT_X"] == scales["RIGHT_Y"] == scales["LEFT_X"] == 1.0
    assert centres["RIGHT_Y"] == pytest.approx(0.2, abs=0.01) and centres["LEFT_X"] == pytest.approx(-0.5, abs=0.01)
    for axis in ("RIGHT_X", "RIGHT_Y", "LEFT_X"):
        assert np.abs(out[:, AXIS_INDEX[axis]]).max() <= 0.02


def test_the_rest_reading_is_where_readings_pile_up_not_their_median():
    rng = np.random.default_rng(1)
    values = np.concatenate([-0.8 + rng.normal(0.0, 0.01, 400), rng.uniform(-0.7, 1.0, 600)])  # median far from -0.8
    assert rest_reading(values, 0.05) == pytest.approx(-0.8, abs=0.01)
    assert rest_reading(np.array([]), 0.05) == 0.0


def test_a_stick_held_at_the_rim_stays_deflected():
    actions = np.zeros((100, 21), np.float32)
    # held left at the rim, released to centre now and then
    actions[:, AXIS_INDEX["LEFT_X"]] = np.where(np.arange(100) % 10 == 0, 0.0, -0.93)
    actions[:, AXIS_INDEX["LEFT_Y"]] = 0.95  # pushed to the rim and never released
    out, scales, centres = normalize_sticks(actions, ExtractConfig())
    assert centres["LEFT_X"] == centres["LEFT_Y"] == 0.0
    assert np.all(out[actions[:, AXIS_INDEX["LEFT_X"]] < 0, AXIS_INDEX["LEFT_X"]] == -1.0)
    assert np.all(out[:, AXIS_INDEX["LEFT_Y"]] == 1.0)


def test_a_rest_look_read_half_pressed_is_released_and_real_presses_stay_even_below_the_parsers_threshold():
    t = 300
    rng = np.random.default_rng(0)
    logits = np.full((t, 17), -7.0, np.float32) + rng.normal(0, 0.5, (t, 17)).astype(np.float32)
    south, left, start = BUTTON_INDEX["SOUTH"], BUTTON_INDEX["DPAD_LEFT"], BUTTON_INDEX["START"]
    presses = rng.random(t) < 0.2
    logits[presses, south] = 5.0  # pressed a fifth of the time: rises 12 above rest
    logits[:, left] = rng.uniform(0.2, 3.3, t)  # a skin whose rest look the parser reads at p 0.55-0.96
    held = np.arange(t) >= 60
    logits[:, start] = np.where(held, 6.0, -6.0)  # held for the last 80 % of the video
    west = BUTTON_INDEX["WEST"]
    faint = rng.random(t) < 0.3
    logits[:, west] = np.where(faint, -2.0, -9.0)  # a low-contrast pressed look: the parser's p stays below 0.5
    actions = np.zeros((t, 21), np.float32)
    actions[:, :17] = logits > 0
    actions[:, 17] = np.linspace(-1, 1, t)
    out, rest, changed = calibrate_buttons(actions, logits, 3.0)
    assert not out[:, left].any()  # was read pressed in every frame
    np.testing.assert_array_equal(out[:, south], presses)
    np.testing.assert_array_equal(out[:, start], held)
    np.testing.assert_array_equal(out[:, west], faint)
    assert changed == {"DPAD_LEFT": t, "WEST": int(faint.sum())}
    assert rest["SOUTH"] == pytest.approx(logits[~presses, south].mean(), abs=1e-3)  # the released frames' level
    np.testing.assert_array_equal(out[:, 17:], actions[:, 17:])  # sticks untouched


def test_one_frame_read_far_below_the_rest_does_not_make_the_whole_video_a_press():
    # Seen on a corpus video (xbox-12 at opacity 0.55 over Pong): in one of 602 frames two buttons read ~5 logits
    # below their level in every other frame; that frame alone was the low group, and all 601 others read pressed.
    t = 602
    rng = np.random.default_rng(1)
    logits = np.full((t, 17), -3.0, np.float32) + rng.normal(0, 0.08, (t, 17)).astype(np.float32)
    down, up, south, shoulder = BUTTON_INDEX["DPAD_DOWN"], BUTTON_INDEX["DPAD_UP"], BUTTON_INDEX["SOUTH"], BUTTON_INDEX["LEFT_SHOULDER"]
    logits[450, down] = -7.7
    held = np.arange(t) % 100 >= 4  # released 4 frames in every 100: 26 released frames, a rest level
    logits[:, up] = np.where(held, 4.0, -6.0)
    nearly_always = np.arange(t) >= 5  # released only in the first 5 frames: no rest level, the parser reads it right
    logits[:, shoulder] = np.where(nearly_always, 3.0, -6.0)
    logits[450, south] = -8.0
    logits[rng.random(t) < 0.1, south] = 6.0  # a glitch does not hide real presses either
    actions = np.zeros((t, 21), np.float32)
    actions[:, :17] = logits > 0
    before, _, _ = calibrate_buttons(actions, logits, 3.0)
    assert before[:, down].sum() == t - 1  # the failure: every frame but the glitch read pressed
    out, rest, changed = calibrate_buttons(actions, logits, 3.0, min_rest_frames=10)
    assert not out[:, down].any() and rest["DPAD_DOWN"] is None  # no rest level: the parser's reading (released) stays
    np.testing.assert_array_equal(out[:, up], held)  # calibrated as before
    np.testing.assert_array_equal(out[:, shoulder], nearly_always)
    assert rest["LEFT_SHOULDER"] is None
    np.testing.assert_array_equal(out[:, south], logits[:, south] > 0)
    assert "DPAD_DOWN" not in changed


def test_a_faint_pad_over_a_moving_game_is_not_read_as_a_button_held_all_video():
    # Seen on corpus videos of both seeds (nintendo-10 over Crafter): LEFT_TRIGGER, never pressed, read pressed in
    # 462 of 533 frames; its logits (-9 to -3, the parser never near 0) split into two groups 3.25 apart.
    t = 500
    rng = np.random.default_rng(2)
    logits = np.full((t, 17), -8.0, np.float32) + rng.normal(0, 0.1, (t, 17)).astype(np.float32)
    trigger, west, south = BUTTON_INDEX["LEFT_TRIGGER"], BUTTON_INDEX["WEST"], BUTTON_INDEX["SOUTH"]
    lit = rng.random(t) < 0.9  # the game under the pad moves: most frames a little brighter
    logits[:, trigger] = np.where(lit, -4.1, -7.4)
    faint = rng.random(t) < 0.2  # a real low-contrast press the parser reads below 0.5
    logits[:, west] = np.where(faint, -2.0, -9.0)
    held = np.arange(t) >= 50  # a press held most of the video that the parser reads
    logits[:, south] = np.where(held, 5.0, -6.0)
    actions = np.zeros((t, 21), np.float32)
    actions[:, :17] = logits > 0
    before, _, _ = calibrate_buttons(actions, logits, 3.0, 10)
    assert before[:, trigger].mean() > 0.85  # the failure
    out, rest, changed = calibrate_buttons(actions, logits, 3.0, 10, max_added_share=0.4)
    assert not out[:, trigger].any() and rest["LEFT_TRIGGER"] is None  # the parser's reading (released) stays
    np.testing.assert_array_equal(out[:, west], faint)  # a faint press is still read
    np.testing.assert_array_equal(out[:, south], held)  # and a long hold the parser reads is not touched
    assert "LEFT_TRIGGER" not in changed


def test_a_stick_is_read_where_its_cap_is_found_only_where_the_cap_stands_out():
    cfg = ExtractConfig()
    n = 60
    pushed = np.arange(n) % 6 == 5  # both sticks pushed in every sixth frame
    raw = np.zeros((n, 21), np.float32)
    # the learned head misses the left push (reads rest) and reads the right one
    raw[pushed, AXIS_INDEX["RIGHT_Y"]] = 0.8
    logits = np.full((n, 17), -6.0, np.float32)
    axes = np.zeros((n, 4), np.float32)
    axes[pushed, 0] = 1.0  # the left cap found where it was pushed
    axes[:, 3] = np.random.default_rng(0).uniform(-1, 1, n)  # the right cap's place is noise
    match = np.stack([np.full(n, 0.9), np.full(n, cfg.cap_min_match - 0.2)], axis=1).astype(np.float32)
    axes[12:14, 0], match[12:14, 0] = -1.0, 0.2  # the left cap clicked, looking otherwise: not found there
    actions, decisions = finish_actions(raw, logits, cfg, (axes, match))
    np.testing.assert_allclose(actions[:, AXIS_INDEX["LEFT_X"]], pushed.astype(np.float32), atol=1e-6)  # the clicked frames as the head read them
    np.testing.assert_allclose(actions[:, AXIS_INDEX["RIGHT_Y"]], pushed.astype(np.float32), atol=1e-6)  # the head's reading, scaled
    assert decisions["sticks_read_by_cap"] == ["left"] and decisions["cap_match"] == {"left": 0.9, "right": round(cfg.cap_min_match - 0.2, 4)}
    without, _ = finish_actions(raw, logits, cfg)
    assert not without[:, AXIS_INDEX["LEFT_X"]].any()  # no caps given: the head's sticks alone


def test_a_frame_is_as_sure_of_a_stick_as_the_reader_that_read_it():
    cfg = ExtractConfig()
    n = 10
    # the learned head doubts the left stick: 0.1 over every drawn control, 0.9 with the left stick left out
    head = np.tile(np.array([0.1, 0.9, 0.1, 0.9], np.float32), (n, 1))
    match = np.tile(np.array([0.9, cfg.cap_min_match - 0.2], np.float32), (n, 1))  # the left cap stands out, the right does not
    match[3, 0] = 0.2  # the left cap clicked in frame 3, looking otherwise: the head reads it there
    certainty = np.full((n, 2), 0.8, np.float32)
    parsed = ParsedVideo(np.zeros((n, 21), np.float32), head, 30.0, np.zeros((n, 17), np.float32), (np.zeros((n, 4), np.float32), match, certainty))
    expected = np.full(n, 0.9 * 0.8, np.float32)
    expected[3] = 0.1
    np.testing.assert_allclose(frame_confidence(parsed, cfg), expected, rtol=1e-6)
    np.testing.assert_array_equal(frame_confidence(parsed._replace(caps=None), cfg), head[:, 0])  # no caps: the head's confidence


def test_a_stick_read_by_its_cap_and_held_most_of_the_video_is_not_taken_for_a_rest():
    cfg = ExtractConfig()
    n = 50
    released = np.arange(n) % 10 == 0  # held halfway right, released in every tenth frame
    raw = np.zeros((n, 21), np.float32)
    logits = np.full((n, 17), -6.0, np.float32)
    axes = np.zeros((n, 4), np.float32)
    axes[~released, 0] = 0.5  # the cap found halfway: a pile-up short of the rim, which the head's rules take for a rest
    match = np.full((n, 2), 0.95, np.float32)
    actions, decisions = finish_actions(raw, logits, cfg, (axes, match))
    assert decisions["stick_centre"]["LEFT_X"] == 0.0
    np.testing.assert_allclose(actions[:, AXIS_INDEX["LEFT_X"]], axes[:, 0], atol=1e-6)  # halfway, where the cap was: not stretched to the rim
    raw[:, AXIS_INDEX["LEFT_X"]] = axes[:, 0]  # the same readings from the learned head
    head, _ = finish_actions(raw, logits, cfg)
    assert head[~released, AXIS_INDEX["LEFT_X"]].max() == 0.0  # re-centred on the hold: read at rest

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import OverlayParser, ParserConfig, save_parser
from padflow.actions import AXIS_INDEX, BUTTON_INDEX, BUTTONS, noop
from padflow.overlay.crops import parser_batch, skin_view
from padflow.overlay.library import load_library
from padflow.overlay.render import Placement, draw_overlay
from padflow.tables import read_action_table, table_to_actions
from padflow.video import write_mp4
from tasks.corpus import fit_to_upload, record_gameplay
from tasks.extract import ExtractConfig, calibrate_buttons, normalize_sticks, parse_video, stage
from tasks.ingest import IngestConfig, ingest

FRAME_SIZE = (480, 270)
FRAMES = 36  # 1.2 s at 30 fps: just above ingest's minimum duration
TINY_PARSER = ParserConfig(crop_size=(64, 48), hidden_sizes=(8, 16, 24, 32), num_attention_heads=(1, 1, 1, 1), head_size=16, grid=5)


def tiny_parser(seed: int = 0) -> OverlayParser:
    """A real, untrained parser (random weights): extraction's plumbing does not depend on its accuracy."""
    import torch

    torch.manual_seed(seed)
    return OverlayParser(TINY_PARSER).eval()


@pytest.fixture(scope="module")
def game_frames() -> list[np.ndarray]:
    frames, _, _, _ = record_gameplay("crafter_collect_wood", "average", seed=5, seconds=FRAMES / 30, fps=30.0)
    return [fit_to_upload(f, *FRAME_SIZE)[0] for f in frames]


@pytest.fixture(scope="module")
def project(tmp_path_factory, game_frames) -> Path:
    """A project folder with three ingested videos (overlay, plain, overlay-then-damaged) and a tiny parser."""
    root = tmp_path_factory.mktemp("project")
    raw = root / "raw"
    skin = load_library().skins["xbox-01"]
    placement = Placement(anchor="bottom-right", width_frac=0.3, opacity=1.0)
    rng = np.random.default_rng(0)
    drawn = []
    for frame in game_frames:
        action = noop()
        action[:17] = rng.random(17) < 0.2
        drawn.append(draw_overlay(frame, skin, action, placement)[0])
    write_mp4(raw / "overlay.mp4", drawn, 30.0, crf=20)
    write_mp4(raw / "plain.mp4", game_frames, 30.0, crf=20)
    write_mp4(raw / "damaged.mp4", drawn[::-1], 30.0, crf=20)
    report = ingest(raw, root / "data" / "ingest", IngestConfig(min_duration_s=1.0))
    ids = {Path(r.path).stem: r.video_id for r in report.files}
    # Damage one normalized video after ingest (as a bad disk would): garbage in the middle of its frames.
    damaged = root / "data" / "ingest" / "videos" / f"{ids['damaged']}.mp4"
    data = bytearray(damaged.read_bytes())
    start, stop = len(data) // 3, 2 * len(data) // 3
    data[start:stop] = np.random.default_rng(1).integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    damaged.write_bytes(bytes(data))
    save_parser(tiny_parser(), root / "data" / "parser")
    (root / "ids.json").write_text(json.dumps(ids))
    return root


@pytest.mark.slow
def test_stage_extracts_records_and_survives_a_damaged_video(project):
    ids = json.loads((project / "ids.json").read_text())
    params = {"extract": {"workers": 2, "batch_size": 16, "localize": {"frames": 8}}}
    result = stage(params, project)
    out = project / "data" / "extract"
    rows = {r["video_id"]: r for r in json.loads((out / "extract_report.json").read_text())["videos"]}
    assert rows[ids["overlay"]]["status"] == "extracted"
    assert rows[ids["plain"]]["status"] == "no_overlay" and rows[ids["plain"]]["reason"].startswith("no overlay")
    assert rows[ids["damaged"]]["status"] == "failed" and ids["damaged"] in rows[ids["damaged"]]["reason"]
    assert result.metrics["videos_extracted"] == 1 and result.metrics["videos_no_overlay"] == 1 and result.metrics["videos_failed"] == 1
    assert result.metrics["frames"] == FRAMES and result.metrics["frames_per_s"] > 0
    assert result.metrics["buttons_recalibrated"] >= 0

    table = read_action_table(out / f"{ids['overlay']}.parquet")
    assert table.num_rows == FRAMES and table.column("frame").to_pylist() == list(range(FRAMES))
    confidence = table.column("confidence").to_numpy()
    assert ((confidence >= 0) & (confidence <= 1)).all()
    actions = table_to_actions(table)
    assert np.abs(actions[:, 17:]).max() <= 1.0

    record = json.loads((out / f"{ids['overlay']}.json").read_text())
    loc = record["localization"]
    assert loc["found"] and loc["skin_id"] and len(loc["transform"]) == 2 and len(loc["box"]) == 4
    weights = (project / "data" / "parser" / "parser.safetensors").read_bytes()
    assert record["versions"]["parser_sha256"] == hashlib.sha256(weights).hexdigest()
    assert record["versions"]["action_schema"] == "padflow-action/1"
    assert record["source"]["path"] == "overlay.mp4" and record["frames"] == FRAMES
    assert set(record["stick_scale"]) == {"LEFT_X", "LEFT_Y", "RIGHT_X", "RIGHT_Y"}
    assert set(record["button_rest_logit"]) == set(BUTTONS) and set(record["button_frames_recalibrated"]) <= set(BUTTONS)

    plain = json.loads((out / f"{ids['plain']}.json").read_text())
    assert plain["localization"]["found"] is False
    assert not (out / f"{ids['plain']}.parquet").exists()
    assert not (out / f"{ids['damaged']}.parquet").exists()


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
    chained, conf, fps, logits = parse_video(parser, view, iter(batches))
    # Buttons agree exactly; sticks to float rounding (CPU kernels block a batch of 4 and of 11 differently).
    np.testing.assert_array_equal(chained[:, :17], whole.actions[:, :17])
    np.testing.assert_allclose(chained[:, 17:], whole.actions[:, 17:], atol=1e-5)
    np.testing.assert_allclose(conf, whole.confidence, rtol=1e-4)
    np.testing.assert_allclose(logits, whole.button_logits, atol=1e-4)
    assert fps == 30.0


def test_sticks_are_normalized_by_the_99th_percentile():
    actions = np.zeros((200, 21), np.float32)
    actions[:, AXIS_INDEX["LEFT_X"]] = [0.0] * 48 + [0.5] * 150 + [1.0, -1.0]  # two outliers
    actions[:, AXIS_INDEX["LEFT_Y"]] = np.linspace(-0.4, 0.4, 200)
    jitter = np.random.default_rng(0).uniform(-0.01, 0.01, 200)
    actions[:, AXIS_INDEX["RIGHT_X"]] = jitter  # never moved
    actions[:, AXIS_INDEX["RIGHT_Y"]] = 0.2 + jitter  # never moved, read 0.2 off centre at rest
    out, scales, centres = normalize_sticks(actions, ExtractConfig(stick_min_range=0.3))
    # sorted |LEFT_X|: 48 x 0, 150 x 0.5, then 1.0, 1.0; the 99th percentile sits 0.01 of the way from 0.5 to 1.0
    assert scales["LEFT_X"] == pytest.approx(0.505)
    assert out[100, AXIS_INDEX["LEFT_X"]] == pytest.approx(0.5 / 0.505)
    assert out[198, AXIS_INDEX["LEFT_X"]] == 1.0 and out[199, AXIS_INDEX["LEFT_X"]] == -1.0  # clipped
    assert scales["LEFT_Y"] == pytest.approx(np.percentile(np.abs(np.linspace(-0.4, 0.4, 200)), 99))
    assert np.abs(out[:, AXIS_INDEX["LEFT_Y"]]).max() == 1.0
    assert centres["LEFT_X"] == centres["LEFT_Y"] == 0.0  # moving axes are only scaled
    # an axis that never moved is not blown up to full deflection; its rest reading becomes centre
    assert scales["RIGHT_X"] == 1.0 and scales["RIGHT_Y"] == 1.0
    assert centres["RIGHT_Y"] == pytest.approx(0.2 + np.median(jitter), abs=1e-6)
    assert np.abs(out[:, AXIS_INDEX["RIGHT_X"]]).max() <= 0.02 and np.abs(out[:, AXIS_INDEX["RIGHT_Y"]]).max() <= 0.02
    np.testing.assert_array_equal(out[:, :17], actions[:, :17])


def test_a_stick_held_over_the_whole_video_stays_deflected():
    actions = np.zeros((100, 21), np.float32)
    # held left throughout but released now and then, read at -0.45 (small overlays under-read full deflection)
    actions[:, AXIS_INDEX["LEFT_X"]] = np.where(np.arange(100) % 25 == 0, -0.2, -0.45)
    actions[:, AXIS_INDEX["LEFT_Y"]] = 0.95  # pushed to the rim and never released
    out, scales, centres = normalize_sticks(actions, ExtractConfig())
    assert centres["LEFT_X"] == centres["LEFT_Y"] == 0.0
    assert np.all(out[actions[:, AXIS_INDEX["LEFT_X"]] == -0.45, AXIS_INDEX["LEFT_X"]] == -1.0)
    assert np.all(out[:, AXIS_INDEX["LEFT_Y"]] == 1.0)


def test_a_resting_stick_read_far_off_centre_but_still_is_centred():
    # a resting cap over a background edge reads 0.6 off centre, unchanged all video
    actions = np.zeros((100, 21), np.float32)
    actions[:, AXIS_INDEX["RIGHT_X"]] = -0.59 + np.random.default_rng(0).uniform(-0.01, 0.01, 100)
    out, scales, centres = normalize_sticks(actions, ExtractConfig())
    assert scales["RIGHT_X"] == 1.0
    assert np.abs(out[:, AXIS_INDEX["RIGHT_X"]]).max() <= 0.02


def test_a_rest_look_read_half_pressed_is_released_and_real_presses_stay():
    t = 300
    rng = np.random.default_rng(0)
    logits = np.full((t, 17), -7.0, np.float32) + rng.normal(0, 0.5, (t, 17)).astype(np.float32)
    south, left, start = BUTTON_INDEX["SOUTH"], BUTTON_INDEX["DPAD_LEFT"], BUTTON_INDEX["START"]
    presses = rng.random(t) < 0.2
    logits[presses, south] = 5.0  # pressed a fifth of the time: rises 12 above rest
    logits[:, left] = rng.uniform(0.2, 3.3, t)  # a skin whose rest look the parser reads at p 0.55-0.96
    held = np.arange(t) >= 60
    logits[:, start] = np.where(held, 6.0, -6.0)  # held for the last 80 % of the video
    actions = np.zeros((t, 21), np.float32)
    actions[:, :17] = logits > 0
    actions[:, 17] = np.linspace(-1, 1, t)
    out, rest, changed = calibrate_buttons(actions, logits, 0.1, 4.0)
    assert not out[:, left].any()  # was read pressed in every frame
    np.testing.assert_array_equal(out[:, south], presses)
    np.testing.assert_array_equal(out[:, start], held)
    assert changed == {"DPAD_LEFT": t}
    assert rest["SOUTH"] == pytest.approx(np.quantile(logits[:, south], 0.1), abs=1e-3)
    np.testing.assert_array_equal(out[:, 17:], actions[:, 17:])  # sticks untouched


def test_missing_parser_or_ingest_report_is_named(tmp_path):
    with pytest.raises(ValueError, match="ingest_report.json"):
        stage({}, tmp_path)
    (tmp_path / "data" / "ingest").mkdir(parents=True)
    (tmp_path / "data" / "ingest" / "ingest_report.json").write_text(json.dumps({"files": []}))
    with pytest.raises(ValueError, match="parser.safetensors"):
        stage({}, tmp_path)


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("workers", 0), ("stick_percentile", 20.0), ("stick_min_range", 0.0), ("stick_rest_offset", 1.0), ("stick_still_range", 0.6), ("stick_rim", 0.2), ("button_rest_quantile", 0.5), ("button_min_rise", -1.0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        ExtractConfig(**{field: value})

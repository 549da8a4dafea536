import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import OverlayParser, ParserConfig, save_parser
from padflow.actions import BUTTONS, noop
from padflow.ingest import IngestConfig, ingest
from padflow.overlay.library import load_library
from padflow.overlay.render import Placement, draw_overlay
from padflow.players.footage import fit_to_upload, record_gameplay
from padflow.tables import read_action_table, table_to_actions
from padflow.video import write_mp4
from tasks.extract import ExtractConfig, stage

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

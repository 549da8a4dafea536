import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import OverlayParser, ParserConfig, save_parser
from padflow.actions import BUTTON_INDEX, BUTTONS, N_BUTTONS, noop
from padflow.ingest import IngestConfig, ingest
from padflow.overlay.library import load_library
from padflow.overlay.render import Placement, draw_overlay
from padflow.players.footage import fit_to_upload, record_gameplay
from padflow.tables import read_action_table, table_observed, table_to_actions, unobserved_names
from padflow.video import write_mp4
from tasks.extract import ExtractConfig, ExtractJob, extract_video, stage

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


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("workers", 0), ("stick_percentile", 20.0), ("stick_min_range", 0.0), ("stick_rest_bandwidth", 0.0), ("stick_rim", 0.0), ("button_min_rise", -1.0), ("reader", "pixels")])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        ExtractConfig(**{field: value})


def test_a_truncated_parser_fails_before_any_video_and_keeps_the_previous_tables(tmp_path):
    ingest_dir, extract_dir = tmp_path / "data" / "ingest", tmp_path / "data" / "extract"
    ingest_dir.mkdir(parents=True)
    row = {"status": "accepted", "video_id": "v1", "output": "videos/v1.mp4", "path": "v1.mp4"}
    (ingest_dir / "ingest_report.json").write_text(json.dumps({"files": [row]}))
    save_parser(tiny_parser(), tmp_path / "data" / "parser")
    weights = tmp_path / "data" / "parser" / "parser.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a copy cut short
    extract_dir.mkdir(parents=True)
    (extract_dir / "v0.parquet").write_bytes(b"the previous run's table")
    with pytest.raises(ValueError, match="parser.safetensors"):
        stage({}, tmp_path)
    assert (extract_dir / "v0.parquet").read_bytes() == b"the previous run's table"
    assert sorted(p.name for p in extract_dir.parent.iterdir()) == ["extract", "ingest", "parser"]  # no temp folder left


@pytest.mark.slow
def test_controls_a_skin_omits_are_unobserved_from_table_through_gate_to_the_training_mask(tmp_path, make_sprite_skin):
    """A sprite skin without START, BACK, GUIDE, RIGHT_SHOULDER, LEFT_TRIGGER or a clickable right stick:
    extraction marks those unobserved, the gate accepts the table and indexes its mask, and the policy's
    loss gives them no gradient."""
    import torch

    from models.policy.data import ChunkDataset, chunk_actions
    from padflow.actions import ACTION_NAMES
    from padflow.overlay.library import load_any_skin
    from padflow.tables import chunk_observed, read_chunk_index, table_unobserved
    from tasks.gate import stage as gate_stage
    from models.policy import FlowMatchingPolicy, PolicyConfig

    skin = load_any_skin(make_sprite_skin(tmp_path / "skins"))
    omitted = tuple(name for name in ACTION_NAMES if name not in skin.observed)
    assert omitted == ("RIGHT_SHOULDER", "LEFT_TRIGGER", "RIGHT_THUMB", "START", "BACK", "GUIDE")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0 : FRAME_SIZE[1], 0 : FRAME_SIZE[0]]
    frames = []
    for i in range(32):  # a moving gradient behind the overlay (the gate drops still pictures)
        game = np.stack([(xx + 3 * i) % 256, (2 * yy + i) % 256, ((xx + yy) // 2) % 256], -1).astype(np.uint8)
        action = noop()
        action[:17] = rng.random(17) < 0.5
        frames.append(draw_overlay(game, skin, action, Placement(anchor="bottom-right", width_frac=0.3, opacity=1.0))[0])
    write_mp4(tmp_path / "raw" / "pad.mp4", frames, 30.0, crf=20)
    ingest(tmp_path / "raw", tmp_path / "data" / "ingest", IngestConfig(min_duration_s=1.0))
    save_parser(tiny_parser(), tmp_path / "data" / "parser")
    stage({"extract": {"workers": 1, "batch_size": 16, "localize": {"frames": 8}}, "overlay": {"skin_dirs": ["skins"]}}, tmp_path)

    table_path = next((tmp_path / "data" / "extract").glob("*.parquet"))
    assert table_unobserved(read_action_table(table_path)) == omitted
    assert json.loads(table_path.with_suffix(".json").read_text())["unobserved"] == list(omitted)
    # An untrained parser reads noise: the gate's confidence, hold and density bars are opened so the table passes on its mask.
    gate = {"min_confidence": 0.0, "max_button_hold_s": 60.0, "min_action_density": 0.0, "static_threshold": 0.0, "min_kept_share": 0.0}
    gate_stage({"gate": gate}, tmp_path)
    index = read_chunk_index(tmp_path / "data" / "gate" / "chunks.parquet")
    observed = chunk_observed(index)
    assert len(index) == 2 and (observed == np.array([n not in omitted for n in ACTION_NAMES])).all()

    chunks = ChunkDataset([np.zeros((1, 32, 32, 3), np.uint8)], np.zeros((len(index), 2), np.int64), chunk_actions(index, tmp_path, 16), observed)
    batch = next(iter(torch.utils.data.DataLoader(chunks, batch_size=len(chunks))))
    torch.manual_seed(0)
    policy = FlowMatchingPolicy(PolicyConfig(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2, vision_mlp=64, mixer_blocks=1,
                                             mixer_width=32, mixer_heads=2, dit_blocks=1, dit_width=32, dit_heads=2, time_features=16))
    policy.loss({"frames": torch.zeros(len(chunks), 3, 32, 32), "actions": batch["actions"], "observed": batch["observed"]}).backward()
    unseen = [ACTION_NAMES.index(n) for n in omitted]
    assert (policy.action_decoder[-1].bias.grad[unseen] == 0).all() and (policy.action_decoder[-1].weight.grad[unseen] == 0).all()


def test_an_overlay_whose_skin_is_not_in_the_library_is_recorded_unknown_skin_with_no_table(tmp_path, game_frames):
    from PIL import Image

    from padflow.overlay.crops import box_iou
    from padflow.overlay.localize import LocalizeConfig, localize_overlay

    # A user's own skin, never added to the library: xbox-01 in other colours (channels rotated, in its picture and layout).
    builtin = load_library().skins["xbox-01"]
    skins = tmp_path / "skins"
    skins.mkdir()

    def rotated(value):
        if isinstance(value, dict):
            return {k: rotated(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rotated(v) for v in value]
        if isinstance(value, str) and value.startswith("#") and len(value) == 7:
            return "#" + value[3:5] + value[5:7] + value[1:3]
        return value

    (skins / "my-pad.json").write_text(json.dumps({**rotated(json.loads(builtin.layout_path.read_text())), "id": "my-pad"}))
    Image.fromarray(np.ascontiguousarray(builtin.rest[..., [1, 2, 0, 3]])).save(skins / "my-pad.png")
    skin = load_library([skins]).skins["my-pad"]
    drawn = [draw_overlay(f, skin, noop(), Placement(anchor="bottom-left", width_frac=0.3, opacity=1.0)) for f in game_frames]
    video = tmp_path / "my-pad.mp4"
    write_mp4(video, [d[0] for d in drawn], 30.0, crf=20)
    cfg = ExtractConfig(localize=LocalizeConfig(frames=8))
    out = tmp_path / "extract"
    out.mkdir()
    job = ExtractJob("v1", video, {"path": "my-pad.mp4"}, out, tmp_path / "no-parser", "", (), cfg)

    outcome = extract_video(job)
    assert outcome.status == "unknown_skin", outcome.reason
    assert box_iou(outcome.box, drawn[0][1]) >= 0.8 and outcome.reason.startswith("unknown skin")
    assert not (out / "v1.parquet").exists()  # nothing read with a look-alike's layout
    record = json.loads((out / "v1.json").read_text())["localization"]
    assert record["unknown_skin"] is True and record["skin_id"] is None and record["box"] == outcome.box
    # A manifest declaring the look-alike it was made from (ingest's `skin`) does not make the pixels agree.
    declared = extract_video(ExtractJob("v1", video, {"path": "my-pad.mp4", "skin": "xbox-01"}, out, tmp_path / "no-parser", "", (), cfg))
    assert declared.status == "unknown_skin" and "the declared skin xbox-01" in declared.reason
    typo = extract_video(ExtractJob("v1", video, {"path": "my-pad.mp4", "skin": "my-pda"}, out, tmp_path / "no-parser", "", (), cfg))
    assert typo.status == "failed" and "declared skin 'my-pda' is not in the skin library" in typo.reason
    # With its folder in the library, the same overlay is found as that skin.
    assert localize_overlay(video, load_library([skins]), cfg.localize).skin_id == "my-pad"


@pytest.mark.slow
def test_a_mixed_rate_corpus_is_labelled_at_each_source_rate_and_chunked_at_the_video_rate(tmp_path):
    """60 fps and 30 fps sources: a label row for every source frame (t = its presentation time); the
    gate validates each table at its own rate and cuts chunks at the normalized video's 30 fps, and
    training's chunk actions take every other row of the 60 fps table."""
    from models.policy.data import chunk_actions
    from padflow.tables import read_chunk_index
    from tasks.gate import stage as gate_stage

    skin = load_library().skins["xbox-01"]
    yy, xx = np.mgrid[0 : FRAME_SIZE[1], 0 : FRAME_SIZE[0]]
    rng = np.random.default_rng(0)
    sources = {"at60": (60.0, 72), "at30": (30.0, 36)}  # 1.2 s each
    for name, (fps, count) in sources.items():
        frames = []
        for i in range(count):  # a moving gradient behind the overlay (the gate drops still pictures)
            game = np.stack([(xx + 3 * i) % 256, (2 * yy + i) % 256, ((xx + yy) // 2) % 256], -1).astype(np.uint8)
            action = noop()
            action[:17] = rng.random(17) < 0.5
            frames.append(draw_overlay(game, skin, action, Placement(anchor="bottom-right", width_frac=0.3, opacity=1.0))[0])
        write_mp4(tmp_path / "raw" / f"{name}.mp4", frames, fps, crf=20)
    report = ingest(tmp_path / "raw", tmp_path / "data" / "ingest", IngestConfig(min_duration_s=1.0))
    ids = {Path(r.path).stem: r.video_id for r in report.files}
    save_parser(tiny_parser(), tmp_path / "data" / "parser")
    stage({"extract": {"workers": 1, "batch_size": 16, "localize": {"frames": 8}}}, tmp_path)

    out = tmp_path / "data" / "extract"
    tables = {}
    for name, (fps, count) in sources.items():
        table = read_action_table(out / f"{ids[name]}.parquet")
        assert abs(table.num_rows - count) <= 1, (name, table.num_rows)  # rows = source frames ± 1
        times = table.column("t").to_numpy()
        assert np.allclose(times, np.arange(table.num_rows) / fps), name  # each source frame's presentation time
        assert json.loads((out / f"{ids[name]}.json").read_text())["fps"] == fps
        tables[name] = table_to_actions(table)

    # An untrained parser reads noise: the gate's confidence, hold and density bars are opened so both tables pass.
    gate = {"min_confidence": 0.0, "max_button_hold_s": 60.0, "min_action_density": 0.0, "static_threshold": 0.0, "min_kept_share": 0.0}
    gate_stage({"gate": gate}, tmp_path)
    verdicts = {v["video_id"]: v for v in json.loads((tmp_path / "data" / "gate" / "gate_report.json").read_text())["videos"]}
    assert all(verdicts[ids[name]]["status"] == "accepted" for name in sources), verdicts
    index = read_chunk_index(tmp_path / "data" / "gate" / "chunks.parquet")
    assert (index["fps"] == 30.0).all() and (index["frames"] == 16).all()
    for name in sources:  # 36 normalized frames each: chunks at frames 0 and 16 of the 30 fps video
        assert sorted(index.loc[index["video_id"] == ids[name], "start_frame"]) == [0, 16], name
    assert abs(verdicts[ids["at60"]]["hours_in"] - verdicts[ids["at30"]]["hours_in"]) < 1e-9  # same 1.2 s, twice the rows

    actions = chunk_actions(index, tmp_path, 16)
    for i, row in enumerate(index.itertuples()):
        step = 2 if row.video_id == ids["at60"] else 1
        expected = tables["at60" if step == 2 else "at30"][step * row.start_frame : step * (row.start_frame + 16) : step]
        assert np.array_equal(actions[i], expected), (row.video_id, row.start_frame)


def test_reader_looks_reads_the_table_without_a_parser(tmp_path, game_frames):
    """`reader: looks` reads the found skin by drawing it: no parser is loaded, and the table holds what was shown."""
    from padflow.overlay.localize import LocalizeConfig

    skin = load_library().skins["xbox-01"]
    rng = np.random.default_rng(3)
    shown = np.zeros((len(game_frames), 21), np.float32)
    shown[:, :N_BUTTONS] = rng.random((len(game_frames), N_BUTTONS)) < 0.2
    shown[:, BUTTON_INDEX["DPAD_DOWN"]] *= 1 - shown[:, BUTTON_INDEX["DPAD_UP"]]
    shown[:, BUTTON_INDEX["DPAD_RIGHT"]] *= 1 - shown[:, BUTTON_INDEX["DPAD_LEFT"]]
    shown[:, N_BUTTONS:] = rng.uniform(-1, 1, (len(game_frames), 4))
    video = tmp_path / "pad.mp4"
    write_mp4(video, [draw_overlay(f, skin, a, Placement("bottom-right", 0.3, 0.9))[0] for f, a in zip(game_frames, shown)], 30.0, crf=20)
    out = tmp_path / "extract"
    out.mkdir()
    cfg = ExtractConfig(localize=LocalizeConfig(frames=8), reader="looks")
    outcome = extract_video(ExtractJob("v1", video, {"path": "pad.mp4"}, out, tmp_path / "no-parser", "", (), cfg))
    assert outcome.status == "extracted", outcome.reason
    assert json.loads((out / "v1.json").read_text())["reader"] == "looks"
    read = table_to_actions(read_action_table(out / "v1.parquet"))
    assert read.shape == shown.shape
    assert ((read[:, :N_BUTTONS] > 0.5) == (shown[:, :N_BUTTONS] > 0.5)).mean() >= 0.97
    assert np.corrcoef(read[:, N_BUTTONS], shown[:, N_BUTTONS])[0, 1] >= 0.95  # LEFT_X


def test_reader_auto_reads_a_sprite_skin_by_drawing_it_and_a_parametric_one_with_the_parser(tmp_path, game_frames, make_sprite_skin):
    """The default `reader: auto`: an imported (sprite) skin is read without the parser, which learned padflow's parametric drawing."""
    from padflow.overlay.localize import LocalizeConfig
    from tasks.extract import reader_for

    skins = tmp_path / "skins"
    make_sprite_skin(skins, "sprite-pad")
    library = load_library([skins])
    assert reader_for("auto", library.skins["sprite-pad"]) == "looks"
    assert reader_for("auto", library.skins["xbox-01"]) == "parser"
    assert reader_for("parser", library.skins["sprite-pad"]) == "parser"

    skin = library.skins["sprite-pad"]
    rng = np.random.default_rng(4)
    shown = np.zeros((len(game_frames), 21), np.float32)
    drawn = [BUTTON_INDEX[b] for b in ("SOUTH", "EAST", "WEST", "NORTH")]
    shown[:, drawn] = rng.random((len(game_frames), len(drawn))) < 0.3
    video = tmp_path / "pad.mp4"
    write_mp4(video, [draw_overlay(f, skin, a, Placement("bottom-left", 0.3, 0.9))[0] for f, a in zip(game_frames, shown)], 30.0, crf=20)
    out = tmp_path / "extract"
    out.mkdir()
    cfg = ExtractConfig(localize=LocalizeConfig(frames=8))
    assert cfg.reader == "auto"
    outcome = extract_video(ExtractJob("v1", video, {"path": "pad.mp4"}, out, tmp_path / "no-parser", "", (skins,), cfg))
    assert outcome.status == "extracted" and outcome.skin_id == "sprite-pad", outcome.reason
    assert outcome.reader == "looks" and json.loads((out / "v1.json").read_text())["reader"] == "looks"
    read = table_to_actions(read_action_table(out / "v1.parquet"))
    assert ((read[:, drawn] > 0.5) == (shown[:, drawn] > 0.5)).mean() >= 0.97


def test_a_control_the_video_cannot_show_is_unobserved_in_the_table(tmp_path, game_frames, make_faint_press_skin):
    """The look reader finds SOUTH's press drawn too faintly for any video to show: the table has no reading of it (masked in
    training) rather than "never pressed", and the record says why."""
    from padflow.overlay.localize import LocalizeConfig
    from tasks.extract import unobserved_controls

    skins = tmp_path / "skins"
    make_faint_press_skin(skins, "faint-south")
    skin = load_library([skins]).skins["faint-south"]
    shown = np.zeros((len(game_frames), 21), np.float32)
    shown[::3, BUTTON_INDEX["SOUTH"]] = 1.0
    shown[1::3, BUTTON_INDEX["EAST"]] = 1.0
    video = tmp_path / "pad.mp4"
    write_mp4(video, [draw_overlay(f, skin, a, Placement("bottom-left", 0.3, 0.9))[0] for f, a in zip(game_frames, shown)], 30.0, crf=20)
    out = tmp_path / "extract"
    out.mkdir()
    outcome = extract_video(ExtractJob("v1", video, {"path": "pad.mp4"}, out, tmp_path / "no-parser", "", (skins,), ExtractConfig(localize=LocalizeConfig(frames=8))))
    assert outcome.status == "extracted" and outcome.skin_id == "faint-south", outcome.reason
    record = json.loads((out / "v1.json").read_text())
    assert record["unseen"] == ["SOUTH"] and "SOUTH" in record["unobserved"] and "SOUTH" not in unobserved_controls(skin)
    assert set(unobserved_names(table_observed(read_action_table(out / "v1.parquet")))) == {*unobserved_controls(skin), "SOUTH"}

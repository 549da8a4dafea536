import json
from pathlib import Path

import numpy as np
import pytest

from padflow.actions import ACTION_DIM, AXIS_INDEX, BUTTON_INDEX
from padflow.overlay.scoring import reading_scores, score_extraction
from padflow.tables import write_action_table

FRAMES = 4


def actions(**columns: list[float]) -> np.ndarray:
    out = np.zeros((FRAMES, ACTION_DIM), np.float32)
    for name, values in columns.items():
        out[:, {**BUTTON_INDEX, **AXIS_INDEX}[name]] = values
    return out


def write_case(root: Path) -> None:
    """Four corpus videos: a (train skin, found, one button and one stick value wrong), b (held-out skin, found,
    one button wrong), c (no overlay, but extraction claims one), d (overlay, extraction failed)."""
    truth_dir, extract_dir, ingest = root / "truth", root / "extract", root / "ingest"
    truths = {
        "a": dict(skin="xbox-01", held_out=False, opacity=0.5, width=0.1, crf=22, lag=0, box=[0, 0, 100, 50]),
        "b": dict(skin="xbox-04", held_out=True, opacity=0.9, width=0.2, crf=28, lag=2, box=[10, 10, 110, 60]),
        "c": dict(skin=None, held_out=False, opacity=0.7, width=0.15, crf=25, lag=1, box=None),
        "d": dict(skin="xbox-02", held_out=False, opacity=0.85, width=0.25, crf=21, lag=1, box=[5, 5, 55, 30]),
    }
    shown = {
        "a": actions(SOUTH=[1, 1, 0, 0], LEFT_X=[0, 0.5, 1, -1], LEFT_Y=[1, 1, 1, 1]),
        "b": actions(EAST=[0, 0, 0, 0]),
        "c": actions(),
        "d": actions(NORTH=[1, 1, 1, 1]),
    }
    extracted = {
        "a": (actions(SOUTH=[1, 0, 0, 0], LEFT_X=[0, 0.5, 1, -0.5], LEFT_Y=[1, 1, 1, 1]), [0, 0, 100, 45], "xbox-01"),
        "b": (actions(EAST=[0, 0, 0, 1]), [10, 10, 110, 60], "xbox-09"),
        "c": (None, [200, 100, 260, 140], "generic-01"),
    }
    report_rows = []
    for name, t in truths.items():
        plan = {"name": name, "skin_id": t["skin"], "held_out": t["held_out"], "opacity": t["opacity"],
                "overlay_width": t["width"], "crf": t["crf"], "lag": t["lag"]}  # fmt: skip
        family = "xbox" if t["skin"] else None
        truth_dir.mkdir(parents=True, exist_ok=True)
        (truth_dir / f"{name}.json").write_text(json.dumps({"plan": plan, "overlay_box": t["box"], "family": family}))
        write_action_table(truth_dir / f"{name}.parquet", shown[name], 30.0)
        video_id = f"id-{name}"
        if name in extracted:
            table, box, skin = extracted[name]
            localization = {"found": True, "box": box, "skin_id": skin}
            status = "extracted" if table is not None else "no_overlay"
            if table is not None:
                write_action_table(extract_dir / f"{video_id}.parquet", table, 30.0)
        else:
            localization, status = {"found": False, "box": None, "skin_id": None}, "failed"
        extract_dir.mkdir(parents=True, exist_ok=True)
        if status != "failed":
            (extract_dir / f"{video_id}.json").write_text(json.dumps({"localization": localization}))
        report_rows.append({"video_id": video_id, "status": status, "reason": ""})
    (extract_dir / "extract_report.json").write_text(json.dumps({"videos": report_rows}))
    ingest.mkdir()
    files = [{"path": f"{n}.mp4", "status": "accepted", "video_id": f"id-{n}"} for n in truths]
    (ingest / "ingest_report.json").write_text(json.dumps({"files": files}))


def score(root: Path, split: str) -> dict:
    return score_extraction(root, root / "extract", root / "truth", split, root / "ingest")


def test_scores_a_hand_built_case(tmp_path):
    write_case(tmp_path)
    report = score(tmp_path, "all")
    assert report["overlay_videos"] == 3 and report["no_overlay_videos"] == 1
    assert report["localization_rate"] == pytest.approx(2 / 3, abs=1e-4)  # a (IoU 0.9) and b; d failed
    assert report["false_overlay_rate"] == 1.0  # c was given an overlay
    assert report["skin_id_accuracy"] == 0.5  # b's skin was taken for a look-alike
    assert report["action_coverage"] == pytest.approx(8 / 12, abs=1e-4)
    # 2 wrong button values in 8 frames x 17 buttons; frames 1 of a and 3 of b are not all-correct
    assert report["button_accuracy"] == pytest.approx(134 / 136, abs=1e-4)
    assert report["button_all_correct_rate"] == 0.75
    assert report["per_button"]["SOUTH"] == pytest.approx(7 / 8) and report["per_button"]["NORTH"] == 1.0
    # LEFT_X pooled over a and b: SS_tot 2.21875, SS_res 0.25; LEFT_Y: perfect; right stick never moves
    assert report["stick_r2_axes"] == {"LEFT_X": pytest.approx(0.8873, abs=1e-4), "LEFT_Y": 1.0, "RIGHT_X": None, "RIGHT_Y": None}
    assert report["stick_r2"] == pytest.approx((1 - 0.25 / 2.21875 + 1) / 2, abs=1e-4)
    assert report["by_opacity"]["0.40-0.60"]["videos"] == 1 and report["by_opacity"]["0.80-1.00"]["videos"] == 2
    assert report["by_lag"]["2"]["localization_rate"] == 1.0 and report["by_lag"]["1"]["localization_rate"] == 0.0
    assert report["by_crf"]["0-23"]["videos"] == 2 and report["by_crf"]["27-51"]["videos"] == 1
    assert report["per_family"]["xbox"]["videos"] == 3


def test_heldout_split_keeps_only_held_out_skins(tmp_path):
    write_case(tmp_path)
    report = score(tmp_path, "heldout")
    assert report["overlay_videos"] == 1
    assert report["localization_rate"] == 1.0
    assert report["button_accuracy"] == pytest.approx(67 / 68, abs=1e-4)
    assert report["stick_r2"] is None  # no stick moves in b: R² is undefined, not 1 or 0
    assert report["false_overlay_rate"] == 1.0  # computed on every no-overlay video


def test_unobserved_controls_are_not_scored_as_misses_and_are_reported(tmp_path):
    write_case(tmp_path)
    # b's skin does not draw EAST (the button extraction got wrong) nor the right stick
    write_action_table(tmp_path / "extract" / "id-b.parquet", actions(EAST=[0, 0, 0, 1]), 30.0, unobserved=["EAST", "RIGHT_X", "RIGHT_Y"])
    report = score(tmp_path, "heldout")
    assert report["button_accuracy"] == 1.0 and report["button_all_correct_rate"] == 1.0  # 64 of 64 observed cells
    assert report["per_button"]["EAST"] is None and report["per_button"]["SOUTH"] == 1.0
    assert report["unobserved_frames"] == {"EAST": 4, "RIGHT_X": 4, "RIGHT_Y": 4}
    assert [v["unobserved"] for v in report["videos"] if v["name"] == "b"] == [["EAST", "RIGHT_X", "RIGHT_Y"]]
    everything = score(tmp_path, "all")  # a observes everything: its buttons are all scored, b's EAST is not
    assert everything["button_accuracy"] == pytest.approx(131 / 132, abs=1e-4) and everything["per_button"]["EAST"] == 1.0


def test_missing_inputs_are_named(tmp_path):
    write_case(tmp_path)
    (tmp_path / "extract" / "extract_report.json").unlink()
    with pytest.raises(ValueError, match="extract_report.json"):
        score(tmp_path, "all")
    with pytest.raises(ValueError, match="split"):
        write_case(tmp_path / "again")
        score(tmp_path / "again", "test")


def test_cli_prints_the_headline_numbers_as_json(tmp_path, monkeypatch, capsys):
    import argparse

    from padflow.commands import score_extraction

    write_case(tmp_path)
    (tmp_path / "params.yaml").write_text("extract:\n  out_dir: extract\n  truth_dir: truth\n  ingest_dir: ingest\n")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "default.yaml").write_text("extract: {}\n")  # the default profile changes nothing
    monkeypatch.setenv("PADFLOW_ROOT", str(tmp_path))
    parser = argparse.ArgumentParser()
    score_extraction.register(parser.add_subparsers())
    args = parser.parse_args(["score-extraction", "--split", "heldout", "--json"])
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("button_accuracy", "stick_r2", "localization_rate", "false_overlay_rate", "by_opacity", "by_scale", "by_crf", "by_lag"):
        assert key in report
    assert report["split"] == "heldout" and report["localization_rate"] == 1.0


def test_reading_scores_count_only_the_controls_the_skin_draws():
    shown = np.zeros((4, ACTION_DIM), np.float32)
    shown[:2, BUTTON_INDEX["SOUTH"]] = 1
    shown[:, AXIS_INDEX["LEFT_X"]] = [-1, 0, 0.5, 1]
    read = shown.copy()
    read[0, BUTTON_INDEX["SOUTH"]] = 0  # one miss
    read[3, BUTTON_INDEX["EAST"]] = 1  # one false press
    read[:, BUTTON_INDEX["START"]] = 1  # START is not drawn: never scored
    read[:, AXIS_INDEX["LEFT_X"]] *= 0.5
    scores = reading_scores(read, shown, frozenset({"SOUTH", "EAST", "LEFT_X"}))
    assert scores["button_f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1), abs=1e-3)
    assert scores["button_accuracy"] == pytest.approx(6 / 8) and scores["nothing_pressed_accuracy"] == pytest.approx(6 / 8)
    y = shown[:, AXIS_INDEX["LEFT_X"]]
    assert scores["stick_r2"] == pytest.approx(1 - ((0.5 * y) ** 2).sum() / ((y - y.mean()) ** 2).sum(), abs=1e-3)
    assert reading_scores(read, shown, frozenset({"SOUTH"}))["stick_r2"] is None  # no stick drawn: no R²

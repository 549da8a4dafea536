import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import load_parser
from models.overlay_parser.asset import Fingerprint, read_asset
from padflow.config import from_mapping, load_params
from padflow.players.footage import collect_backgrounds
from tasks.parser_train import ASSET_COMMAND, ParserTrainConfig, build_asset, fingerprint_for, shipped_parser, split_skins, stage

REPO = Path(__file__).resolve().parents[2]


def test_config_checks_its_fields():
    with pytest.raises(ValueError, match="epochs"):
        ParserTrainConfig(epochs=0)
    with pytest.raises(ValueError, match="crop_size"):
        from models.overlay_parser import ParserConfig

        ParserTrainConfig(model=ParserConfig(crop_size=(64, 48)))


@pytest.mark.slow
def test_stage_runs_on_the_debug_profile_and_writes_weights_and_metrics(tmp_path: Path):
    params = load_params(REPO / "params.yaml", profile="debug")
    for folder in params["overlay"]["skin_dirs"]:  # the project's (empty) user skin folder
        (tmp_path / folder).mkdir(parents=True)
    result = stage(params, tmp_path)
    out = tmp_path / params["parser_train"]["out_dir"]
    model = load_parser(out)
    assert model.cfg == ParserTrainConfig().model  # debug trains the default architecture, briefly
    for split in ("train", "val_train_skins", "val_held_out", "val_held_out_styles"):
        assert (out / "renders" / f"{split}.npz").is_file()
    for name in ("val_held_out_button_frame_accuracy", "val_held_out_stick_r2", "val_train_skins_button_accuracy", "train_samples_per_s", "renders_per_s",
                 "val_held_out_styles_button_accuracy", "val_held_out_styles_stick_r2", "val_held_out_styles_style_button_frame_accuracy"):
        assert np.isfinite(result.metrics[name])
    assert (out / "report" / "confusion.png").stat().st_size > 1000 and (out / "report" / "loss.png").is_file()
    assert len(result.curves["train_loss"]) >= 1 and len(result.curves["val_held_out_stick_r2"]) == 1
    json.dumps(dict(result.metrics))  # what the stage shell writes to metrics/parser_train.json
    card = (out / "README.md").read_text()  # the model card, beside the weights
    assert "held-out skins" in card and "| val_held_out_button_frame_accuracy |" in card
    [export] = result.models  # what the stage shell registers as padflow-overlay-parser
    assert export.folder == out and export.score == ("val_held_out_button_frame_accuracy",
                                                     result.metrics["val_held_out_button_frame_accuracy"])

    # Trained through Lightning as the policy is: a rerun with the same config and renders resumes
    # from checkpoints/last.ckpt (here: already at the end, so nothing is retrained).
    assert (out / "checkpoints" / "last.ckpt").is_file() and result.metrics["resumed_from_step"] == 0
    again = stage(params, tmp_path)
    assert again.metrics["resumed_from_step"] == len(result.curves["train_loss"])
    assert again.metrics["val_held_out_stick_r2"] == result.metrics["val_held_out_stick_r2"]


def tiny_params(root: Path, **parser_train) -> dict:
    """The debug profile, smaller still: a few renders of the library and a step or two of training (seconds)."""
    params = load_params(REPO / "params.yaml", profile="debug")
    for folder in params["overlay"]["skin_dirs"]:
        (root / folder).mkdir(parents=True, exist_ok=True)
    section = {**params["parser_train"], "train_samples": 16, "val_samples": 8, "curve_samples": 8, "batch_size": 8,
               "style_skins": 0, "style_held_out_skins": 0, "background_frames": 4, "asset": "assets/parser", **parser_train}
    return {**params, "parser_train": section}


@pytest.fixture(scope="module")
def tiny_asset(tmp_path_factory) -> tuple[Path, dict]:
    """A project folder holding a parser asset built by build_asset (what `padflow parser-asset` runs) at tiny_params, and its metrics."""
    root = tmp_path_factory.mktemp("project")
    metrics, fp = build_asset(tiny_params(root), root, root / "assets" / "parser", "uv run padflow parser-asset --tiny")
    assert read_asset(root / "assets" / "parser").fingerprint == fp
    assert not list((root / "assets").glob(".parser.build-*"))  # the training folder is gone
    return root, metrics


@pytest.mark.slow
def test_a_matching_shipped_parser_is_used_without_training_and_still_scored(tiny_asset, capsys):
    root, built = tiny_asset
    result = stage(tiny_params(root), root)
    out = root / "data" / "parser"
    assert result.metrics["parser_from_asset"] == 1 and result.params["parser_source"] == "asset"
    assert "parser_train: " not in capsys.readouterr().err  # nothing to explain: no training
    assert (out / "parser.safetensors").read_bytes() == (root / "assets" / "parser" / "parser.safetensors").read_bytes()
    assert not (out / "checkpoints").exists() and not (out / "renders" / "train.npz").exists()
    # The same figures as after training, the validation ones measured again on fresh renders of the same sets.
    assert set(result.metrics) == set(built) - {"parser_train_wall_s"} and built["parser_from_asset"] == 0
    for name in ("val_held_out_button_frame_accuracy", "val_held_out_stick_r2", "val_train_skins_button_accuracy"):
        assert result.metrics[name] == built[name]
    assert len(result.curves["train_loss"]) >= 1
    card = (out / "README.md").read_text()
    assert "from the shipped asset assets/parser" in card and "rebuild: uv run padflow parser-asset --tiny" in card


@pytest.mark.slow
def test_a_shipped_parser_of_another_config_or_renderer_is_not_used_and_the_stage_says_why(tiny_asset, capsys):
    root, _ = tiny_asset
    result = stage(tiny_params(root, lr=0.001), root)
    said = capsys.readouterr().err
    assert result.metrics["parser_from_asset"] == 0 and result.metrics["resumed_from_step"] == 0
    assert "trained from another config " in said and "rebuild it with uv run padflow parser-asset --tiny" in said

    tampered = shutil.copytree(root / "assets" / "parser", root / "assets" / "drawn_otherwise")  # as if the renderer drew other pixels then
    record = json.loads((tampered / "asset.json").read_text())
    record["fingerprint_parts"]["renderer"] = "0" * 16
    record["fingerprint"] = Fingerprint(record["fingerprint_parts"]).digest
    (tampered / "asset.json").write_text(json.dumps(record))
    params = tiny_params(root, asset="assets/drawn_otherwise")
    cfg = from_mapping(ParserTrainConfig, params["parser_train"], "parser_train")
    skins, _ = split_skins(cfg, root, tuple(params["overlay"]["skin_dirs"]))
    backgrounds = collect_backgrounds(cfg.background_tasks, cfg.background_frames, cfg.background_stride, params["seed"])
    assert shipped_parser(cfg, params["seed"], root, tuple(params["overlay"]["skin_dirs"]), skins, backgrounds) is None
    assert "trained from another renderer " in capsys.readouterr().err


def test_the_shipped_parser_matches_the_default_profile():
    """The parser in assets/parser was trained from what the default profile trains from today; if not, the
    nightly run silently trains again (~10 CPU minutes): rebuild the asset and commit it."""
    params = load_params(REPO / "params.yaml", profile="default", overrides={})
    shipped = read_asset(REPO / params["parser_train"]["asset"])
    assert shipped is not None, f"no shipped parser in {params['parser_train']['asset']}: build it with {ASSET_COMMAND}"
    now = fingerprint_for(params, REPO)
    assert not now.differs(shipped.fingerprint), (
        f"assets/parser was trained from another {' / '.join(now.differs(shipped.fingerprint))} than the default profile "
        f"now has: rebuild with {shipped.command} (~20 CPU minutes) and commit assets/parser")

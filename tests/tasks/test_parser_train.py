import json
from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import load_parser
from padflow.config import load_params
from tasks.parser_train import ParserTrainConfig, stage

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

"""`padflow skins adapt`: a user's skin of overlay.skin_dirs adapted from params' parser; bad input named."""

import argparse
import json
from pathlib import Path

import pytest
import torch

from models.overlay_parser import OverlayParser, ParserConfig, load_parser, save_parser
from padflow.commands import skins
from padflow.overlay.library import BUILTIN_SKIN_DIR

TINY = ParserConfig(crop_size=(64, 48), hidden_sizes=(8, 16, 24, 32), num_attention_heads=(1, 1, 1, 1), head_size=16, grid=5)
PARAMS = f"""seed: 0
overlay:
  skin_dirs: [skins]
extract:
  parser_dir: data/parser
parser_train:
  background_tasks: [pong_score_point]
  background_frames: 4
  render_workers: 1
  model: {json.dumps({"crop_size": list(TINY.crop_size), "hidden_sizes": list(TINY.hidden_sizes), "num_attention_heads": [1, 1, 1, 1], "head_size": 16, "grid": 5})}
  synth: {{crop_size: [64, 48], frames_per_clip: 3}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A project with params, a trained (tiny) parser at extract.parser_dir and a user skin `my-pad` in skins/."""
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "default.yaml").write_text("overlay: {}\nextract: {}\nparser_train: {}\n")
    (tmp_path / "skins").mkdir()
    layout = json.loads((BUILTIN_SKIN_DIR / "nintendo-05.json").read_text())
    (tmp_path / "skins" / "my-pad.json").write_text(json.dumps({**layout, "id": "my-pad"}))
    (tmp_path / "skins" / "my-pad.png").write_bytes((BUILTIN_SKIN_DIR / "nintendo-05.png").read_bytes())
    torch.manual_seed(0)
    save_parser(OverlayParser(TINY), tmp_path / "data" / "parser")
    monkeypatch.setenv("PADFLOW_ROOT", str(tmp_path))
    return tmp_path


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    skins.register(parser.add_subparsers())
    args = parser.parse_args(["skins", "adapt", *argv])
    return args.func(args)


def test_adapts_a_user_skin_into_its_own_folder_and_says_how_to_use_it(project: Path, capsys):
    assert cli("my-pad", "--steps", "2", "--samples", "64", "--eval-samples", "16", "--json") == 0
    printed = json.loads(capsys.readouterr().out)
    out = project / "data" / "parser_adapted" / "my-pad"
    assert printed["out_dir"] == str(out) and printed["skin"] == "my-pad" and printed["steps"] == 2
    assert load_parser(out).cfg == TINY and (out / "README.md").is_file()
    assert cli("my-pad", "--steps", "1", "--samples", "32", "--eval-samples", "16", "--out", str(project / "again")) == 0
    shown = capsys.readouterr()
    assert "before" in shown.out and "after" in shown.out and "set extract.parser_dir: again" in shown.err


def test_refuses_an_unknown_skin_and_a_missing_parser(project: Path):
    with pytest.raises(ValueError, match=r"skin 'my-pda'.*nearest: my-pad"):
        cli("my-pda")
    with pytest.raises(ValueError, match=r"elsewhere: parser folder not found"):
        cli("my-pad", "--parser", str(project / "elsewhere"))
    with pytest.raises(ValueError, match=r"skins adapt.steps"):
        cli("my-pad", "--steps", "0")

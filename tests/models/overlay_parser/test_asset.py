"""The shipped parser's record: what its fingerprint notices and what it ignores, and the asset folder round trip."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models.overlay_parser import OverlayParser, ParserConfig, save_parser
from models.overlay_parser.asset import (
    CODE_FILES,
    MODELS_DIR,
    Fingerprint,
    code_part,
    config_part,
    digest_skins,
    install_weights,
    read_asset,
    renderer_part,
    skins_part,
    write_asset,
)
from padflow.overlay.library import BUILTIN_SKIN_DIR, load_library
from padflow.overlay.synth import SynthConfig

TINY = ParserConfig(crop_size=(64, 48), hidden_sizes=(8, 16, 32, 48), depths=(1, 1, 1, 1), num_attention_heads=(1, 1, 2, 2), head_size=32)


def test_config_part_follows_the_training_config_and_seed():
    record = {"lr": 0.002, "epochs": 6, "model": {"pretrained": None}}
    assert config_part(record, 0) == config_part(dict(record), 0)
    assert config_part({**record, "lr": 0.001}, 0) != config_part(record, 0)
    assert config_part(record, 1) != config_part(record, 0)


def test_skins_part_follows_skin_files_and_splits_but_not_notes(tmp_path: Path):
    folder = tmp_path / "skins"
    folder.mkdir()
    for name in ("nintendo-05.json", "nintendo-05.png"):
        shutil.copy(BUILTIN_SKIN_DIR / name, folder / name)
    splits = {"train": ["nintendo-05"], "val_held_out": ["xbox-04"]}
    before = skins_part({"skins": folder}, splits)
    (folder / "README.md").write_text("how to add a skin")
    assert skins_part({"skins": folder}, splits) == before  # a note draws nothing
    assert skins_part({"skins": folder}, {"train": [], "val_held_out": ["xbox-04", "nintendo-05"]}) != before  # moved to held out
    (folder / "nintendo-05.png").write_bytes((BUILTIN_SKIN_DIR / "xbox-01.png").read_bytes())
    assert skins_part({"skins": folder}, splits) != before  # the skin looks different


def test_code_part_follows_the_parser_training_code_not_its_comments(tmp_path: Path):
    copy = tmp_path / "models"
    for name in CODE_FILES:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(MODELS_DIR / name, copy / name)
    assert code_part(copy) == code_part()
    training = copy / "overlay_parser" / "training.py"
    source = training.read_text()
    training.write_text("# a comment changes no weight\n\n" + source.replace("\n\n\ndef ", "\n\n\n\ndef ", 1) + "\n# edited\n")
    assert code_part(copy) == code_part()
    training.write_text(source + "\nEDITED = 1\n")
    assert code_part(copy) != code_part()


def test_renderer_part_is_a_behavioural_digest_of_one_skin_per_kind_and_family():
    library = load_library()
    splits = {"train": {i: library.skins[i] for i in ("nintendo-01", "nintendo-05", "xbox-01")},
              "val_held_out": {"xbox-04": library.skins["xbox-04"]}}
    assert sorted(digest_skins(splits)) == ["nintendo-01", "xbox-01", "xbox-04"]
    backgrounds = [np.random.default_rng(0).integers(0, 255, (3, 120, 160, 3), dtype=np.uint8)]
    synth = SynthConfig()
    digest = renderer_part(splits, backgrounds, synth, seed=0)
    assert renderer_part(splits, backgrounds, synth, seed=0) == digest  # the same code draws the same pixels
    assert renderer_part(splits, backgrounds, replace(synth, opacity=(0.9, 1.0)), seed=0) != digest


def test_an_asset_folder_round_trips_and_installs_its_weights(tmp_path: Path):
    trained = tmp_path / "trained"
    save_parser(OverlayParser(TINY), trained)
    (trained / "README.md").write_text("# padflow overlay parser\n")
    fp = Fingerprint({"config": "a", "skins": "b", "backgrounds": "c", "renderer": "d", "code": "e"})
    folder = write_asset(tmp_path / "assets" / "parser", trained, fp, "uv run padflow parser-asset",
                         {"val_held_out_stick_r2": 0.9}, {"train_loss": [2.0, 1.0]}, "default")
    asset = read_asset(folder)
    assert asset.fingerprint == fp and asset.metrics == {"val_held_out_stick_r2": 0.9} and asset.curves == {"train_loss": [2.0, 1.0]}
    assert "Rebuild: `uv run padflow parser-asset`" in (folder / "README.md").read_text()
    assert fp.differs(Fingerprint({**fp.parts, "renderer": "x", "code": "y"})) == ["renderer", "code"]
    install_weights(asset, tmp_path / "out")
    assert (tmp_path / "out" / "parser.safetensors").read_bytes() == (trained / "parser.safetensors").read_bytes()
    assert read_asset(tmp_path / "nothing") is None


def test_a_tampered_or_incomplete_asset_is_refused_by_name(tmp_path: Path):
    trained = tmp_path / "trained"
    save_parser(OverlayParser(TINY), trained)
    (trained / "README.md").write_text("# card\n")
    fp = Fingerprint({"config": "a", "skins": "b", "backgrounds": "c", "renderer": "d", "code": "e"})
    folder = write_asset(tmp_path / "parser", trained, fp, "uv run padflow parser-asset", {}, {}, "default")
    record = json.loads((folder / "asset.json").read_text())
    (folder / "asset.json").write_text(json.dumps({**record, "fingerprint_parts": {**record["fingerprint_parts"], "code": "z"}}))
    with pytest.raises(ValueError, match="asset.json: fingerprint .* is not the digest of its parts"):
        read_asset(folder)
    (folder / "asset.json").write_text(json.dumps(record))
    (folder / "parser.safetensors").unlink()
    with pytest.raises(ValueError, match="without parser.safetensors; rebuild it: uv run padflow parser-asset"):
        read_asset(folder)

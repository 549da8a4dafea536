"""The skin library: size, families, held-out set, user folders, malformed layouts, CLI."""

from __future__ import annotations

import argparse
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from padflow.commands import templates
from padflow.overlay.library import (
    FAMILIES,
    HELD_OUT_SKINS,
    builtin_skin_ids,
    list_skins,
    load_library,
)


@pytest.fixture(scope="module")
def library():
    return load_library()


def test_library_has_40_skins_over_4_families(library):
    assert len(library.skins) >= 40
    families = {s.family for s in library.skins.values()}
    assert set(FAMILIES) <= families and len(families) >= 4
    assert sorted(library.skins) == sorted(builtin_skin_ids())


def test_held_out_skins_cover_every_family_and_exist(library):
    assert len(HELD_OUT_SKINS) >= 8 and len(set(HELD_OUT_SKINS)) == len(HELD_OUT_SKINS)
    assert {library.skins[i].family for i in HELD_OUT_SKINS} == set(FAMILIES)
    assert set(library.held_out_ids()) == set(HELD_OUT_SKINS)
    assert not set(library.training_ids()) & set(HELD_OUT_SKINS)


def test_skins_are_distinct(library):
    """No two rest images are near-copies (mean absolute difference over the common area)."""
    rests = {i: s.rest.astype(np.int16) for i, s in library.skins.items()}
    for a, b in combinations(rests, 2):
        h = min(rests[a].shape[0], rests[b].shape[0])
        assert np.abs(rests[a][:h] - rests[b][:h]).mean() > 8, (a, b)


def test_user_folder_adds_skins(tmp_path, make_skin):
    make_skin(tmp_path, "my-pad")
    library = load_library([tmp_path])
    assert "my-pad" in library.skins and len(library.skins) == len(builtin_skin_ids()) + 1
    assert library.skins["my-pad"].family == "xbox"


def test_bad_user_skin_raises_or_is_skipped_and_reported(tmp_path, make_skin):
    make_skin(tmp_path, "good-pad")
    bad = make_skin(tmp_path, "bad-pad", edit=lambda layout: layout["buttons"].pop("START"))
    with pytest.raises(ValueError, match=r"bad-pad\.json: buttons: missing button\(s\) START"):
        load_library([tmp_path])
    library = load_library([tmp_path], skip_invalid=True)
    assert "good-pad" in library.skins and "bad-pad" not in library.skins
    assert [(path, "START" in reason) for path, reason in library.rejected] == [(bad, True)]


def test_duplicate_id_is_rejected(tmp_path, make_skin):
    make_skin(tmp_path, "xbox-01")
    with pytest.raises(ValueError, match=r"xbox-01\.json: id: 'xbox-01' is already defined"):
        load_library([tmp_path])


def test_a_malformed_layout_is_named(make_skin, tmp_path):
    make_skin(tmp_path / "skins", "bad-pad", edit=lambda layout: layout.pop("sticks"))
    with pytest.raises(ValueError, match=r"bad-pad\.json.*sticks"):
        load_library([tmp_path / "skins"], include_builtin=False)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(ValueError, match="skin folder not found"):
        load_library([tmp_path / "nope"])


def test_list_skins_summaries():
    rows = list_skins()
    assert {r["id"] for r in rows if r["held_out"]} == set(HELD_OUT_SKINS)
    assert all(set(r) >= {"id", "family", "held_out"} for r in rows)


def test_templates_command_json(tmp_path, capsys, make_skin):
    parser = argparse.ArgumentParser()
    templates.register(parser.add_subparsers(dest="command"))
    make_skin(tmp_path, "bad-pad", edit=lambda layout: layout["buttons"].pop("GUIDE"))
    args = parser.parse_args(["templates", "--json", "--dir", str(tmp_path)])
    assert args.func(args) == 1  # a rejected user skin is reported and fails the command
    out = json.loads(capsys.readouterr().out)
    assert len(out["skins"]) == len(builtin_skin_ids())
    assert out["families"] == {f: 12 for f in sorted(FAMILIES)}
    assert "GUIDE" in out["rejected"][0]["reason"]
    args = parser.parse_args(["templates"])
    assert args.func(args) == 0
    assert "48 skins (12 held out)" in capsys.readouterr().out


def test_templates_on_a_folder_without_skins_says_so_and_fails(tmp_path, capsys):
    from padflow.cli import main

    assert main(["templates", "--dir", str(tmp_path)]) != 0
    assert f"{tmp_path}: no skins found" in capsys.readouterr().err
    assert main(["templates", "--dir", str(tmp_path / "missing")]) != 0  # a folder that is not there fails too


def test_held_out_field_keeps_a_user_skin_out_of_training(tmp_path, make_skin):
    make_skin(tmp_path, "my-pad", edit=lambda layout: layout.update(held_out=True, kind="parametric"))
    library = load_library([tmp_path])
    assert library.skins["my-pad"].held_out and "my-pad" in library.held_out_ids() and "my-pad" not in library.training_ids()
    assert next(r for r in list_skins([tmp_path]) if r["id"] == "my-pad")["held_out"]


def _project(root: Path) -> Path:
    """The smallest project `padflow skins` works in: params.yaml naming a skin folder, and the default profile."""
    (root / "profiles").mkdir(parents=True)
    (root / "params.yaml").write_text("overlay:\n  skin_dirs: [skins]\n")
    (root / "profiles" / "default.yaml").write_text("overlay: {}\n")
    return root


def test_skins_add_copies_a_validated_skin_that_the_library_then_lists(tmp_path, monkeypatch, capsys, make_skin, make_sprite_skin):
    from padflow.cli import main

    root = _project(tmp_path / "project")
    monkeypatch.setenv("PADFLOW_ROOT", str(root))
    downloads = tmp_path / "downloads"
    make_sprite_skin(downloads, "snes-pad", sticks=False)
    make_skin(downloads, "my-pad")
    assert main(["skins", "add", str(downloads / "snes-pad.json")]) == 0
    assert main(["skins", "add", str(downloads / "my-pad.json"), "--held-out"]) == 0
    assert sorted(p.name for p in (root / "skins").iterdir()) == ["my-pad.json", "my-pad.png", "snes-pad.json", "snes-pad.png"]
    capsys.readouterr()
    assert main(["skins", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["snes-pad"]["kind"] == "sprite" and rows["snes-pad"]["observed"] == 10 and not rows["snes-pad"]["held_out"]
    assert rows["my-pad"]["held_out"] and rows["xbox-01"]["kind"] == "parametric"
    library = load_library([root / "skins"])
    assert "snes-pad" in library.training_ids() and "my-pad" in library.held_out_ids()
    # an id already in the library is refused, nothing is copied; a broken skin is refused with its file and key
    assert main(["skins", "add", str(downloads / "snes-pad.json")]) != 0
    assert "already in the library" in capsys.readouterr().err
    make_skin(tmp_path / "broken", "xbox-01")
    assert main(["skins", "add", str(tmp_path / "broken")]) != 0
    assert main(["skins", "add", str(downloads / "snes-pad.json"), "--replace"]) == 0
    make_skin(tmp_path / "bad", "bad-pad", edit=lambda layout: layout["buttons"].pop("GUIDE"))
    assert main(["skins", "add", str(tmp_path / "bad")]) != 0
    assert "bad-pad.json: buttons: missing button(s) GUIDE" in capsys.readouterr().err
    assert not (root / "skins" / "bad-pad.json").exists()


def test_skins_add_refuses_a_skin_extract_could_never_find(tmp_path, monkeypatch, capsys, make_smooth_skin):
    from padflow.cli import main

    root = _project(tmp_path / "project")
    monkeypatch.setenv("PADFLOW_ROOT", str(root))
    layout = make_smooth_skin(tmp_path / "downloads")
    assert main(["skins", "add", str(layout)]) != 0
    assert "ball-stick.json" in (err := capsys.readouterr().err) and "distinct places" in err
    assert not (root / "skins").exists()  # nothing copied

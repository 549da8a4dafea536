"""The skin library: size, families, held-out set, user folders, malformed layouts, CLI."""

from __future__ import annotations

import argparse
import json
from itertools import combinations

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

"""Unknown skins: an overlay whose skin is not in the library is recorded unknown_skin at its box, never read as a look-alike."""

from dataclasses import replace

import numpy as np
import pytest

from padflow.actions import ACTION_NAMES, N_BUTTONS
from padflow.overlay.crops import box_iou
from padflow.overlay.library import SkinLibrary, load_library
from padflow.overlay.localize import LocalizeConfig, localize_frames, template_index
from padflow.overlay.localize.verify import twins
from padflow.overlay.render import Placement, draw_overlay

PLACEMENT = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.8)
FAINT = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.45)
DEFAULT = LocalizeConfig()  # extract's thresholds (min_skin_agreement, min_skin_margin), chosen on bench/unknown_skin.py's tune set


def test_an_overlay_of_a_skin_removed_from_the_library_is_unknown_skin(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], PLACEMENT)
    without = SkinLibrary({k: v for k, v in library.skins.items() if k != "xbox-01"})
    loc = localize_frames(frames, without, DEFAULT)
    assert loc.outcome == "unknown_skin" and not loc.found, loc.reason
    assert box_iou(loc.box, box) >= 0.8  # where the overlay is, though no skin explains it
    assert loc.skin_id is None and loc.transform is None  # nothing to read it with
    assert loc.nearest_skin.startswith("xbox-") and loc.skin_agreement < DEFAULT.min_skin_agreement
    assert loc.reason.startswith("unknown skin") and loc.nearest_skin in loc.reason
    assert loc.to_dict()["unknown_skin"] is True


def test_the_same_overlay_with_its_skin_in_the_library_is_found(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], PLACEMENT)
    loc = localize_frames(frames, library, DEFAULT)
    assert loc.outcome == "found" and loc.skin_id == "xbox-01", loc.reason
    assert box_iou(loc.box, box) >= 0.9
    assert loc.skin_agreement >= DEFAULT.min_skin_agreement
    assert loc.runner_up_agreement is None or loc.runner_up_agreement < loc.skin_agreement


def test_a_faint_library_overlay_over_the_game_is_still_found(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], FAINT)
    loc = localize_frames(frames, library, DEFAULT)
    assert loc.outcome == "found" and loc.skin_id == "xbox-01", loc.reason


def test_a_declared_skin_is_named_at_any_lead_but_never_against_the_pixels(library, game_frames, with_overlay):
    """The ingest manifest's `skin`: the margin over look-alikes is waived, being the best explanation and min_skin_agreement are not."""
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], FAINT)
    no_lead_enough = replace(DEFAULT, min_skin_margin=0.99, skin_agreement_alone=0.99)  # as a faint overlay close to its look-alikes
    assert localize_frames(frames, library, no_lead_enough).outcome == "unknown_skin"
    loc = localize_frames(frames, library, no_lead_enough, declared="xbox-01")
    assert loc.outcome == "found" and loc.skin_id == "xbox-01" and "the declared skin xbox-01 explains" in loc.reason
    wrong = localize_frames(frames, library, DEFAULT, declared="xbox-02")  # a look-alike: the skin named on its own stands
    assert wrong.skin_id == "xbox-01" and "the manifest declares xbox-02" in wrong.reason
    without = SkinLibrary({k: v for k, v in library.skins.items() if k != "xbox-01"})  # the skin drawn is not in the library
    assert localize_frames(frames, without, DEFAULT).outcome == "unknown_skin"
    for declared in ("xbox-02", "nintendo-01"):  # a look-alike the pixels do not pick; a skin whose fit is elsewhere
        refused = localize_frames(frames, without, DEFAULT, declared=declared)
        assert refused.outcome == "unknown_skin" and box_iou(refused.box, box) >= 0.8, refused.reason
        assert f"the declared skin {declared}" in refused.reason
    with pytest.raises(ValueError, match="declared skin 'my-pad' is not in the skin library"):
        localize_frames(frames, library, DEFAULT, declared="my-pad")


@pytest.fixture(scope="module")
def twin_library(tmp_path_factory: pytest.TempPathFactory, make_sprite_skin) -> SkinLibrary:
    """One atlas as two skins, with and without sticks, as overlay tools ship them (input-overlay's `overlay` / `overlay-analog`)."""
    folder = tmp_path_factory.mktemp("twins")
    make_sprite_skin(folder, "pad-analog")
    make_sprite_skin(folder, "pad-digital", sticks=False, atlas_of="pad-analog")
    make_sprite_skin(folder, "pad-other")
    return load_library([folder], include_builtin=False)


def test_twin_skins_are_told_apart_by_the_controls_only_one_of_them_draws(twin_library, game_frames):
    """Each twin explains the other's overlay nearly as well, so neither leads by min_skin_margin; the pixels where they differ decide."""
    index = template_index(twin_library, DEFAULT)
    ids = list(index.skin_ids)
    assert [index.skin_ids[k] for k in twins(index, ids.index("pad-analog"))] == ["pad-digital"]
    assert twins(index, ids.index("pad-other")) == []
    rng = np.random.default_rng(5)
    for drawn_id in ("pad-analog", "pad-digital"):
        frames, box = [], None
        for frame in game_frames:
            action = np.zeros(len(ACTION_NAMES), np.float32)
            action[rng.integers(N_BUTTONS)] = 1.0
            action[N_BUTTONS:] = rng.uniform(-1, 1, 4) * (rng.random() < 0.5)  # sticks at rest in half the frames
            drawn, box = draw_overlay(frame, twin_library.skins[drawn_id], action, Placement("bottom-right", 0.2, 0.9))
            frames.append(drawn)
        loc = localize_frames(frames, twin_library, DEFAULT)
        assert loc.found and loc.skin_id == drawn_id, loc.reason
        assert "of its twins" in loc.reason and box_iou(loc.box, box) >= 0.9


def test_the_built_in_library_has_no_twins(library):
    """Built-in skins of one family differ in colour everywhere: the twin rule never applies to them."""
    index = template_index(library, DEFAULT)
    assert all(twins(index, k) == [] for k in range(len(index.skins)))

"""Unknown skins: an overlay whose skin is not in the library is recorded unknown_skin at its box, never read as a look-alike."""

from padflow.overlay.crops import box_iou
from padflow.overlay.library import SkinLibrary
from padflow.overlay.localize import LocalizeConfig, localize_frames
from padflow.overlay.render import Placement

PLACEMENT = Placement(anchor="bottom-left", width_frac=0.2, opacity=0.8)
# The default min_skin_agreement (0.4) keeps faint library overlays over static backgrounds, whose true
# skins score down to 0.43, and so still names a family look-alike here (xbox-02 scores 0.46);
# at 0.9 (bench/unknown_skin.py) this look-alike is caught.
STRICT = LocalizeConfig(min_skin_agreement=0.9)


def test_an_overlay_of_a_skin_removed_from_the_library_is_unknown_skin(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], PLACEMENT)
    without = SkinLibrary({k: v for k, v in library.skins.items() if k != "xbox-01"})
    loc = localize_frames(frames, without, STRICT)
    assert loc.outcome == "unknown_skin" and not loc.found, loc.reason
    assert box_iou(loc.box, box) >= 0.8  # where the overlay is, though no skin explains it
    assert loc.skin_id is None and loc.transform is None  # nothing to read it with
    assert loc.nearest_skin.startswith("xbox-") and loc.skin_agreement < STRICT.min_skin_agreement
    assert loc.reason.startswith("unknown skin") and loc.nearest_skin in loc.reason
    assert loc.to_dict()["unknown_skin"] is True


def test_the_same_overlay_with_its_skin_in_the_library_is_found(library, game_frames, with_overlay):
    frames, box = with_overlay(game_frames, library.skins["xbox-01"], PLACEMENT)
    loc = localize_frames(frames, library, STRICT)
    assert loc.outcome == "found" and loc.skin_id == "xbox-01", loc.reason
    assert box_iou(loc.box, box) >= 0.9
    assert loc.skin_agreement >= STRICT.min_skin_agreement
    assert loc.runner_up_agreement is None or loc.runner_up_agreement < loc.skin_agreement

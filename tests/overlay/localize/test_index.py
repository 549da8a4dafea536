"""The template index: built once per library and feature settings, with a clear error for a template no fit could find."""

from dataclasses import replace

import pytest
from PIL import Image

from padflow.overlay.library import load_library
from padflow.overlay.localize import LocalizeConfig, template_index


def test_a_blank_template_is_a_clear_error(make_skin, tmp_path):
    layout = make_skin(tmp_path / "skins", "blank-pad")
    rest = Image.open(layout.with_suffix(".png"))
    Image.new("RGBA", rest.size, (0, 0, 0, 0)).save(layout.with_suffix(".png"))
    library = load_library([tmp_path / "skins"], include_builtin=False)
    with pytest.raises(ValueError, match=r"blank-pad\.json.*keypoints"):
        template_index(library, LocalizeConfig())


def test_a_template_whose_keypoints_sit_at_too_few_places_is_a_clear_error(make_smooth_skin, tmp_path):
    make_smooth_skin(tmp_path / "skins")  # smooth shading: enough keypoints, all at the ball and the well's centre
    library = load_library([tmp_path / "skins"], include_builtin=False)
    with pytest.raises(ValueError, match=r"ball-stick\.json.*keypoints at only \d distinct places.*min_locations=6"):
        template_index(library, LocalizeConfig())


def test_an_index_is_reused_for_the_same_skins_and_feature_settings(make_skin, tmp_path):
    make_skin(tmp_path / "skins", "my-pad")
    cfg = LocalizeConfig()
    index = template_index(load_library([tmp_path / "skins"], include_builtin=False), cfg)
    assert index.skin_ids == ("my-pad",) and len(index.descriptors) >= cfg.min_inliers
    # Another load of the same folder, and settings that do not change the features: the same index.
    assert template_index(load_library([tmp_path / "skins"], include_builtin=False), replace(cfg, ratio=0.5)) is index
    assert template_index(load_library([tmp_path / "skins"], include_builtin=False), replace(cfg, template_scales=(1.0,))) is not index

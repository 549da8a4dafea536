"""LocalizeConfig validation: a bad value is a ValueError naming its field."""

import pytest

from padflow.overlay.localize import LocalizeConfig


@pytest.mark.parametrize(
    "field, value",
    [
        ("frames", 0), ("detector", "surf"), ("transform", "homography"), ("min_locations", 50), ("width_range", (0.5, 0.2)),
        ("ratio", 1.5), ("rescue_min_locations", 3), ("guided_radius_px", 0.0), ("colour_location_margin", -1),
    ],  # fmt: skip
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        LocalizeConfig(**{field: value})

"""Skin files: a valid layout loads; every kind of malformed skin is rejected naming file and field."""

from __future__ import annotations

import pytest
from PIL import Image

from padflow.actions import BUTTONS
from padflow.overlay.library import BUILTIN_SKIN_DIR
from padflow.overlay.skin import FACE_BUTTONS, load_skin

SOURCE_ID = "xbox-01"  # the skin conftest.user_skin copies


def test_builtin_skin_loads_with_every_control_placed():
    skin = load_skin(BUILTIN_SKIN_DIR / f"{SOURCE_ID}.json")
    assert skin.id == SOURCE_ID and skin.family == "xbox" and skin.format_version == 1
    assert [b.name for b in skin.buttons] == list(FACE_BUTTONS)
    assert list(skin.regions()) == list(BUTTONS)
    assert skin.rest.shape == (skin.size[1], skin.size[0], 4) and not skin.rest.flags.writeable
    w, h = skin.size
    for name, (x0, y0, x1, y1) in skin.regions().items():
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, name


def test_a_copied_skin_with_aliases_loads(tmp_path, make_skin):
    def rename(layout):
        layout["buttons"]["A"] = layout["buttons"].pop("SOUTH")
        layout["buttons"]["circle"] = layout["buttons"].pop("EAST")  # any accepted spelling works

    skin = load_skin(make_skin(tmp_path, edit=rename))
    assert skin.button("SOUTH").region and skin.button("circle").name == "EAST"


def _drop_button(layout):
    del layout["buttons"]["NORTH"]


def _unknown_button(layout):
    layout["buttons"]["TURBO"] = layout["buttons"]["SOUTH"]


def _outside(layout):
    layout["buttons"]["SOUTH"]["region"] = [250, 10, 270, 30]


def _bad_colour(layout):
    layout["buttons"]["EAST"]["pressed"]["colour"] = "red"


def _thumb_as_button(layout):
    layout["buttons"]["LEFT_THUMB"] = layout["buttons"]["SOUTH"]


def _stick_out_of_image(layout):
    layout["sticks"]["right"]["centre"] = [250, 100]


def _swap_without_glyph_colour(layout):
    layout["buttons"]["WEST"]["pressed"] = {"style": "swap", "colour": "#ffffff"}


def _unknown_style(layout):
    layout["buttons"]["WEST"]["pressed"]["style"] = "sparkle"


def _size_mismatch(layout):
    layout["size"] = [300, 200]


def _wrong_version(layout):
    layout["format_version"] = 99


def _missing_stick(layout):
    del layout["sticks"]["left"]


@pytest.mark.parametrize(
    ("edit", "field", "reason"),
    [
        (_drop_button, "buttons", "NORTH"),
        (_unknown_button, "buttons.TURBO", "unknown button name"),
        (_outside, "buttons.SOUTH.region", "outside the 256x176 image"),
        (_bad_colour, "buttons.EAST.pressed.colour", "not a colour"),
        (_thumb_as_button, "buttons.LEFT_THUMB", "sticks.left.pressed"),
        (_stick_out_of_image, "sticks.right.centre/travel", "outside"),
        (_swap_without_glyph_colour, "buttons.WEST.pressed.glyph_colour", "required"),
        (_unknown_style, "buttons.WEST.pressed.style", "sparkle"),
        (_size_mismatch, "size", "does not match"),
        (_wrong_version, "format_version", "not supported"),
        (_missing_stick, "sticks", "missing field(s) left"),
    ],
)
def test_malformed_layout_names_file_and_field(tmp_path, edit, field, reason, make_skin):
    path = make_skin(tmp_path, edit=edit)
    with pytest.raises(ValueError) as err:
        load_skin(path)
    message = str(err.value)
    assert str(path) in message and f": {field}: " in message and reason in message


def test_missing_png_is_named(tmp_path, make_skin):
    path = make_skin(tmp_path)
    path.with_suffix(".png").unlink()
    with pytest.raises(ValueError, match=r"my-pad\.json: rest image my-pad\.png not found"):
        load_skin(path)


def test_unreadable_png_and_bad_json_are_named(tmp_path, make_skin):
    path = make_skin(tmp_path)
    path.with_suffix(".png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"my-pad\.json: rest image my-pad\.png is not a readable image"):
        load_skin(path)
    path.write_text("{ not json")
    with pytest.raises(ValueError, match=r"my-pad\.json: not valid JSON"):
        load_skin(path)


def test_id_must_match_the_file_stem(tmp_path, make_skin):
    path = make_skin(tmp_path, edit=lambda layout: layout.update(id="other"))
    with pytest.raises(ValueError, match=r"my-pad\.json: id: 'other' must equal the file stem"):
        load_skin(path)


def test_rgb_png_is_accepted_as_opaque(tmp_path, make_skin):
    path = make_skin(tmp_path)
    png = path.with_suffix(".png")
    Image.open(png).convert("RGB").save(png)
    assert (load_skin(path).rest[..., 3] == 255).all()

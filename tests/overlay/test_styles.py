import numpy as np

from padflow.actions import ACTION_DIM, ACTION_NAMES, BUTTONS
from padflow.overlay.library import load_library
from padflow.overlay.render import render_overlay
from padflow.overlay.sprite import SpriteSkin
from padflow.overlay.styles import BODY_STYLES, HELD_OUT_STYLES, PRESS_LOOKS, parametric_variants, style_of, style_skin, style_skins


def test_the_same_seed_draws_the_same_skin_and_another_index_another():
    a, b, c = style_skin(3), style_skin(3), style_skin(4)
    assert isinstance(a, SpriteSkin) and a.layers == b.layers and np.array_equal(a.atlas, b.atlas)
    assert not np.array_equal(a.rest, c.rest)


def test_held_out_styles_are_never_drawn_for_training_yet_every_body_and_press_look_is():
    training = {style_of(i, held_out=False) for i in range(64)}
    held_out = {style_of(i, held_out=True) for i in range(64)}
    assert held_out == set(HELD_OUT_STYLES) and not training & held_out
    assert {b for b, _ in training} == set(BODY_STYLES) and {p for _, p in training} == set(PRESS_LOOKS)
    skins = style_skins(2, held_out=True)
    assert list(skins) == ["style-held-0000", "style-held-0001"] and all(s.held_out for s in skins.values())


def test_every_drawn_button_shows_its_press_and_every_drawn_stick_moves_its_cap():
    for index in range(6):
        skin = style_skin(index)
        rest = render_overlay(skin, np.zeros(ACTION_DIM, np.float32), skin.size[0]).astype(int)
        regions = skin.regions()
        for name in skin.observed:
            action = np.zeros(ACTION_DIM, np.float32)
            action[ACTION_NAMES.index(name)] = 1.0
            shown = render_overlay(skin, action, skin.size[0]).astype(int)
            x0, y0, x1, y1 = (int(round(v)) for v in regions[name])
            change = np.abs(shown - rest)[y0:y1, x0:x1].max()
            assert change > 8, f"{skin.id}: {name} ({style_of(index, False)}) looks the same pressed"
        assert any(b in skin.observed for b in BUTTONS[:4])


def test_parametric_variants_redraw_the_library_designs_in_other_colours():
    variants = parametric_variants(2)
    library = load_library()
    assert list(variants) == ["variant-0000", "variant-0001"]
    assert variants["variant-0000"].family == library.skins["xbox-01"].family
    assert not np.array_equal(variants["variant-0000"].rest, library.skins["xbox-01"].rest)

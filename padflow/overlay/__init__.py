"""Controller skins (parametric and sprite), the skin library and its built-in skins, and the overlay renderer."""

from padflow.overlay.library import FAMILIES, HELD_OUT_SKINS, AnySkin, SkinLibrary, list_skins, load_any_skin, load_library
from padflow.overlay.render import OverlayLag, Placement, composite, draw_overlay, render_overlay
from padflow.overlay.skin import Skin, load_skin
from padflow.overlay.skingen import regenerate_library
from padflow.overlay.sprite import SpriteSkin, load_sprite_skin, write_sprite_skin

__all__ = [
    "FAMILIES", "HELD_OUT_SKINS", "AnySkin", "OverlayLag", "Placement", "Skin", "SkinLibrary", "SpriteSkin", "composite",
    "draw_overlay", "list_skins", "load_any_skin", "load_library", "load_skin", "load_sprite_skin", "regenerate_library",
    "render_overlay", "write_sprite_skin",
]  # fmt: skip

"""Controller skins, the skin library and its built-in skins, and the overlay renderer."""

from padflow.overlay.library import FAMILIES, HELD_OUT_SKINS, SkinLibrary, list_skins, load_library
from padflow.overlay.render import OverlayLag, Placement, composite, draw_overlay, render_overlay
from padflow.overlay.skin import Skin, load_skin
from padflow.overlay.skingen import regenerate_library

__all__ = [
    "FAMILIES", "HELD_OUT_SKINS", "OverlayLag", "Placement", "Skin", "SkinLibrary", "composite", "draw_overlay",
    "list_skins", "load_library", "load_skin", "regenerate_library", "render_overlay",
]  # fmt: skip

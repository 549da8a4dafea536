"""The built-in skins' generator: regeneration gives the committed files byte for byte."""

import pytest

from padflow.overlay.library import BUILTIN_SKIN_DIR
from padflow.overlay.skingen import regenerate_library


@pytest.mark.slow  # draws all 48 skins: ~4 s on an idle core
def test_regeneration_is_byte_identical(tmp_path):
    regenerate_library(tmp_path)
    committed = sorted(p.name for p in BUILTIN_SKIN_DIR.iterdir() if p.suffix in (".png", ".json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == committed
    for name in committed:
        assert (tmp_path / name).read_bytes() == (BUILTIN_SKIN_DIR / name).read_bytes(), name

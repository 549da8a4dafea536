from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from padflow.config import from_mapping, load_params


@dataclass(frozen=True)
class Inner:
    rate: float  # per second


@dataclass(frozen=True)
class Example:
    count: int  # how many
    mode: Literal["fast", "slow"] = "fast"
    size: tuple[int, int] = (1, 2)
    inner: Inner = Inner(1.0)
    note: str | None = None

    def __post_init__(self):
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")


def test_builds_nested_frozen_config():
    cfg = from_mapping(Example, {"count": 3, "mode": "slow", "size": [4, 5], "inner": {"rate": 2}}, "ex")
    assert cfg == Example(3, "slow", (4, 5), Inner(2.0))


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "ex.count: missing"),
        ({"count": "3"}, "ex.count: expected an integer, got '3'"),
        ({"count": 1, "mode": "warp"}, r"ex.mode: 'warp' not one of \['fast', 'slow'\]"),
        ({"count": 1, "colour": 2}, "ex: unknown key.*colour; valid: count, mode"),
        ({"count": 1, "size": [1]}, "ex.size: expected 2 values, got 1"),
        ({"count": 1, "inner": {"rate": "x"}}, "ex.inner.rate: expected a number"),
        ({"count": -1}, "ex: count must be >= 0, got -1"),
    ],
)
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ValueError, match=message):
        from_mapping(Example, data, "ex")


def test_profiles_overlay_the_base(tmp_path: Path):
    p = tmp_path / "params.yaml"
    p.write_text("a: {x: 1, y: 2}\nprofiles:\n  debug: {a: {y: 3}}\n")
    assert load_params(p)["a"] == {"x": 1, "y": 2}
    assert load_params(p, "debug")["a"] == {"x": 1, "y": 3}
    with pytest.raises(ValueError, match="unknown profile 'huge'; valid: debug"):
        load_params(p, "huge")
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        load_params(tmp_path / "bad.yaml")


def test_set_param_edits_one_field_and_keeps_comments(tmp_path: Path):
    from padflow.config import set_param

    p = tmp_path / "params.yaml"
    p.write_text("# top\ningest:\n  input: data/raw  # where videos are\n  fps: 30.0\ngate:\n  chunk_size: 16\n")
    set_param(p, "ingest.input", "/videos/mine")
    set_param(p, "gate.min_kept_share", 0.3)
    text = p.read_text()
    assert "  input: /videos/mine  # where videos are\n" in text and text.startswith("# top\n")
    assert load_params(p)["gate"] == {"chunk_size": 16, "min_kept_share": 0.3}
    with pytest.raises(ValueError, match="section.field"):
        set_param(p, "ingest", 1)

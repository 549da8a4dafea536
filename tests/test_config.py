import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field

from padflow.config import config, from_mapping, load_params


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
        ({"count": "3"}, "ex.count: Input should be a valid integer, got '3'"),
        ({"count": 1, "mode": "warp"}, r"ex.mode: Input should be 'fast' or 'slow', got 'warp'"),
        ({"count": 1, "colour": 2}, "ex: unknown key.*colour; valid: count, mode"),
        ({"count": 1, "size": [1]}, "ex.size: expected 2 values, got 1"),
        ({"count": 1, "inner": {"rate": "x"}}, "ex.inner.rate: Input should be a valid number, got 'x'"),
        ({"count": -1}, "ex: count must be >= 0, got -1"),
    ],
)
def test_bad_values_name_the_key(data, message):
    with pytest.raises(ValueError, match=message):
        from_mapping(Example, data, "ex")


@config
class Rate:
    per_s: Annotated[float, Field(gt=0, description="events per second")] = 1.0


@config
class Pydantic:
    count: Annotated[int, Field(ge=0, description="how many")] = 0
    rate: Rate = Rate()
    path: Path = Path("data")
    pairs: tuple[tuple[int, int], ...] = ()


def test_config_classes_validate_with_named_keys():
    cfg = from_mapping(Pydantic, {"count": 2, "rate": {"per_s": 3}, "path": "x/y", "pairs": [[1, 2]]}, "train")
    assert cfg == Pydantic(2, Rate(3.0), Path("x/y"), ((1, 2),))
    assert dataclasses.replace(cfg, count=4).count == 4 and dataclasses.asdict(cfg)["rate"] == {"per_s": 3.0}
    for data, message in [
        ({"count": "fast"}, "train.count: Input should be a valid integer, got 'fast'"),
        ({"count": -1}, "train.count: Input should be greater than or equal to 0, got -1"),
        ({"rate": {"per_s": 0}}, r"train.rate.per_s: Input should be greater than 0, got 0"),
        ({"rate": {"per_s": 1, "colour": 1}}, "train.rate: unknown key.*colour; valid: per_s"),
        ({"pairs": [[1, 2], [3]]}, r"train.pairs\[1\]: expected 2 values, got 1"),
        ({"count": True}, "train.count: Input should be a valid integer, got True"),
    ]:
        with pytest.raises(ValueError, match=message):
            from_mapping(Pydantic, data, "train")


def test_profiles_overlay_the_base(tmp_path: Path):
    (tmp_path / "params.yaml").write_text("seed: 0\na: {x: 1, y: 2}\nb: {z: 1}\n")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "debug.yaml").write_text("a: {y: 3}\nb: {}\n")
    (tmp_path / "profiles" / "default.yaml").write_text("a: {}\nb: {}\n")
    p = tmp_path / "params.yaml"
    assert load_params(p)["a"] == {"x": 1, "y": 2}
    assert load_params(tmp_path)["profile"] == "default"  # no run.yaml: the default profile and input
    assert load_params(p, "debug")["a"] == {"x": 1, "y": 3}
    with pytest.raises(ValueError, match="unknown profile 'huge'; valid: debug"):
        load_params(p, "huge")
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="top level must be a mapping"):
        load_params(tmp_path / "bad.yaml")


def test_a_profile_lists_every_section(tmp_path: Path):
    (tmp_path / "params.yaml").write_text("a: {x: 1}\nb: {z: 1}\n")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "small.yaml").write_text("a: {x: 2}\n")
    with pytest.raises(ValueError, match=r"profiles/small.yaml: missing section\(s\) b"):
        load_params(tmp_path, "small")
    (tmp_path / "profiles" / "small.yaml").write_text("a: {x: 2}\nb: {}\nc: {}\n")
    with pytest.raises(ValueError, match=r"profiles/small.yaml: key\(s\) c not in"):
        load_params(tmp_path, "small")
    (tmp_path / "params.yaml").write_text("a: {x: 1}\nprofiles: {small: {a: {x: 2}}}\n")
    with pytest.raises(ValueError, match="`profiles` does not belong in params.yaml"):
        load_params(tmp_path, "small")


def test_select_run_writes_run_yaml_and_leaves_params_alone(tmp_path: Path):
    from padflow.config import select_run

    params = "# my comment\ningest: {fps: 30.0}\n"
    (tmp_path / "params.yaml").write_text(params)
    (tmp_path / "profiles").mkdir()
    for name in ("default", "debug"):
        (tmp_path / "profiles" / f"{name}.yaml").write_text("ingest: {}\n")
    none = {"ingest": {}}  # every section listed, {}: no overrides
    assert select_run(tmp_path, profile="debug") == {"profile": "debug", "input": "data/raw", "overrides": none}
    assert select_run(tmp_path, input="/videos/mine") == {"profile": "debug", "input": "/videos/mine", "overrides": none}
    loaded = load_params(tmp_path)
    assert (loaded["profile"], loaded["input"]) == ("debug", "/videos/mine")
    assert (tmp_path / "params.yaml").read_text() == params
    with pytest.raises(ValueError, match="unknown profile 'huge'; valid: debug, default"):
        select_run(tmp_path, profile="huge")
    assert load_params(tmp_path)["profile"] == "debug"


def test_the_input_a_run_chooses_is_your_folder_resolved_or_the_corpus_by_its_folder(tmp_path: Path, monkeypatch):
    from padflow.config import DEFAULT_INPUT, chosen_input

    (tmp_path / "params.yaml").write_text("ingest: {}\n")
    (tmp_path / "videos").mkdir()
    monkeypatch.chdir(tmp_path)
    assert chosen_input(tmp_path, None) is None  # keep run.yaml's
    assert chosen_input(tmp_path, "videos") == str(tmp_path / "videos")
    assert chosen_input(tmp_path, "data/raw") == DEFAULT_INPUT  # back to the corpus, though no corpus was made yet
    assert chosen_input(tmp_path, str(tmp_path / "data" / "raw")) == DEFAULT_INPUT
    with pytest.raises(ValueError, match="--input no-such: no such folder or manifest"):
        chosen_input(tmp_path, "no-such")


def test_project_profiles_load(tmp_path: Path):
    root = Path(__file__).resolve().parents[1]
    for name in ("default", "debug", "large"):
        params = load_params(root, name)
        assert params["profile"] == name and "profiles" not in params
    assert load_params(root, "debug")["corpus"]["videos"] < load_params(root, "default")["corpus"]["videos"]


def test_overrides_lie_over_the_profile_and_live_in_run_yaml_not_params_yaml(tmp_path: Path):
    from padflow.config import format_overrides, parse_overrides, select_run

    params = "# my comment\nseed: 0\ntrain: {lr: 0.001, steps: 10, model: {width: 8}}\ngate: {min: 0.1}\n"
    (tmp_path / "params.yaml").write_text(params)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "default.yaml").write_text("train: {steps: 5}\ngate: {}\n")
    overrides = parse_overrides(["train.lr=3e-4", "train.steps=7", "train.model.width=16", "gate.min=null"])
    assert overrides == {"train": {"lr": 0.0003, "steps": 7, "model": {"width": 16}}, "gate": {"min": None}}
    assert format_overrides(overrides) == "train.lr=0.0003 train.steps=7 train.model.width=16 gate.min=None"
    assert load_params(tmp_path, overrides=overrides)["train"] == {"lr": 0.0003, "steps": 7, "model": {"width": 16}}

    select_run(tmp_path, overrides={"train": {"steps": 7}})
    assert load_params(tmp_path)["train"] == {"lr": 0.001, "steps": 7, "model": {"width": 8}}  # over the profile's 5
    assert "overrides:\n  train:\n    steps: 7\n  gate: {}\n" in (tmp_path / "run.yaml").read_text()
    select_run(tmp_path, overrides={})
    assert load_params(tmp_path)["train"]["steps"] == 5
    assert (tmp_path / "params.yaml").read_text() == params


@pytest.mark.parametrize("pairs, message", [
    (["train.lr"], "expected SECTION.KEY=VALUE"),
    (["lr=3"], "expected SECTION.KEY=VALUE"),
    (["train.lr=[1"], "not valid YAML"),
])
def test_a_malformed_set_names_the_pair(pairs, message):
    from padflow.config import parse_overrides

    with pytest.raises(ValueError, match=message):
        parse_overrides(pairs)


def test_an_override_of_no_section_is_an_error_naming_it(tmp_path: Path):
    (tmp_path / "params.yaml").write_text("seed: 0\ntrain: {lr: 0.001}\n")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "default.yaml").write_text("train: {}\n")
    with pytest.raises(ValueError, match="--set: overrides: trian is not a section of params.yaml; sections: train"):
        load_params(tmp_path, overrides={"trian": {"lr": 1}})

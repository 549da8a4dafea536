"""One way to save and load both networks: safetensors + a JSON record, loaded strictly with errors that name the file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from models.io import SavedModel, load_pretrained, save_pretrained, state_dict_mismatch


@dataclass(frozen=True)
class Sizes:
    width: int = 3


class Net(nn.Module):
    def __init__(self, cfg: Sizes):
        super().__init__()
        self.cfg = cfg
        self.linear = nn.Linear(cfg.width, 2)
        self.register_buffer("count", torch.zeros(1))


NET = SavedModel(name="net", format="test-net/1", config_cls=Sizes, build=Net, header={"schema": "s1"})


def test_round_trip_writes_the_two_files_and_loads_the_same_weights(tmp_path: Path):
    torch.manual_seed(0)
    net = Net(Sizes(4))
    net.count.fill_(7)
    save_pretrained(net, net.cfg, tmp_path, NET)
    assert {p.name for p in tmp_path.iterdir()} == {"net.safetensors", "net_config.json"}
    record = json.loads((tmp_path / "net_config.json").read_text())
    assert record["format"] == "test-net/1" and record["schema"] == "s1" and record["config"] == {"width": 4}
    assert record["parameters"] == 4 * 2 + 2 + 1
    loaded = load_pretrained(NET, tmp_path)
    assert loaded.cfg == Sizes(4) and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))


def test_a_record_of_another_format_or_schema_is_refused_by_name(tmp_path: Path):
    save_pretrained(Net(Sizes()), Sizes(), tmp_path, NET)
    record = json.loads((tmp_path / "net_config.json").read_text())
    (tmp_path / "net_config.json").write_text(json.dumps({**record, "schema": "s0"}))
    with pytest.raises(ValueError, match=r"net_config.json: schema 's0', this padflow reads 's1'"):
        load_pretrained(NET, tmp_path)
    (tmp_path / "net_config.json").write_text(json.dumps({**record, "format": "test-net/0"}))
    with pytest.raises(ValueError, match=r"net_config.json: format 'test-net/0', expected 'test-net/1'"):
        load_pretrained(NET, tmp_path)


def test_mismatch_names_missing_unexpected_and_wrongly_shaped_tensors():
    expected = {"a": torch.zeros(2), "b": torch.zeros(3), "c": torch.zeros(1)}
    found = {"b": torch.zeros(4), "c": torch.zeros(1), "d": torch.zeros(1)}
    assert state_dict_mismatch(expected, found) == "missing a; unexpected d; wrong shapes: b (4,) != (3,)"
    assert state_dict_mismatch(expected, expected) == ""


def test_weights_get_the_same_file_mode_as_every_other_output(tmp_path: Path):
    import os

    from padflow.io import write_json

    umask = os.umask(0o022)
    try:
        save_pretrained(Net(Sizes()), Sizes(), tmp_path / "model", NET)
        write_json(tmp_path / "report.json", {})
    finally:
        os.umask(umask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in [*(tmp_path / "model").iterdir(), tmp_path / "report.json"]}
    assert modes == {"net.safetensors": 0o644, "net_config.json": 0o644, "report.json": 0o644}

"""The one way both networks are saved and loaded: safetensors weights beside a JSON config record.

A folder holds `<name>.safetensors` and `<name>_config.json` (policy.safetensors +
policy_config.json, parser.safetensors + parser_config.json). The record is

    {"format": "padflow-policy/1", "config": {...the config's fields...},
     "parameters": 1234, "weights_sha256": "...", ...the format's own header fields}

Each file is written atomically, the weights first; the record carries the weights' SHA-256, so
a folder whose two files come from different saves (or a torn write) is refused. Loading is
strict: every tensor the model has must be in the file with its shape, and nothing else; a
ValueError names the file and the missing, unexpected or wrongly shaped tensors.

Why not huggingface_hub's PyTorchModelHubMixin: it would rename the files every stage, test
and DVC output reads (model.safetensors + config.json), its loader is not strict by default and
does not name the file in its errors, and the checksum and action-schema checks would still be
ours to write.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from padflow.config import from_mapping
from padflow.io import atomic_path, file_sha256, write_json

SHOWN_KEYS = 3  # tensor names quoted per kind of mismatch in an error


@dataclass(frozen=True)
class SavedModel:
    """How one network is kept on disk."""

    name: str  # file stem: <name>.safetensors + <name>_config.json
    format: str  # the record's `format`, e.g. "padflow-policy/1"; bumped when the weights' layout changes
    config_cls: type  # the config dataclass the record's `config` is read into
    build: Callable[[Any], nn.Module]  # config → a fresh model, without downloading or loading pretrained parts
    header: Mapping[str, str] = field(default_factory=dict)  # more record fields that must match on load

    @property
    def weights_file(self) -> str:
        return f"{self.name}.safetensors"

    @property
    def config_file(self) -> str:
        return f"{self.name}_config.json"


def save_pretrained(model: nn.Module, config: Any, folder: str | Path, kind: SavedModel) -> Path:
    """Write `model`'s weights and `config` into `folder` as `kind` describes; returns the folder."""
    folder = Path(folder)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights = folder / kind.weights_file
    with atomic_path(weights) as tmp:
        tmp.write_bytes(save(state, metadata={"format": kind.format, **kind.header}))
    write_json(folder / kind.config_file, {
        "format": kind.format,
        **kind.header,
        "config": dataclasses.asdict(config),
        "parameters": sum(t.numel() for t in state.values()),
        "weights_sha256": file_sha256(weights),
    })
    return folder


def load_pretrained(kind: SavedModel, folder: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """A model saved by save_pretrained, in eval mode on `device`; ValueError names the file and what is wrong."""
    cfg, state = read_saved(kind, folder)
    model = kind.build(cfg)
    problems = state_dict_mismatch(model.state_dict(), state)
    if problems:
        raise ValueError(f"{Path(folder) / kind.weights_file}: does not fit the config's {kind.name} ({problems})")
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def read_saved(kind: SavedModel, folder: str | Path) -> tuple[Any, dict[str, torch.Tensor]]:
    """(config, weights) of a folder save_pretrained wrote, checked as load_pretrained checks them, without building
    a model: for a caller that puts the weights into a model it already has (fine-tuning, models/policy/finetune.py)."""
    folder = Path(folder)
    config_path, weights_path = folder / kind.config_file, folder / kind.weights_file
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ValueError(f"{path}: missing; a {kind.name} folder holds {kind.config_file} and {kind.weights_file}")
    try:
        record = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_path}: not a readable {kind.name} config (not valid JSON: {exc})") from None
    if not isinstance(record, dict) or record.get("format") != kind.format:
        found = record.get("format") if isinstance(record, dict) else None
        raise ValueError(f"{config_path}: format {found!r}, expected {kind.format!r}")
    for key, want in kind.header.items():
        if record.get(key) != want:
            raise ValueError(f"{config_path}: {key} {record.get(key)!r}, this padflow reads {want!r}")
    cfg = from_mapping(kind.config_cls, record.get("config"), f"{config_path}:config")
    if record.get("weights_sha256") != file_sha256(weights_path):
        raise ValueError(f"{weights_path}: contents do not match {config_path.name} (corrupt, or from another save)")
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{weights_path}: not a readable safetensors file ({exc})") from None
    return cfg, state


def state_dict_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> str:
    """'' when `found` has exactly `expected`'s tensors and shapes, else what differs (a few names of each kind)."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [f"{k} {tuple(found[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in found and found[k].shape != v.shape]
    parts = [f"missing {', '.join(missing[:SHOWN_KEYS])}" if missing else "",
             f"unexpected {', '.join(unexpected[:SHOWN_KEYS])}" if unexpected else "",
             f"wrong shapes: {'; '.join(wrong[:SHOWN_KEYS])}" if wrong else ""]
    return "; ".join(p for p in parts if p)

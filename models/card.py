"""The model card (README.md) written into every exported policy and parser folder.

A card says what the model is, what it was trained on (the data's digest, and the licences and
sources the ingest manifest gave, counted over the training videos), the parameters and metrics
of the run that made it, what it is meant for and how to load it. Its YAML front matter follows
the Hugging Face model-card header (`license`, `library_name`, `tags`), so hub tools read it;
`license: other` because the weights inherit the licences of their data, listed in the card.

Card files sit beside the weights and are not read by the loader (models/io.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from padflow.io import write_text
from padflow.tables import data_fingerprint, read_chunk_index

CARD_FILE = "README.md"
UNKNOWN = "unknown"


def index_provenance(index_path: Path, root: Path) -> dict[str, Any]:
    """What a chunk index trains on: its data digest, videos, games, and the licences and sources of those videos.

    Licences and sources come from each action table's extraction record (`<table>.json`, `source`: the
    ingest report's row, itself from the folder's manifest.json); a table without one counts as unknown.
    """
    index = read_chunk_index(index_path)
    licences: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for table in sorted(index["table_path"].astype(str).unique()):
        source = _record_source(root / table)
        licences[str(source.get("licence") or UNKNOWN)] += 1
        sources[str(source.get("source") or UNKNOWN)] += 1
    return {
        "digest": data_fingerprint(index_path, root),
        "index": str(index_path.relative_to(root)) if index_path.is_relative_to(root) else str(index_path),
        "chunks": len(index),
        "videos": int(index["video_id"].nunique()),
        "games": sorted(index["game"].astype(str).unique()),
        "licences": dict(licences.most_common()),
        "sources": dict(sources.most_common()),
    }


def _record_source(table: Path) -> Mapping[str, Any]:
    try:
        record = json.loads(table.with_suffix(".json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    source = record.get("source") if isinstance(record, dict) else None
    return source if isinstance(source, dict) else {}


def write_card(
    folder: Path,
    *,
    title: str,
    summary: str,
    data: Mapping[str, Any],
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    intended_use: str,
    limitations: str,
    usage: str,
    tags: Sequence[str] = (),
) -> Path:
    """README.md in `folder` (atomically): front matter, then summary, data, intended use, limitations, usage, metrics, params."""
    front = {"license": "other", "library_name": "padflow", "tags": ["padflow", *tags]}
    licences = data.get("licences") or {}
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "", f"# {title}", "", summary, "",
        "## Training data", "",
        *[f"- **{k}**: {_inline(v)}" for k, v in data.items() if k not in ("licences", "sources")],
    ]
    if licences:
        lines += ["", "Licences of the training videos (as the ingest manifest gave them; videos per licence):", "",
                  *[f"- {name}: {n}" for name, n in licences.items()]]
    if data.get("sources"):
        lines += ["", "Sources:", "", *[f"- {name}: {n}" for name, n in data["sources"].items()]]
    lines += ["", "## Intended use", "", intended_use, "", "## Limitations", "", limitations, "", "## How to load it", "",
              usage, "", "## Metrics of the run that made it", "", "| metric | value |", "|---|---|",
              *[f"| {k} | {_number(v)} |" for k, v in sorted(metrics.items())],
              "", "## Parameters", "", "```yaml", yaml.safe_dump(_plain(params), sort_keys=False).strip(), "```", ""]
    return write_text(folder / CARD_FILE, "\n".join(lines))


def _inline(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "(none)"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _plain(value: Any) -> Any:
    """Params as YAML can write them: tuples as lists, other objects as strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)

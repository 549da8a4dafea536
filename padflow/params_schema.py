"""Check a whole params mapping (params.yaml with its profile) in milliseconds, before any stage runs.

The config classes (each stage's, pydantic) are the source of truth, but they live beside torch
and Lightning code that takes seconds to import. `scripts/params_schema.py` writes their JSON
Schema to params.schema.json beside this module (`--check` keeps it current); `check_params`
validates against it, so `padflow run` with `train.lr: fast` fails at once, naming the key, instead
of after corpus…gate ran. Rules between fields (a class's __post_init__) are still checked by the
classes when each stage starts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from padflow.config import load_params, read_run

SCHEMA_FILE = Path(__file__).with_name("params.schema.json")
SHOWN_ERRORS = 3  # problems listed in one message; the rest are counted


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text())
    return jsonschema.Draft202012Validator(schema)


def params_problems(params: Mapping[str, Any]) -> list[str]:
    """Every way `params` breaks the schema, as `key.path: reason`, in key order."""
    errors = sorted(_validator().iter_errors(_plain(params)), key=lambda e: [str(p) for p in e.absolute_path])
    problems = []
    for error in errors:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {_reason(error)}")
    return problems


def check_params(params: Mapping[str, Any], source: str) -> None:
    """ValueError naming `source` and the first few bad keys when `params` breaks the schema."""
    problems = params_problems(params)
    if problems:
        more = f" (and {len(problems) - SHOWN_ERRORS} more)" if len(problems) > SHOWN_ERRORS else ""
        raise ValueError(f"{source}: {'; '.join(problems[:SHOWN_ERRORS])}{more}")


def _reason(error: Any) -> str:
    if error.validator == "type":
        return f"must be of type {error.validator_value}, got {error.instance!r}"
    if error.validator in ("anyOf", "oneOf"):
        return f"{error.instance!r} is not a valid value"
    return error.message


def _plain(value: Any) -> Any:
    """YAML's values as JSON's: tuples as lists (a profile merged in code may hold them)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_checked_params(root: Path, profile: str | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """params.yaml of the project at `root` with `profile` and `overrides` (else run.yaml's) laid over
    it, checked whole; ValueError naming the file, the profile, the overrides and the bad keys."""
    params = load_params(root / "params.yaml", profile=profile, overrides=overrides)
    chosen = read_run(root)["overrides"] if overrides is None else overrides
    where = f"profile {params['profile']}" + (", run.yaml overrides / --set" if any(chosen.values()) else "")
    check_params(params, f"{root / 'params.yaml'} ({where})")
    return params

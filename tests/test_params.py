"""One set of defaults: params.yaml (the default profile) equals the config classes' defaults, and
docs/params.md, generated from those classes, is current."""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from padflow.config import from_mapping, load_params, profile_names

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


params_doc = _script("params_doc")


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        node = node[part]
    return node


def _disagreements(cls: type, loaded: Any, where: str) -> list[str]:
    """`where.field: params.yaml X, code default Y` for every field whose loaded value is not its default.

    A required field (no code default, e.g. the policy size catalogue train.models) has one source,
    params.yaml, so it cannot disagree.
    """
    out = []
    for f in dataclasses.fields(cls):
        value, default = getattr(loaded, f.name), params_doc.field_default(cls, f.name)
        if default is params_doc.REQUIRED:
            continue
        if dataclasses.is_dataclass(value) and type(value) is type(default):
            out += _disagreements(type(value), value, f"{where}.{f.name}")
        elif value != default:
            out.append(f"{where}.{f.name}: params.yaml {value!r}, code default {default!r}")
    return out


def test_params_yaml_equals_the_code_defaults():
    params = load_params(ROOT, "default")
    wrong = []
    for section, spec in params_doc.SECTIONS.items():
        cls = params_doc.load_class(spec)
        loaded = from_mapping(cls, _lookup(params, section), section)
        wrong += _disagreements(cls, loaded, section)
    assert not wrong, "params.yaml and the code defaults disagree (params.yaml's value wins):\n" + "\n".join(wrong)


def test_every_entry_loads():
    params = load_params(ROOT, "default")
    for section, spec in params_doc.ENTRIES.items():
        cls = params_doc.load_class(spec)
        for name, entry in _lookup(params, section).items():
            from_mapping(cls, entry, f"{section}.{name}")


@pytest.mark.parametrize("profile", profile_names(ROOT))
def test_every_profile_loads(profile: str):
    params = load_params(ROOT, profile)
    for section, spec in params_doc.SECTIONS.items():
        from_mapping(params_doc.load_class(spec), _lookup(params, section), section)


def test_every_params_key_is_documented():
    """A key of params.yaml is read by a config class (SECTIONS, ENTRIES) or described in PLAIN_KEYS."""
    params = load_params(ROOT, "default")
    covered = {*params_doc.SECTIONS, *params_doc.ENTRIES, *params_doc.PLAIN_KEYS}

    def walk(node: Mapping[str, Any], prefix: str) -> list[str]:
        missing = []
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if dotted in covered or any(dotted.startswith(c + ".") for c in covered):
                continue
            if isinstance(value, Mapping) and value:
                missing += walk(value, dotted + ".")
            else:
                missing.append(dotted)
        return missing

    body = {k: v for k, v in params.items() if k not in ("profile", "input")}
    assert walk(body, "") == []


def test_docs_params_md_is_current():
    current = (ROOT / params_doc.DOC).read_text()
    assert current == params_doc.render(ROOT), "docs/params.md is stale: run `python scripts/params_doc.py`"

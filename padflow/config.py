"""params.yaml → frozen dataclasses, validated on load with errors that name the key.

Each stage owns its config dataclass (in its tasks/ module); this module only knows how to read
a section of params.yaml into one. Profiles (`debug`, `default`, `large`, ...) are overlays: the
`profiles.<name>` mapping is deep-merged over the base sections.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

T = TypeVar("T")

# The decorator of every config class: a frozen dataclass that pydantic validates on construction
# (types, Field constraints) and that refuses unknown keys.
config = pydantic.dataclasses.dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid"))

PARAMS_FILE = "params.yaml"
PROFILE_ENV = "PADFLOW_PROFILE"


def project_root() -> Path:
    """The folder holding params.yaml: $PADFLOW_ROOT, else the nearest parent of the cwd."""
    if env := os.environ.get("PADFLOW_ROOT"):
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / PARAMS_FILE).is_file():
            return folder
    return here


def load_params(path: str | Path | None = None, profile: str | None = None) -> dict[str, Any]:
    """Read params.yaml and apply a profile overlay (argument, else $PADFLOW_PROFILE, else `profile:` key)."""
    path = Path(path) if path is not None else project_root() / PARAMS_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: top level must be a mapping of sections")
    profiles = raw.pop("profiles", {}) or {}
    name = profile or os.environ.get(PROFILE_ENV) or raw.get("profile")
    if name:
        if name not in profiles:
            raise ValueError(f"{path}: unknown profile {name!r}; valid: {', '.join(profiles) or '(none)'}")
        raw = deep_merge(raw, profiles[name])
        raw["profile"] = name
    return raw


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass `cls` from a mapping; unknown keys, missing keys and wrong types are ValueErrors."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key = f"{where}.{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{key}: missing")
            continue
        kwargs[name] = _coerce(hints[name], data[name], key)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def check_range(name: str, pair: tuple[float, float], lo: float, hi: float) -> None:
    """ValueError unless a (min, max) config pair satisfies lo <= min <= max <= hi."""
    if not lo <= pair[0] <= pair[1] <= hi:
        raise ValueError(f"{name}: must satisfy {lo} <= min <= max <= {hi}, got {list(pair)}")


def load_section(cls: type[T], section: str, params: Mapping[str, Any] | None = None) -> T:
    """`cls` from `params[section]` (params.yaml with the active profile when not given)."""
    params = load_params() if params is None else params
    return from_mapping(cls, params.get(section), section)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{key}: {value!r} not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ValueError(f"{key}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{key}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise ValueError(f"{key}: expected a path string, got {value!r}")
        return Path(value)
    return value


def set_param(path: str | Path, key: str, value: Any) -> None:
    """Set `section.field` in params.yaml in place, keeping every other line and comment as is."""
    import re

    from padflow.io import write_text

    path = Path(path)
    section, _, name = key.partition(".")
    if not section or not name or "." in name:
        raise ValueError(f"set_param takes a `section.field` key, got {key!r}")
    rendered = yaml.safe_dump(value, default_flow_style=True).strip()
    rendered = rendered.removesuffix("...").strip()
    lines = path.read_text().splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{re.escape(section)}:\s*(#.*)?$", line)), None)
    if start is None:
        lines += [f"{section}:\n", f"  {name}: {rendered}\n"]
    else:
        end = next((i for i in range(start + 1, len(lines)) if re.match(r"^\S", lines[i])), len(lines))
        field = re.compile(rf"^(\s+){re.escape(name)}:[^#\n]*(#.*)?$")
        for i in range(start + 1, end):
            if m := field.match(lines[i].rstrip("\n")):
                comment = f"  {m.group(2)}" if m.group(2) else ""
                lines[i] = f"{m.group(1)}{name}: {rendered}{comment}\n"
                break
        else:
            lines.insert(end, f"  {name}: {rendered}\n")
    write_text(path, "".join(lines))
    if load_params(path).get(section, {}).get(name) != value:  # the edit must read back as written
        raise ValueError(f"{path}: could not set {key} to {value!r}")


def set_profile(path: str | Path, name: str) -> None:
    """Make `name` the active profile in params.yaml, keeping every other line (and comment) as is."""
    import re

    from padflow.io import write_text

    path = Path(path)
    text = path.read_text()
    profiles = (yaml.safe_load(text) or {}).get("profiles", {}) or {}
    if name not in profiles:
        raise ValueError(f"{path}: unknown profile {name!r}; valid: {', '.join(profiles) or '(none)'}")
    line = re.compile(r"^profile:.*$", re.MULTILINE)
    new = line.sub(f"profile: {name}", text, count=1) if line.search(text) else f"profile: {name}\n{text}"
    if new != text:
        write_text(path, new)

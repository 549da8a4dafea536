"""params.yaml → frozen config dataclasses, validated by pydantic with errors that name the key.

Each stage owns its config class (decorated with `config`); this module only reads the files:

    params.yaml               every knob, at the values of the default run
    profiles/<name>.yaml      an overlay deep-merged over params.yaml (debug, default, large, ...);
                              it lists every section of params.yaml, `{}` for one it leaves alone
                              (dvc.yaml reads `profiles/${profile}.yaml: [<section>]` for each stage)
    run.yaml                  the run's selection: `profile`, `input` (the videos ingest reads) and
                              `overrides` (`padflow run --set KEY=VALUE`, laid over the profile; it
                              lists every section, `{}` for none, as dvc.yaml reads `overrides.<section>`);
                              written whole by `select_run`, never edited in params.yaml

dvc.yaml interpolates run.yaml (`vars`), so dvc.lock records exactly the profile file and the
input a stage ran with; nothing outside these files (no environment variable) changes a stage.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from padflow.io import write_text

T = TypeVar("T")

# The decorator of every config class: a frozen dataclass that pydantic validates on construction
# (types, Field constraints) and that refuses unknown keys.
config = pydantic.dataclasses.dataclass(frozen=True, config=pydantic.ConfigDict(extra="forbid"))

PARAMS_FILE = "params.yaml"
RUN_FILE = "run.yaml"
PROFILES_DIR = "profiles"
DEFAULT_PROFILE = "default"
DEFAULT_INPUT = "data/raw"  # the corpus stage's videos (run.yaml's committed value)
RUN_KEYS = ("profile", "input", "overrides")


def project_root() -> Path:
    """The folder holding params.yaml: $PADFLOW_ROOT, else the nearest parent of the cwd."""
    if env := os.environ.get("PADFLOW_ROOT"):
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / PARAMS_FILE).is_file():
            return folder
    return here


def _params_file(root: str | Path | None) -> Path:
    """params.yaml of `root` (the project folder, or the params file itself), else of project_root()."""
    path = Path(root) if root is not None else project_root()
    return path if path.suffix in (".yaml", ".yml") else path / PARAMS_FILE


def _read_mapping(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} not found") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    return raw


def profile_names(root: str | Path | None = None) -> list[str]:
    """The profiles of the project: the stems of profiles/*.yaml, sorted."""
    folder = _params_file(root).parent / PROFILES_DIR
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def read_run(root: str | Path | None = None) -> dict[str, Any]:
    """run.yaml's selection ({'profile', 'input', 'overrides'}); without the file: the default profile
    and input, no overrides."""
    path = _params_file(root).parent / RUN_FILE
    run = _read_mapping(path, "run file") if path.is_file() else {}
    unknown = sorted(set(run) - set(RUN_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(RUN_KEYS)}")
    for key in ("profile", "input"):
        if key in run and not isinstance(run[key], str):
            raise ValueError(f"{path}: {key} must be a string, got {run[key]!r}")
    overrides = run.get("overrides") or {}
    if not isinstance(overrides, Mapping) or not all(isinstance(v, Mapping) for v in overrides.values()):
        raise ValueError(f"{path}: overrides must map each params.yaml section to its keys ({{}} for none), got {overrides!r}")
    return {"profile": run.get("profile", DEFAULT_PROFILE), "input": run.get("input", DEFAULT_INPUT), "overrides": dict(overrides)}


def load_profile(root: str | Path | None, name: str, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """profiles/<name>.yaml, checked against params.yaml (`base`): every section listed, no other key."""
    params_file = _params_file(root)
    path = params_file.parent / PROFILES_DIR / f"{name}.yaml"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or not path.is_file():
        valid = ", ".join(profile_names(params_file)) or "(none)"
        raise ValueError(f"{path}: unknown profile {name!r}; valid: {valid}")
    overlay = _read_mapping(path, "profile")
    base = _read_mapping(params_file, "params file") if base is None else base
    sections = [key for key, value in base.items() if isinstance(value, Mapping)]
    missing = [s for s in sections if s not in overlay]
    if missing:
        raise ValueError(
            f"{path}: missing section(s) {', '.join(missing)}; a profile lists every section of "
            f"{PARAMS_FILE} ({{}} for one it leaves alone): dvc.yaml reads each stage's section from it"
        )
    unknown = sorted(set(overlay) - set(base))
    if unknown:
        raise ValueError(f"{path}: key(s) {', '.join(unknown)} not in {params_file}")
    for key, value in overlay.items():
        if isinstance(base[key], Mapping) and not isinstance(value, Mapping):
            raise ValueError(f"{path}: {key} must be a mapping ({{}} to leave it alone), got {value!r}")
    return overlay


def load_params(root: str | Path | None = None, profile: str | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """params.yaml deep-merged with profiles/<profile>.yaml (the argument, else run.yaml's profile),
    then with the overrides ({section: {key: value}}: the argument, else run.yaml's).

    `root` is the project folder or its params.yaml (default: project_root()). The result also
    carries run.yaml's selection: `profile` (the overlay applied) and `input` (ingest's videos).
    """
    params_file = _params_file(root)
    base = _read_mapping(params_file, "params file")
    for key in (*RUN_KEYS, "profiles"):
        if key in base:
            raise ValueError(
                f"{params_file}: `{key}` does not belong in {PARAMS_FILE}: the profile and input are chosen "
                f"in {RUN_FILE} (select_run / `padflow run --profile`), profiles live in {PROFILES_DIR}/<name>.yaml"
            )
    run = read_run(params_file)
    name = profile or run["profile"]
    params = deep_merge(base, load_profile(params_file, name, base))
    chosen = run["overrides"] if overrides is None else overrides
    params = deep_merge(params, checked_overrides(chosen, base, params_file.parent / RUN_FILE if overrides is None else "--set"))
    return {**params, "profile": name, "input": run["input"]}


def checked_overrides(overrides: Mapping[str, Any], base: Mapping[str, Any], where: str | Path) -> dict[str, Any]:
    """`overrides` ({section: {key: value}}) when every section is a mapping section of params.yaml
    (`base`); what the keys may hold is checked with the rest (padflow.params_schema)."""
    sections = [key for key, value in base.items() if isinstance(value, Mapping)]
    unknown = sorted(set(overrides) - set(sections))
    if unknown:
        raise ValueError(f"{where}: overrides: {', '.join(unknown)} is not a section of {PARAMS_FILE}; "
                         f"sections: {', '.join(sections)} (a top-level key such as seed is set in {PARAMS_FILE} or a profile)")
    return {section: dict(value) for section, value in overrides.items() if value}


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """`SECTION.KEY[.SUB]=VALUE` pairs (`padflow run --set`) as nested {section: {key: value}}; VALUE is
    read as YAML (3e-4 as a number too, where YAML 1.1 would read a string)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) for p in parts):
            raise ValueError(f"--set {pair!r}: expected SECTION.KEY=VALUE, e.g. train.lr=3e-4")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"--set {pair!r}: VALUE is not valid YAML: {exc}") from None
        if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
            value = float(value)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {pair!r}: {part} is set to a value and used as a section")
        node[parts[-1]] = value
    return out


def format_overrides(overrides: Mapping[str, Any], prefix: str = "") -> str:
    """{train: {lr: 0.0003}} → "train.lr=0.0003": overrides as `padflow run --set` takes them."""
    parts = [format_overrides(value, f"{prefix}{key}.") if isinstance(value, Mapping) else f"{prefix}{key}={value}"
             for key, value in overrides.items()]
    return " ".join(p for p in parts if p)


def chosen_input(root: str | Path | None, input: str | Path | None, option: str = "--input") -> str | None:
    """What `padflow run --input PATH` writes into run.yaml: None for no PATH (keep run.yaml's), DEFAULT_INPUT where PATH
    is the corpus's folder (back to the corpus, made by the run even in a fresh clone), else PATH resolved; ValueError
    (naming `option`) where that does not exist."""
    if input is None or str(input) == "":
        return None
    path = Path(input).expanduser()
    folder = _params_file(root).parent
    resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if resolved == (folder / DEFAULT_INPUT).resolve():
        return DEFAULT_INPUT
    if not resolved.exists():
        raise ValueError(f"{option} {input}: no such folder or manifest")
    return str(resolved)


def select_run(root: str | Path | None = None, profile: str | None = None, input: str | Path | None = None,
               overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Choose the profile, input and/or overrides of the next run: rewrite run.yaml whole (atomically);
    returns the selection.

    Arguments left None keep run.yaml's current value; `overrides` ({section: {key: value}}, see
    parse_overrides) replaces the previous ones. params.yaml is never edited.
    """
    params_file = _params_file(root)
    run = read_run(params_file)
    base = _read_mapping(params_file, "params file")
    if profile is not None:
        load_profile(params_file, profile, base)  # ValueError naming the file for an unknown or incomplete profile
        run["profile"] = profile
    if input is not None:
        run["input"] = str(input)
    if overrides is not None:
        run["overrides"] = dict(overrides)
    chosen = checked_overrides(run["overrides"], base, params_file.parent / RUN_FILE)
    # Every section listed ({} for none): dvc.yaml reads `run.yaml: overrides.<section>` for each stage.
    run["overrides"] = {key: chosen.get(key, {}) for key, value in base.items() if isinstance(value, Mapping)}
    text = (
        "# The run's selection, read by dvc.yaml (vars, params) and padflow.config.load_params. Written by\n"
        "# `padflow run --profile NAME --input PATH --set SECTION.KEY=VALUE` (padflow.config.select_run);\n"
        "# params.yaml stays as is. profile: the overlay in profiles/<profile>.yaml; input: the folder or\n"
        "# manifest of videos ingest reads; overrides: laid over params.yaml and the profile ({} for none).\n"
        + yaml.safe_dump({key: run[key] for key in RUN_KEYS}, sort_keys=False, default_flow_style=False)
    )
    path = params_file.parent / RUN_FILE
    if not path.is_file() or path.read_text() != text:
        write_text(path, text)
    return run


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def from_mapping(cls: type[T], data: Mapping[str, Any] | None, where: str) -> T:
    """Build config dataclass `cls` from a mapping; unknown keys, missing keys and wrong types are ValueErrors.

    pydantic validates it (a `config` class or a stdlib dataclass) in strict JSON mode, the
    semantics of a YAML document: a list fills a tuple and a string a Path, but "3" is no integer
    and `true` no number. Every error is one line `<where>.<key>: <reason>, got <value>`.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")
    if dataclasses.is_dataclass(cls):  # stdlib dataclasses ignore unknown keys in pydantic: check them here
        _check_known(cls, data, where)
    try:
        document = json.dumps(data, default=_jsonable, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not a plain mapping of values: {exc}") from None
    try:
        return _adapter(cls).validate_json(document, strict=True)
    except pydantic.ValidationError as exc:
        raise ValueError("; ".join(_describe(cls, error, where) for error in exc.errors())) from None


def check_range(name: str, pair: tuple[float, float], lo: float, hi: float) -> None:
    """ValueError unless a (min, max) config pair satisfies lo <= min <= max <= hi."""
    if not lo <= pair[0] <= pair[1] <= hi:
        raise ValueError(f"{name}: must satisfy {lo} <= min <= max <= {hi}, got {list(pair)}")


def load_section(cls: type[T], section: str, params: Mapping[str, Any] | None = None) -> T:
    """`cls` from `params[section]` (params.yaml with the selected profile when not given)."""
    params = load_params() if params is None else params
    return from_mapping(cls, params.get(section), section)


@functools.lru_cache(maxsize=None)
def _adapter(cls: type) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(cls)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():  # a numpy scalar
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{value!r} ({type(value).__name__}) is not a YAML value")


def _check_known(cls: type, data: Mapping[str, Any], where: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(str(k) for k in set(data) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(names)}")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        inner = _dataclass_of(hints[name])
        if inner is not None and isinstance(value, Mapping):
            _check_known(inner, value, f"{where}.{name}")


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a field's type holds (itself, or the dataclass arm of an Optional/Union), else None."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arms = [a for a in (_dataclass_of(arg) for arg in typing.get_args(hint)) if a is not None]
        return arms[0] if len(arms) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _hint_at(cls: type, loc: tuple[Any, ...]) -> Any:
    """The type hint at pydantic error location `loc` inside `cls` (None where it cannot be followed)."""
    hint: Any = cls
    for part in loc:
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        if isinstance(part, str):
            holder = _dataclass_of(hint)
            if holder is None:
                return None
            hint = typing.get_type_hints(holder).get(part)
        elif typing.get_origin(hint) is tuple:
            args = typing.get_args(hint)
            hint = args[0] if len(args) == 2 and args[1] is Ellipsis else (args[part] if part < len(args) else None)
        else:
            return None
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint


def _key(where: str, loc: tuple[Any, ...]) -> str:
    return where + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _describe(cls: type, error: Mapping[str, Any], where: str) -> str:
    """One pydantic error as `<full key>: <reason>, got <value>`."""
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    kind, msg, value = error["type"], error["msg"], error.get("input")
    if kind == "unexpected_keyword_argument" and loc:
        holder = _dataclass_of(_hint_at(cls, loc[:-1]))
        valid = f"; valid: {', '.join(f.name for f in dataclasses.fields(holder))}" if holder else ""
        return f"{_key(where, loc[:-1])}: unknown key(s) {loc[-1]}{valid}"
    if kind == "missing" and loc and isinstance(loc[-1], int):
        tuple_hint = _hint_at(cls, loc[:-1])
        args = typing.get_args(tuple_hint) if typing.get_origin(tuple_hint) is tuple else ()
        count = len(value) if isinstance(value, (list, tuple)) else value
        return f"{_key(where, loc[:-1])}: expected {len(args)} values, got {count}"
    if kind == "too_long" and isinstance(value, (list, tuple)):
        tuple_hint = _hint_at(cls, loc)
        args = typing.get_args(tuple_hint) if typing.get_origin(tuple_hint) is tuple else ()
        if args and args[-1] is not Ellipsis:
            return f"{_key(where, loc)}: expected {len(args)} values, got {len(value)}"
    if kind == "missing":
        return f"{_key(where, loc)}: missing"
    if kind in ("value_error", "assertion_error"):
        reason = str(error.get("ctx", {}).get("error", "")) or msg.removeprefix("Value error, ")
        return f"{_key(where, loc)}: {reason}"
    return f"{_key(where, loc)}: {msg}, got {value!r}"


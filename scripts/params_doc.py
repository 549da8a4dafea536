"""Write docs/params.md from the config classes' field descriptions: `python scripts/params_doc.py [--check]`.

Each params.yaml section is read into one config class (SECTIONS); its fields' descriptions,
types, constraints and defaults (which equal params.yaml: tests/test_params.py) make the page,
with what each profile changes. Keys no class reads are described in PLAIN_KEYS.

--check: write nothing; exit 1 when docs/params.md is not current (tests/test_params.py runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = Path("docs") / "params.md"

# params.yaml key → the config class that reads it ("module:Class"). Nested config classes (a field
# whose type is one, e.g. extract.localize) are documented with their parent.
SECTIONS: dict[str, str] = {
    "corpus": "tasks.corpus:CorpusConfig",
    "ingest": "padflow.ingest.config:IngestConfig",
    "parser_train": "tasks.parser_train:ParserTrainConfig",
    "extract": "tasks.extract:ExtractConfig",
    "gate": "tasks.gate:GateConfig",
    "idm_train": "tasks.idm_train:IdmTrainConfig",
    "pseudo_label": "tasks.pseudo_label:PseudoLabelConfig",
    "train": "tasks.train:TrainConfig",
    "evaluate": "tasks.evaluate:EvaluateConfig",
    "transfer": "padflow.experiments.transfer:TransferConfig",
    "idm_gain": "padflow.experiments.idm_gain:IdmGainConfig",
    "orchestration.task_runner": "padflow.fanout:TaskRunnerConfig",
}
# Mappings of named entries, each read into a class: documented once, not compared with a default.
ENTRIES: dict[str, str] = {
    "train.models": "models.policy.configuration:PolicyConfig",
}
# Keys of params.yaml / run.yaml that no config class reads: (default, meaning).
PLAIN_KEYS: dict[str, tuple[Any, str]] = {
    "seed": (0, "root of every random stream (corpus plans, training, evaluation seeds)"),
    "overlay.skin_dirs": (["skins"], "folders of your own controller skins (layout <id>.json + its PNG, parametric or sprite), "
                                     "besides the built-in ones; read by corpus, parser_train and extract, and deps of those "
                                     "stages in dvc.yaml. `padflow skins add` copies into the first"),
    "orchestration.cron": ("0 3 * * *", "`padflow serve` schedule (server time)"),
    "orchestration.deployment": ("nightly", "Prefect deployment name of `padflow serve`"),
    "orchestration.stage_runners": ({"extract": {"kind": "thread"}},
                                    "a stage's own runner, laid over task_runner (TaskRunnerConfig fields); "
                                    "remove an entry to send that stage to a cluster. Not a DVC param: where work "
                                    "runs does not change results"),
}
RUN_KEYS: dict[str, str] = {
    "profile": "the overlay laid over params.yaml: profiles/<profile>.yaml (default, debug, large, idm, ...)",
    "input": "the folder of videos (its manifest.json, if any, gives source/licence/game) or the manifest file "
             "that ingest reads; data/raw is the corpus stage's output",
}
PROFILES = ("default", "debug", "large", "idm")


def load_class(spec: str) -> type:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def _unwrap(hint: Any) -> Any:
    while typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint


def nested_class(hint: Any) -> type | None:
    """The config class a field holds (itself or the one arm of an Optional), else None."""
    hint = _unwrap(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        arms = [a for a in (nested_class(arg) for arg in typing.get_args(hint)) if a is not None]
        return arms[0] if len(arms) == 1 else None
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def type_name(hint: Any) -> str:
    hint = _unwrap(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("null" if a is type(None) else type_name(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {type_name(args[0])}"
        return "[" + ", ".join(type_name(a) for a in args) + "]"
    if origin in (list, set, frozenset):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return f"mapping of {type_name(args[1])}" if len(args) == 2 else "mapping"
    if hint is Any:
        return "any"
    if hint is type(None):
        return "null"
    if isinstance(hint, type):
        return {"str": "string", "Path": "path", "bool": "true/false", "int": "integer", "float": "number"}.get(
            hint.__name__, hint.__name__)
    return re.sub(r"\btyping\.", "", str(hint))


def constraints(info: Any) -> str:
    """pydantic Field constraints (ge/gt/le/lt/lengths) as text."""
    out = []
    for item in getattr(info, "metadata", ()) or ():
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"), ("min_length", "min length"),
                           ("max_length", "max length"), ("multiple_of", "multiple of")):
            value = getattr(item, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
    return ", ".join(out)


REQUIRED = object()


def field_default(cls: type, name: str) -> Any:
    """The code default of field `name` (REQUIRED when it has none)."""
    info = getattr(cls, "__pydantic_fields__", {}).get(name)
    if info is not None:
        return REQUIRED if info.is_required() else info.get_default(call_default_factory=True)
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return REQUIRED


def render_value(value: Any) -> str:
    if value is REQUIRED:
        return "required"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    text = json.dumps(_plain(value), ensure_ascii=False)
    return f"`{text}`" if len(text) <= 60 else "see params.yaml"


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _lookup(mapping: Mapping[str, Any] | None, dotted: str) -> tuple[bool, Any]:
    node: Any = mapping
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def profile_overlays(root: Path) -> dict[str, dict[str, Any]]:
    import yaml

    return {name: yaml.safe_load((root / "profiles" / f"{name}.yaml").read_text()) or {}
            for name in PROFILES if (root / "profiles" / f"{name}.yaml").is_file()}


def _profiles_cell(overlays: Mapping[str, Mapping[str, Any]], key: str, nested: bool) -> str:
    if nested:
        return ""
    cells = []
    for name, overlay in overlays.items():
        found, value = _lookup(overlay, key)
        if found:
            cells.append(f"{name}: {render_value(value)}")
    return "; ".join(cells)


def class_table(cls: type, prefix: str, overlays: Mapping[str, Mapping[str, Any]], defaults: bool = True) -> list[str]:
    """Rows for `cls`'s fields, then a sub-table per nested config class."""
    infos = getattr(cls, "__pydantic_fields__", {})
    hints = typing.get_type_hints(cls, include_extras=True)
    header = ["| key | type | default | constraints | profiles | meaning |", "|---|---|---|---|---|---|"]
    if not defaults:
        header = ["| key | type | constraints | meaning |", "|---|---|---|---|"]
    rows, subs = list(header), []
    for f in dataclasses.fields(cls):
        info = infos.get(f.name)
        description = getattr(info, "description", None) or ""
        inner = nested_class(hints[f.name])
        key = f"{prefix}.{f.name}"
        if inner is not None:
            description = f"{description} (fields: [{key}](#{_anchor(key)}))".strip()
            subs.append((key, inner))
        if defaults:
            default = "see below" if inner is not None else render_value(field_default(cls, f.name))
            rows.append(f"| `{f.name}` | {_cell(type_name(hints[f.name]))} | {default} | {_cell(constraints(info))} "
                        f"| {_cell(_profiles_cell(overlays, key, inner is not None))} | {_cell(description)} |")
        else:
            rows.append(f"| `{f.name}` | {_cell(type_name(hints[f.name]))} | {_cell(constraints(info))} "
                        f"| {_cell(description)} |")
    out = rows
    for key, inner in subs:
        out += ["", f"### {key}", "", f"`{inner.__module__}.{inner.__qualname__}`", "", *class_table(inner, key, overlays, defaults)]
    return out


def _anchor(key: str) -> str:
    return re.sub(r"[^a-z0-9_ -]", "", key.lower()).replace(" ", "-")


def render(root: Path = ROOT) -> str:
    overlays = profile_overlays(root)
    lines = [
        "# Parameters",
        "",
        "<!-- Generated by `python scripts/params_doc.py` from the config classes' field descriptions; "
        "do not edit by hand. -->",
        "",
        "`params.yaml` holds every knob at the default run's values, which are also the config classes' defaults "
        "(tests/test_params.py). A profile (`profiles/<name>.yaml`) is laid over it; `run.yaml` selects the profile "
        "and the input videos (`padflow run --profile NAME --input PATH` writes it). Each stage's section is "
        "validated on load: a wrong value fails with the key named (`train.lr: Input should be a valid number, "
        "got 'fast'`). The *profiles* column lists what the debug, large and idm profiles change.",
        "",
        "## run.yaml",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{key}` | {_cell(text)} |" for key, text in RUN_KEYS.items()),
        "",
        "## Keys no config class reads",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
        *(f"| `{key}` | {render_value(default)} | {_cell(text)} |" for key, (default, text) in PLAIN_KEYS.items()),
    ]
    for section, spec in SECTIONS.items():
        cls = load_class(spec)
        lines += ["", f"## {section}", "", f"`{cls.__module__}.{cls.__qualname__}`", "", *class_table(cls, section, overlays)]
    for section, spec in ENTRIES.items():
        cls = load_class(spec)
        lines += ["", f"## {section}.&lt;name&gt;", "",
                  f"`{cls.__module__}.{cls.__qualname__}`, one per named entry (params.yaml lists the sizes).", "",
                  *class_table(cls, f"{section}.<name>", overlays, defaults=False)]
    return "\n".join(lines) + "\n"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether docs/params.md is current")
    args = parser.parse_args(list(argv) if argv is not None else None)
    text, path = render(ROOT), ROOT / DOC
    current = path.read_text() if path.is_file() else ""
    if args.check:
        if text != current:
            print(f"{DOC} is stale: run `python scripts/params_doc.py`", file=sys.stderr)
            return 1
        return params_schema_script().main(["--check"])
    if text != current:
        from padflow.io import write_text

        write_text(path, text)
        print(f"{path}: written")
    return params_schema_script().main([])


def params_schema_script() -> Any:
    """scripts/params_schema.py: padflow/params.schema.json comes from the same classes, so this one
    command keeps both current (and --check checks both)."""
    spec = importlib.util.spec_from_file_location("params_schema_script", ROOT / "scripts" / "params_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(main())

"""Write each dvc.yaml stage's code deps from the import graph: `python scripts/dvc_deps.py [--check]`.

A stage runs `tasks/<stage>.py`; its code deps are every project module that file imports,
directly or not (grimp, the graph import-linter uses; function-local imports count too), plus the
`__init__.py` of every package on the way (Python runs them), plus the data folders those packages
read. A folder is listed whole when all of its modules are imported, else its files one by one.
Deps outside the code (data/..., ${input}) are kept as written, after the code, with their comments.
Each stage's params also get `run.yaml: [overrides.<section>, ...]` for the sections it reads from the
profile (`padflow run --set`, padflow.config.select_run), so an override reruns exactly those stages.

--check: write nothing; exit 1 and print the difference when dvc.yaml is not current
(tests/test_dvc_record.py runs it).
"""

from __future__ import annotations

import argparse
import difflib
import io
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("tasks", "models", "padflow")  # top-level packages a stage's imports are followed into
# Imports by name (importlib.import_module) that no import graph sees: module → what it imports
# that way (a package: all of its modules). A module that imports by name must be listed here or
# in DISPATCHERS, else the generator stops (tests/test_dvc_record.py).
DYNAMIC_IMPORTS = {
    "padflow.sim.registry": ("padflow.sim.suite", "padflow.sim.engines"),  # a task's suite and engine by engine name
    "padflow.players": ("padflow.players.scripted",),  # the scripted player of a task's engine
}
# Modules that import by name only to dispatch to their caller: `padflow stage NAME` → tasks.NAME,
# the CLI → its commands. A stage is already its own dep; they add nothing.
DISPATCHERS = ("padflow.stages", "padflow.cli")
DYNAMIC_MARKERS = ("import_module(", "__import__(")
DVC_FILE = "dvc.yaml"
# Data a package reads from outside its own folder, listed whenever the package is imported
# (package → paths). Data inside a package folder (padflow/overlay/skins) is found on its own.
PACKAGE_DATA: dict[str, tuple[str, ...]] = {}
# Folders a stage reads because a params key names them (key → the params section a stage must
# list in dvc.yaml to read it): the user's skin folders are deps of corpus, parser_train and
# extract, so adding a skin reruns them; the shipped parser (one folder, or null) of parser_train.
# Taken from params.yaml; rerun this script after editing the key.
PARAM_FOLDERS: dict[str, str] = {"overlay.skin_dirs": "overlay", "parser_train.asset": "parser_train"}
PARAMS_FILE = "params.yaml"
PROFILE_PARAMS = "profiles/${profile}.yaml"  # a stage's params entry naming the sections it reads from the profile
RUN_PARAMS = "run.yaml"
OVERRIDES_KEY = "overrides"  # run.yaml's `padflow run --set` values, by section
SKIP_DIRS = {"__pycache__"}


def build_graph(root: Path = ROOT):
    import grimp

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return grimp.build_graph(*CODE_PACKAGES, include_external_packages=False, cache_dir=None)


def module_file(root: Path, module: str) -> Path:
    base = root.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def imported_by_name(graph, module: str, root: Path = ROOT) -> set[str]:
    """What `module` imports by name (DYNAMIC_IMPORTS); ValueError when it does so unlisted."""
    if module in DISPATCHERS:
        return set()
    if module not in DYNAMIC_IMPORTS:
        source = module_file(root, module).read_text()
        if any(marker in source for marker in DYNAMIC_MARKERS):
            raise ValueError(f"{module} imports modules by name: list them in scripts/dvc_deps.py DYNAMIC_IMPORTS "
                             "(or the module in DISPATCHERS)")
        return set()
    out: set[str] = set()
    for target in DYNAMIC_IMPORTS[module]:
        if target not in graph.modules:
            raise ValueError(f"scripts/dvc_deps.py DYNAMIC_IMPORTS: {module} → {target}: no such module")
        out |= {target} | graph.find_descendants(target)
    return out


def imported_modules(graph, module: str, root: Path = ROOT) -> set[str]:
    """`module`, all it imports transitively (by name too), and every package whose __init__ those imports run."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(graph.find_upstream_modules(name) - seen)
        todo.extend(imported_by_name(graph, name, root) - seen)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) not in seen)
    return seen


def _package_data(folder: Path) -> list[Path]:
    """Files and folders inside a package folder that are neither modules nor subpackages."""
    return [p for p in sorted(folder.iterdir())
            if p.name not in SKIP_DIRS and not (p.is_file() and p.suffix in (".py", ".pyc"))
            and not (p.is_dir() and (p / "__init__.py").is_file())]


def _all_sources(folder: Path) -> set[Path]:
    out: set[Path] = set()
    for path in folder.rglob("*"):
        if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(folder).parts) and path.suffix != ".pyc":
            out.add(path)
    return out


def collapse(root: Path, files: set[Path]) -> list[str]:
    """The fewest paths covering `files` exactly: a folder when every file under it is in `files`."""
    out: list[str] = []

    def walk(folder: Path) -> None:
        everything = _all_sources(folder)
        if everything and everything <= files:
            out.append(folder.relative_to(root).as_posix())
            return
        for path in sorted(folder.iterdir()):
            if path.name in SKIP_DIRS:
                continue
            if path.is_dir():
                if _all_sources(path) & files:
                    walk(path)
            elif path in files:
                out.append(path.relative_to(root).as_posix())

    for top in CODE_PACKAGES:
        if (root / top).is_dir() and _all_sources(root / top) & files:
            walk(root / top)
    return out


def code_deps(graph, stage: str, root: Path = ROOT) -> list[str]:
    """The code deps of `stage`: tasks/<stage>.py's import closure as collapsed paths, then package data outside it."""
    modules = imported_modules(graph, f"tasks.{stage}", root)
    files: set[Path] = set()
    extra: list[str] = []
    for name in modules:
        path = module_file(root, name)
        files.add(path)
        if path.name == "__init__.py":
            for data in _package_data(path.parent):
                files.update(_all_sources(data) if data.is_dir() else {data})
        for data in PACKAGE_DATA.get(name, ()):
            if (root / data).exists() and data not in extra:
                extra.append(data)
    return collapse(root, files) + sorted(extra)


def param_folders(root: Path, sections: Iterable[str]) -> list[str]:
    """The folders PARAM_FOLDERS keys of params.yaml name, for a stage that reads `sections`; ValueError if one is missing."""
    from ruamel.yaml import YAML

    params = YAML(typ="safe").load((root / PARAMS_FILE).read_text()) or {}
    out: list[str] = []
    for key, section in PARAM_FOLDERS.items():
        if section not in sections:
            continue
        value = params
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        for folder in [value] if isinstance(value, str) else value or ():
            folder = Path(str(folder)).as_posix()
            if not (root / folder).is_dir():
                raise ValueError(f"{PARAMS_FILE}: {key}: folder {folder!r} not found; create it (DVC needs every dep to exist)")
            if folder not in out:
                out.append(folder)
    return out


def is_code(dep: str) -> bool:
    first = dep.split("/", 1)[0]
    return first in CODE_PACKAGES or any(dep == d for paths in PACKAGE_DATA.values() for d in paths)


def stages(root: Path = ROOT) -> list[str]:
    from ruamel.yaml import YAML

    return list(YAML().load((root / DVC_FILE).read_text())["stages"])


def stage_deps(root: Path = ROOT, graph=None) -> dict[str, list[str]]:
    """{stage: generated deps} for every stage of dvc.yaml: its code deps, then the folders its params name (PARAM_FOLDERS)."""
    from ruamel.yaml import YAML

    graph = build_graph(root) if graph is None else graph
    doc = YAML(typ="safe").load((root / DVC_FILE).read_text())["stages"]
    return {stage: code_deps(graph, stage, root) + param_folders(root, {p for p in doc[stage].get("params", []) if isinstance(p, str)})
            for stage in stages(root)}


def render(root: Path = ROOT, graph=None) -> str:
    """dvc.yaml with every stage's code deps regenerated (everything else as it is)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedSeq

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load((root / DVC_FILE).read_text())
    deps_of = stage_deps(root, graph)
    folders = set(param_folders(root, set(PARAM_FOLDERS.values())))  # written by this script: replaced, not kept
    for stage, body in doc["stages"].items():
        old = body.get("deps") or CommentedSeq()
        new = CommentedSeq(deps_of[stage])
        for index, dep in enumerate(old):
            if isinstance(dep, str) and (is_code(dep) or dep in folders):
                continue
            new.append(dep)
            if index in old.ca.items:
                new.ca.items[len(new) - 1] = old.ca.items[index]
        if old.ca.comment:
            new.ca.comment = old.ca.comment
        body["deps"] = new
        set_override_params(body.get("params") or [])
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def set_override_params(params) -> None:
    """In a stage's params list: `run.yaml: [overrides.<s>, ...]` for each section <s> of its profile entry
    (other run.yaml keys, such as ingest's `input`, kept first); nothing for a stage without a profile entry."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    sections: list[str] = []
    run_entry = None
    for entry in params:
        if isinstance(entry, dict) and PROFILE_PARAMS in entry:
            sections = [str(s) for s in entry[PROFILE_PARAMS]]
        if isinstance(entry, dict) and RUN_PARAMS in entry:
            run_entry = entry
    if not sections:
        return
    wanted = [f"{OVERRIDES_KEY}.{section}" for section in sections]
    if run_entry is None:
        params.append(CommentedMap([(RUN_PARAMS, CommentedSeq(wanted))]))
        return
    old = run_entry[RUN_PARAMS]
    kept = CommentedSeq(k for k in old if not str(k).startswith(f"{OVERRIDES_KEY}."))
    for index, key in enumerate(old):
        if not str(key).startswith(f"{OVERRIDES_KEY}.") and index in old.ca.items:
            kept.ca.items[list(kept).index(key)] = old.ca.items[index]
    kept.extend(wanted)
    run_entry[RUN_PARAMS] = kept


def check(root: Path = ROOT) -> str:
    """'' when dvc.yaml's code deps are current, else a unified diff of what the generator would write."""
    current, fresh = (root / DVC_FILE).read_text(), render(root)
    if current == fresh:
        return ""
    return "".join(difflib.unified_diff(current.splitlines(True), fresh.splitlines(True), "dvc.yaml", "generated"))


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether dvc.yaml is current")
    parser.add_argument("--root", type=Path, default=ROOT, help="project folder (default: this checkout)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    root = args.root.resolve()
    if args.check:
        diff = check(root)
        if diff:
            print(diff + "\ndvc.yaml's code deps are stale: run `python scripts/dvc_deps.py`", file=sys.stderr)
            return 1
        return 0
    text = render(root)
    if text != (root / DVC_FILE).read_text():
        from padflow.io import write_text

        write_text(root / DVC_FILE, text)
        print(f"{root / DVC_FILE}: code deps rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())

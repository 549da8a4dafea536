"""dvc.lock records exactly what each stage read: its code (the import graph), its params, its profile.

On a copy of the project whose outputs are stand-in files, `dvc commit -f` records every stage
without running one; then each edit below must make `dvc status` list exactly the stages that
read what was edited: a module a stage imports (directly, transitively or by name), a params
section, a profile file, run.yaml.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("dvc_deps", ROOT / "scripts" / "dvc_deps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dvc_deps = _generator()


def _changed(project: Path) -> set[str]:
    """The stages `dvc status` reports as changed (DVC's API in this process: ~1 s, not ~7 s a command)."""
    from dvc.repo import Repo

    with contextlib.chdir(project), Repo(str(project)) as repo:
        return set(repo.status())


def _stand_in_outputs(project: Path) -> None:
    """A file or folder for every stage output and data dep, so `dvc commit` can record them."""
    doc = yaml.safe_load((project / "dvc.yaml").read_text())
    run = yaml.safe_load((project / "run.yaml").read_text())
    paths: list[str] = [run["input"]]
    for body in doc["stages"].values():
        for entry in [*body.get("outs", []), *body.get("metrics", []), *body.get("deps", [])]:
            paths.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    for rel in paths:
        path = project / rel.replace("${input}", run["input"])
        if path.exists():
            continue
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("{}\n")
        else:
            path.mkdir(parents=True)
            (path / "stand-in.txt").write_text(rel)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, make_project) -> Path:
    """A default-profile copy of the project with every stage recorded in dvc.lock and up to date."""
    project = make_project(tmp_path_factory.mktemp("record") / "project", profile="default")
    _stand_in_outputs(project)  # in data/ and metrics/, which git ignores: the copy's commit stays clean
    from dvc.repo import Repo

    with contextlib.chdir(project), Repo(str(project)) as repo:
        repo.commit(force=True)  # `dvc commit -f`: records deps, params and outs without running a stage
    assert _changed(project) == set(), "a freshly committed record must be up to date"
    return project


def _edited(project: Path, rel: str, edit) -> set[str]:
    """The stages `dvc status` marks after `edit(text) -> text` on one file (restored afterwards)."""
    path = project / rel
    before = path.read_text()
    path.write_text(edit(before))
    try:
        return _changed(project)
    finally:
        path.write_text(before)


def _touch(text: str) -> str:
    return text + "\n# touched\n"


def _yaml_edit(change):
    def edit(text: str) -> str:
        doc = yaml.safe_load(text)
        change(doc)
        return yaml.safe_dump(doc, sort_keys=False)
    return edit


@pytest.fixture(scope="module")
def closures() -> dict[str, set[str]]:
    """{stage: every module tasks/<stage>.py runs}, from the import graph."""
    graph = dvc_deps.build_graph(ROOT)
    return {stage: dvc_deps.imported_modules(graph, f"tasks.{stage}", ROOT) for stage in dvc_deps.stages(ROOT)}


def _status(project: Path) -> dict:
    from dvc.repo import Repo

    with contextlib.chdir(project), Repo(str(project)) as repo:
        return repo.status()


def _code_files(root: Path) -> list[Path]:
    """Every file of the code packages (modules and package data), relative to `root`."""
    return sorted(p.relative_to(root) for top in dvc_deps.CODE_PACKAGES for p in (root / top).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def _module_of(rel: Path) -> str:
    """The module a code file is, or for package data the package that holds it."""
    if rel.suffix == ".py":
        parts = rel.with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    folder = rel.parent
    while not (ROOT / folder / "__init__.py").is_file():
        folder = folder.parent
    return ".".join(folder.parts)


def test_dvc_yaml_code_deps_are_current():
    diff = dvc_deps.check(ROOT)
    assert not diff, f"dvc.yaml's code deps differ from the import graph; run `python scripts/dvc_deps.py`:\n{diff}"


def test_checkpoints_and_caches_are_not_dvc_outputs():
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = [next(iter(o)) if isinstance(o, dict) else o for body in doc["stages"].values() for o in body.get("outs", [])]
    for kept_out in ("data/train/checkpoints", "data/train/frame_cache", "data/parser/checkpoints"):
        assert not any(kept_out == out or kept_out.startswith(out + "/") for out in outs), outs
    assert {"data/train/policy", "data/parser/parser.safetensors"} <= set(outs)


@pytest.mark.slow
def test_touching_any_code_file_marks_exactly_the_stages_that_import_it(recorded: Path, closures):
    """Every file of tasks/, models/ and padflow/ at once; `dvc status` says which dep each stage saw change."""
    files = _code_files(recorded)
    originals = {rel: (recorded / rel).read_bytes() for rel in files}
    for rel in files:
        (recorded / rel).write_bytes(originals[rel] + b"\n# touched\n")
    try:
        status = _status(recorded)
    finally:
        for rel, data in originals.items():
            (recorded / rel).write_bytes(data)
    seen: dict[str, set[str]] = {}  # stage → the deps it reported changed
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, dict):
                seen.setdefault(stage, set()).update((entry.get("changed deps") or {}).keys())
    wrong = {}
    for rel in files:
        module = _module_of(rel)
        expected = {stage for stage, modules in closures.items() if module in modules}
        marked = {stage for stage, deps in seen.items()
                  if any(rel.as_posix() == dep or rel.as_posix().startswith(dep.rstrip("/") + "/") for dep in deps)}
        if marked != expected:
            wrong[rel.as_posix()] = {"marked": sorted(marked), "import it": sorted(expected)}
    assert not wrong, json.dumps(wrong, indent=1)
    assert _changed(recorded) == set()


@pytest.mark.slow
def test_params_mark_exactly_the_stages_that_read_them(recorded: Path):
    def setp(*keys, value):
        def change(doc):
            for key in keys[:-1]:
                doc = doc.setdefault(key, {})
            doc[keys[-1]] = value
        return _yaml_edit(change)

    stages = set(dvc_deps.stages(ROOT))
    cases = [
        ("params.yaml", _yaml_edit(lambda doc: None), set()),  # rewriting the same values changes nothing
        # pseudo_label cuts its tables by the gate's chunking rule (padflow.chunking): it reads the gate section
        ("params.yaml", setp("gate", "min_action_density", value=0.4), {"gate", "pseudo_label"}),
        ("params.yaml", setp("extract", "localize", "min_inliers", value=21), {"extract", "gate"}),
        ("params.yaml", setp("overlay", "skin_dirs", value=["mine"]), {"corpus", "parser_train", "extract"}),
        ("params.yaml", setp("seed", value=1), {"corpus", "parser_train", "idm_train", "train", "evaluate"}),
        ("params.yaml", setp("pseudo_label", "min_confidence", value=0.7), {"pseudo_label"}),
        ("params.yaml", setp("orchestration", "deployment", value="other"), set()),
        ("params.yaml", setp("transfer", "episodes", value=3), set()),
        ("params.yaml", setp("idm_gain", "episodes", value=3), set()),
        ("params.yaml", setp("train", "label_sources", value=["overlay", "idm"]), {"train"}),
        ("profiles/large.yaml", setp("parser_train", "epochs", value=9), set()),
        ("profiles/large.yaml", setp("train", "max_steps", value=9), set()),
        ("profiles/default.yaml", setp("train", "max_steps", value=9), {"train"}),
        ("profiles/default.yaml", setp("corpus", "videos", value=5), {"corpus"}),
        ("run.yaml", setp("profile", value="debug"), stages),
        ("run.yaml", setp("input", value="data/corpus_truth"), {"ingest"}),
        ("run.yaml", setp("overrides", "train", "lr", value=0.001), {"train"}),  # padflow run --set train.lr=0.001
        ("run.yaml", setp("overrides", "extract", "localize", value={"frames": 8}), {"extract", "gate"}),
    ]
    wrong = {}
    for rel, edit, expected in cases:
        got = _edited(recorded, rel, edit)
        if got != expected:
            wrong[f"{rel} #{len(wrong)}"] = {"marked": sorted(got), "expected": sorted(expected)}
    assert not wrong, json.dumps(wrong, indent=1)


@pytest.mark.slow
def test_dvc_exp_run_set_param_and_padflow_run_set_reach_the_stages_without_touching_params_yaml(recorded: Path):
    from dvc.utils.hydra import apply_overrides

    from padflow.config import load_params, parse_overrides, select_run

    run_yaml, params_yaml = (recorded / "run.yaml").read_text(), (recorded / "params.yaml").read_text()
    try:
        # What `dvc exp run -S 'run.yaml:++overrides.train.lr=0.0042'` does to the file before it runs the
        # stages (dvc/repo/experiments/queue/base.py: _update_params → apply_overrides).
        apply_overrides(recorded / "run.yaml", ["++overrides.train.lr=0.0042"])
        assert load_params(recorded)["train"]["lr"] == 0.0042
        assert _changed(recorded) == {"train"}
        # `padflow run --set extract.localize.frames=8`: replaces the earlier overrides
        select_run(recorded, overrides=parse_overrides(["extract.localize.frames=8"]))
        params = load_params(recorded)
        assert params["extract"]["localize"]["frames"] == 8 and params["train"]["lr"] != 0.0042
        assert _changed(recorded) == {"extract", "gate"}
    finally:
        (recorded / "run.yaml").write_text(run_yaml)
    assert (recorded / "params.yaml").read_text() == params_yaml


@pytest.mark.slow
def test_adding_a_user_skin_marks_the_stages_that_load_skins(recorded: Path):
    """A skin dropped into the project's skin folder (`padflow skins add`) reruns what renders, trains on or reads skins."""
    added = recorded / "skins" / "added-pad.json"
    added.write_text("{}\n")
    try:
        assert _changed(recorded) == {"corpus", "parser_train", "extract"}
    finally:
        added.unlink()

"""The shape of the code (docs/architecture.md): layers point one way, one module decodes video,
modules stay small enough to hold in one's head."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("padflow", "tasks", "models", "flows")
VIDEO_PACKAGE = "padflow/video/"
MAX_LINES = 600
# Modules allowed past MAX_LINES, each with the reason it stays whole.
LONG_MODULES: dict[str, str] = {}


def _sources(dirs=SOURCE_DIRS) -> list[Path]:
    return sorted(p for d in dirs for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def test_import_layers_hold():
    """lint-imports (import-linter) with the contracts of pyproject.toml: a new upward import fails here."""
    lint = Path(sys.executable).parent / "lint-imports"
    command = [str(lint)] if lint.is_file() else [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]
    done = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"lint-imports found broken contracts:\n{done.stdout}\n{done.stderr}"


def test_only_the_video_package_opens_videos():
    pattern = re.compile(r"\bav\.open\b")
    outside = [f"{p.relative_to(ROOT)}:{n}" for p in _sources() for n, line in enumerate(p.read_text().splitlines(), 1)
               if pattern.search(line) and not p.relative_to(ROOT).as_posix().startswith(VIDEO_PACKAGE)]
    assert outside == [], f"av.open outside {VIDEO_PACKAGE}: use padflow.video instead"


def test_no_module_is_too_long():
    long = {p.relative_to(ROOT).as_posix(): n for p in _sources((*SOURCE_DIRS, "bench", "scripts"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    unexplained = {path: n for path, n in long.items() if path not in LONG_MODULES}
    assert unexplained == {}, f"modules over {MAX_LINES} lines (split them, or name the reason in LONG_MODULES)"
    stale = sorted(set(LONG_MODULES) - set(long))
    assert stale == [], "LONG_MODULES lists modules that are no longer long: remove them"

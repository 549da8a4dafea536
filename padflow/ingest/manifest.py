"""What to ingest: manifests (text, JSON, YAML), input folders, and which listed paths may be read."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from padflow.ingest.forensics import Rejection
from padflow.ingest.report import UNKNOWN

FOLDER_MANIFEST = "manifest.json"  # optional, inside an input folder: source/licence/url/game/skin per video


@dataclass(frozen=True)
class VideoMeta:
    """Provenance carried from the manifest into the report and each output's record."""

    source: str = UNKNOWN
    licence: str = UNKNOWN
    url: str | None = None
    game: str = UNKNOWN  # the title played, when the source says (training splits and transfer use it)
    skin: str | None = None  # the library skin of the video's overlay, when the user knows it (extract names it at any lead)


@dataclass(frozen=True)
class Candidate:
    """One listed input, before it is checked or read."""

    path: Path  # as listed, symlinks not resolved
    display_path: str
    meta: VideoMeta


def read_manifest(path: Path) -> list[tuple[Path, VideoMeta]]:
    """Entries of a text, JSON or YAML manifest: (path as written, resolved against its folder, meta)."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: manifest is not text") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read manifest: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
        return _structured_entries(path, data)
    lines = (line.strip() for line in text.splitlines())
    return [(path.parent / line, VideoMeta()) for line in lines if line and not line.startswith("#")]


def _structured_entries(path: Path, data: Any) -> list[tuple[Path, VideoMeta]]:
    defaults: Mapping[str, Any] = {}
    if isinstance(data, Mapping):
        unknown = sorted(set(data) - {"defaults", "videos"})
        if unknown or "videos" not in data:
            raise ValueError(f"{path}: a manifest mapping needs `videos` (and optional `defaults`), got {sorted(data)}")
        defaults = _meta_fields(path, "defaults", data.get("defaults") or {}, allow_path=False)
        data = data["videos"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: manifest must be a list of videos, got {type(data).__name__}")
    entries = []
    for i, item in enumerate(data):
        where = f"videos[{i}]"
        fields = {"path": item} if isinstance(item, str) else _meta_fields(path, where, item, allow_path=True)
        if not isinstance(fields.get("path"), str) or not fields["path"]:
            hint = "; download URLs first with yt-dlp (see padflow/ingest/__init__.py)" if "url" in fields else ""
            raise ValueError(f"{path}: {where} has no `path`{hint}")
        merged = {**defaults, **{k: v for k, v in fields.items() if k != "path"}}
        entries.append((path.parent / fields["path"], VideoMeta(**merged)))
    return entries


def _meta_fields(path: Path, where: str, item: Any, allow_path: bool) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ValueError(f"{path}: {where} must be a path or a mapping, got {item!r}")
    valid = {"source", "licence", "license", "url", "game", "skin"} | ({"path"} if allow_path else set())
    unknown = sorted(set(item) - valid)
    if unknown:
        raise ValueError(f"{path}: {where} has unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(valid))}")
    fields = dict(item)
    if "license" in fields:
        licence = fields.pop("license")
        if "licence" in fields and fields["licence"] != licence:
            raise ValueError(f"{path}: {where} gives both licence and license, and they differ")
        fields["licence"] = licence
    for key, value in fields.items():
        if not isinstance(value, str) and not (key in ("url", "skin") and value is None):
            raise ValueError(f"{path}: {where}.{key} must be a string, got {value!r}")
    return fields


def list_inputs(src: Path, out: Path, extensions: tuple[str, ...]) -> tuple[Path, list[Candidate], int]:
    """(input root, candidates in a stable order, count of folder files skipped for their suffix)."""
    if not src.exists():
        raise ValueError(f"{src}: input not found (give a folder of videos or a manifest file)")
    if src.is_dir():
        root = src.resolve()
        if out.resolve() == root or root.is_relative_to(out.resolve()):
            raise ValueError(f"{src}: the input folder must not be the output folder {out} or inside it")
        candidates, ignored = _walk_folder(root, out.resolve(), extensions)
        sidecar = root / FOLDER_MANIFEST
        if sidecar.is_file():  # metadata for the folder's videos; files it does not list stay "unknown"
            entries = read_manifest(sidecar)
            metas = {os.path.abspath(p): meta for p, meta in entries}
            candidates = [
                Candidate(c.path, c.display_path, metas.get(os.path.abspath(c.path), c.meta)) for c in candidates
            ]
            # An entry for a file outside the folder (../x, an absolute path) or for none at all
            # is listed too, so the report says why it was not ingested (escapes_root, unreadable).
            walked = {os.path.abspath(c.path) for c in candidates}
            for path, meta in entries:
                absolute = os.path.abspath(path)
                if absolute not in walked and (not Path(absolute).is_relative_to(root) or not os.path.lexists(path)):
                    candidates.append(Candidate(path, f"{FOLDER_MANIFEST}: {_display(path, root)}", meta))
        return root, candidates, ignored
    if src.suffix.lower() in extensions:
        raise ValueError(f"{src}: is a video; give its folder or a manifest that lists it")
    root = src.resolve().parent
    candidates = [Candidate(p, _display(p, root), meta) for p, meta in read_manifest(src)]
    return root, candidates, 0


def _walk_folder(root: Path, out: Path, extensions: tuple[str, ...]) -> tuple[list[Candidate], int]:
    candidates: list[Candidate] = []
    ignored = 0
    for folder, dirnames, filenames in os.walk(root):  # does not follow symlinked folders
        here = Path(folder)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() != out)
        for name in dirnames:
            # os.walk does not enter symlinked folders; one that leads outside is reported.
            if (here / name).is_symlink() and not (here / name).resolve().is_relative_to(root):
                candidates.append(Candidate(here / name, _display(here / name, root), VideoMeta()))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if Path(name).suffix.lower() not in extensions:
                ignored += 1
                continue
            path = here / name
            candidates.append(Candidate(path, _display(path, root), VideoMeta()))
    return candidates, ignored


def _display(path: Path, root: Path) -> str:
    absolute = Path(os.path.abspath(path))
    return absolute.relative_to(root).as_posix() if absolute.is_relative_to(root) else str(path)


def check_readable(candidate: Candidate, root: Path) -> Rejection | None:
    """Why a listed path may not be read (outside the root, missing, not a file, no permission), or None."""
    try:
        resolved = candidate.path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop
        return Rejection("unreadable", f"cannot resolve path: {exc}")
    if not resolved.is_relative_to(root):
        return Rejection("escapes_root", f"resolves to {resolved}, outside the input root {root}")
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        return Rejection("unreadable", "dangling symlink" if candidate.path.is_symlink() else "file not found")
    except OSError as exc:
        return Rejection("unreadable", f"cannot stat: {exc.strerror or exc}")
    if not stat.S_ISREG(mode):
        return Rejection("unreadable", "not a regular file")
    if not os.access(resolved, os.R_OK):
        return Rejection("unreadable", "no permission to read")
    return None

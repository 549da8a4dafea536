"""Atomic writes: a killed run never leaves a half-written file (or folder) that a later run trusts.

`atomic_path` writes one file (temp file beside it, renamed over it); `replaced_dir` builds a whole
output folder beside the old one and swaps it in only when the block succeeds, so a stage that fails
leaves its previous outputs as they were.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HASH_CHUNK_BYTES = 1 << 20  # read size when hashing large files (videos, weights)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create folder {path.parent}: {exc.strerror or exc}") from exc
    tmp_path = _new_temp_file(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.filename is None:
            raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}", str(path)) from exc
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _new_temp_file(path: Path) -> Path:
    """Create an empty, unique temp file beside `path`, with the permissions of any new file
    (mode 0666 less the process umask, which the OS applies: unlike mkstemp's private 0600)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temp name beside {path}")


@contextlib.contextmanager
def replaced_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temp folder beside `path`; when the block succeeds it takes `path`'s place
    (the old folder and everything in it is deleted), when it fails it is deleted and `path` is
    left exactly as it was. The swap is one atomic exchange where the OS has one (Linux), else two
    renames."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create folder {path.parent}: {exc.strerror or exc}") from exc
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a run killed mid-way
        shutil.rmtree(stale, ignore_errors=True)
    tmp = _new_temp_dir(path)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not path.exists():
        os.replace(tmp, path)
    elif _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old folder
    else:
        old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)


def _new_temp_dir(path: Path) -> Path:
    """Create an empty, unique folder beside `path` with the permissions of any new folder (0777
    less the umask; mkdtemp's would be a private 0700 that then became the output's)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temp name beside {path}")


_RENAME_EXCHANGE = 2  # linux/fs.h: swap two existing paths in one step
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where the OS or file system cannot."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True) if name else None
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, f"cannot swap {a} into {b}: {os.strerror(code)}", str(b))


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def save_figure(fig: Any, path: str | Path, dpi: int | None = None) -> Path:
    """Write a matplotlib figure as PNG atomically, then close it (figures pile up in long runs)."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", **({"dpi": dpi} if dpi else {}))
    plt.close(fig)
    return Path(path)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks so videos and weights never load whole."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()

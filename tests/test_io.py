from pathlib import Path

import pytest

from padflow.io import atomic_path, write_json


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path):
    target = tmp_path / "report.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_unwritable_folder_names_the_path(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match=str(blocker)):
        write_json(blocker / "sub" / "out.json", {})


def test_written_files_get_the_permissions_of_any_new_file(tmp_path: Path):
    import os

    umask = os.umask(0o027)
    try:
        write_json(tmp_path / "out.json", {})
    finally:
        os.umask(umask)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o640

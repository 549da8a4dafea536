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


def test_replaced_dir_swaps_in_only_a_finished_folder(tmp_path: Path):
    from padflow.io import replaced_dir

    out = tmp_path / "tables"
    with replaced_dir(out) as work:
        (work / "a.parquet").write_text("first run")
    with pytest.raises(RuntimeError):
        with replaced_dir(out) as work:
            (work / "b.parquet").write_text("half of the second run")
            raise RuntimeError("the stage failed")
    assert [p.name for p in out.iterdir()] == ["a.parquet"] and (out / "a.parquet").read_text() == "first run"
    with replaced_dir(out) as work:
        (work / "c.parquet").write_text("third run")
    assert [p.name for p in out.iterdir()] == ["c.parquet"]
    assert [p.name for p in tmp_path.iterdir()] == ["tables"]  # no temp or old folder left beside it


def test_replaced_dir_gets_the_permissions_of_any_new_folder(tmp_path: Path):
    import os

    from padflow.io import replaced_dir

    umask = os.umask(0o027)
    try:
        with replaced_dir(tmp_path / "out") as work:
            write_json(work / "report.json", {})
    finally:
        os.umask(umask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "out" / "report.json").stat().st_mode & 0o777 == 0o640

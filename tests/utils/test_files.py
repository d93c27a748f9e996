"""The one atomic writer: whole files or none, with the mode the umask gives."""

import os
from pathlib import Path

import pytest

from skpneumo.utils.files import check_output_file, write_file_atomically, write_files_atomically


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_a_written_file_gets_the_umask_mode_and_replaces_the_old_one(tmp_path, umask_027):
    target = tmp_path / "model.joblib"
    target.write_text("old")
    write_file_atomically(target, lambda tmp: Path(tmp).write_text("new"))
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.joblib"
    target.write_text("old")

    def half_then_full_disk(tmp):
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="Cannot write 'model.joblib' to folder .*No space left on device"):
        write_file_atomically(target, half_then_full_disk)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        write_file_atomically(tmp_path / "missing" / "m.joblib", half_then_full_disk)


def test_several_files_leave_no_temporaries_when_one_fails(tmp_path, monkeypatch, umask_027):
    folder = tmp_path / "new" / "report"
    written = write_files_atomically(folder, {"a.json": b"{}", "b.png": b"png"}, "the report")
    assert sorted(written) == ["a.json", "b.png"] and (folder / "b.png").read_bytes() == b"png"
    assert (folder / "a.json").stat().st_mode & 0o777 == 0o640

    replace = os.replace

    def fail_on_second(src, dst):
        if str(dst).endswith("b.png"):
            raise PermissionError(13, "Permission denied")
        replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_on_second)
    other = tmp_path / "other" / "report"
    with pytest.raises(PermissionError, match="Cannot write the report to folder"):
        write_files_atomically(other, {"a.json": b"{}", "b.png": b"png"}, "the report")
    # No temporary is left; renames are not transactional, so a file already in place stays.
    assert sorted(p.name for p in other.iterdir()) == ["a.json"]


def test_check_output_file_fails_before_any_work(tmp_path):
    check_output_file(tmp_path / "m.joblib")
    with pytest.raises(FileNotFoundError, match="output folder does not exist"):
        check_output_file(tmp_path / "missing" / "m.joblib")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_output_file(tmp_path)

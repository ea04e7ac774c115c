"""Files written whole or not at all (staticnet/durable.py), the one writer of model files, exports, search
records, cache entries, bench reports and downloads."""
import os

import pytest

from staticnet.durable import write_durably, write_text


def test_a_write_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.md"
    write_text(str(path), "first\n")
    write_text(str(path), "second, longer\n")
    assert path.read_text() == "second, longer\n" and os.listdir(tmp_path) == ["report.md"]


def test_a_new_file_gets_the_mode_a_plain_open_gives(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text(str(tmp_path / "new.txt"), "x")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "new.txt").st_mode & 0o777 == 0o644


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(b"old")

    def failing(raw):
        raw.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_durably(str(path), failing)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.bin"]


def test_a_file_refused_by_its_check_never_takes_the_name(tmp_path):
    path, seen = tmp_path / "data.gz", []

    def verify(written):
        seen.append(open(written, "rb").read())
        raise ValueError("bad checksum")

    path.write_bytes(b"good")
    with pytest.raises(ValueError, match="bad checksum"):
        write_durably(str(path), lambda raw: raw.write(b"corrupt"), verify=verify)
    assert seen == [b"corrupt"] and path.read_bytes() == b"good" and os.listdir(tmp_path) == ["data.gz"]

"""byoc.archives: a tar archive unpacks into its target or not at all, the same on every Python."""

from __future__ import annotations

import tarfile

import pytest

from byoc import archives
from byoc.archives import ArchiveError
from byoc.driver.local import layout
from tests.support.archives import member, snapshot, symlink_chain, write_tar, written_outside


@pytest.fixture
def box(tmp_path):
    """A directory holding the target, so that an escape into the target's parent shows."""
    (tmp_path / "box").mkdir()
    return tmp_path / "box"


def test_regular_files_and_directories_unpack(box):
    archive = write_tar(box.parent / "ok.tar.gz", [
        member("./", tarfile.DIRTYPE, mode=0o755),
        member("./data", tarfile.DIRTYPE, mode=0o755),
        member("./data/metrics.json", data=b"{}"),
        member("run.sh", data=b"#!/bin/sh\n", mode=0o755),
        member("success"),
    ])
    written = archives.extract(archive, box / "target")
    assert sorted(p.relative_to(box / "target").as_posix() for p in written) == [
        "data/metrics.json", "run.sh", "success"]
    assert (box / "target/data/metrics.json").read_bytes() == b"{}"
    assert (box / "target/run.sh").stat().st_mode & 0o100
    assert not (box / "target/success").stat().st_mode & 0o111


HOSTILE = {
    "a symbolic link": [member("data", tarfile.SYMTYPE, link="/etc")],
    "a hard link": [member("passwd", tarfile.LNKTYPE, link="/etc/passwd")],
    "a device, FIFO or other special file": [member("null", tarfile.CHRTYPE)],
    "an absolute path": [member("/tmp/evil", data=b"x")],
    "climbs out with '..'": [member("data/../../evil", data=b"x")],
}


@pytest.mark.parametrize("what", HOSTILE)
def test_a_hostile_member_is_refused_and_nothing_is_written(box, what):
    archive = write_tar(box.parent / "bad.tar.gz",
                        [member("first.txt", data=b"fine"), *HOSTILE[what]])
    before = snapshot(box.parent)
    with pytest.raises(ArchiveError, match=f"bad.tar.gz: member .* {what}"):
        archives.extract(archive, box / "target")
    assert written_outside(box.parent, before, box / "target") == []
    # Every member is checked before the first is written.
    assert not (box / "target" / "first.txt").exists()


def test_a_fifo_is_refused(box):
    archive = write_tar(box.parent / "fifo.tar.gz", [member("pipe", tarfile.FIFOTYPE)])
    with pytest.raises(ArchiveError, match="member pipe is a device, FIFO or other special"):
        archives.extract(archive, box / "target")


def test_a_symlink_chain_longer_than_path_max_cannot_escape(box):
    """CVE-2025-4517: on Python 3.11.7 extractall(filter="data") writes escape/newfile into
    the target's parent with this archive."""
    target = box / "target"
    archive = write_tar(box.parent / "chain.tar.gz", symlink_chain(target))
    before = snapshot(box.parent)
    with pytest.raises(ArchiveError, match="chain.tar.gz: member a is a symbolic link"):
        archives.extract(archive, target)
    assert written_outside(box.parent, before, target) == []
    assert not (box / "newfile").exists()


def test_too_many_members_is_refused(box):
    archive = write_tar(box.parent / "many.tar.gz",
                        [member(f"f{i}", data=b"") for i in range(11)])
    with pytest.raises(ArchiveError, match=r"many.tar.gz has more than 10 members \(the limit\)"):
        archives.extract(archive, box / "target", max_members=10)
    assert not (box / "target").exists()


def test_too_many_bytes_is_refused(box):
    archive = write_tar(box.parent / "big.tar.gz",
                        [member("a", data=b"x" * 600), member("b", data=b"x" * 600)])
    with pytest.raises(ArchiveError, match=r"big.tar.gz unpacks to more than 1000 bytes .* "
                                           "member b"):
        archives.extract(archive, box / "target", max_bytes=1000)
    assert not (box / "target").exists()


def test_existing_files_are_kept_unless_overwrite_is_asked_for(box):
    target = box / "target"
    (target / "data").mkdir(parents=True)
    (target / "data" / "metrics.json").write_text("mine")
    archive = write_tar(box.parent / "out.tar.gz", [
        member("new.txt", data=b"new"), member("data/metrics.json", data=b"theirs")])
    with pytest.raises(ArchiveError, match="out.tar.gz: data/metrics.json would overwrite "
                                           ".*Unpack into a new or empty directory"):
        archives.extract(archive, target)
    assert (target / "data" / "metrics.json").read_text() == "mine"
    assert not (target / "new.txt").exists()
    archives.extract(archive, target, overwrite=True)
    assert (target / "data" / "metrics.json").read_text() == "theirs"


def test_a_member_named_twice_does_not_overwrite_the_first(box):
    archive = write_tar(box.parent / "twice.tar.gz", [
        member("a.txt", data=b"one"), member("a.txt", data=b"two")])
    with pytest.raises(ArchiveError, match="member a.txt would overwrite"):
        archives.extract(archive, box / "target")
    assert (box / "target" / "a.txt").read_bytes() == b"one"


def test_a_link_already_in_the_target_is_not_followed(box):
    target, outside = box / "target", box / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "data").symlink_to(outside, target_is_directory=True)
    archive = write_tar(box.parent / "out.tar.gz", [member("data/new.txt", data=b"x")])
    with pytest.raises(ArchiveError, match="needs .*data to be a directory, and it is a file or "
                                           "a link"):
        archives.extract(archive, target, overwrite=True)
    assert list(outside.iterdir()) == []


def test_a_target_that_is_a_file_is_one_clear_error(box):
    archive = write_tar(box.parent / "ok.tar.gz", [member("a.txt", data=b"x")])
    (box / "target").write_text("a file")
    with pytest.raises(ArchiveError, match="ok.tar.gz cannot be unpacked into .*target: it is "
                                           "a file"):
        archives.extract(archive, box / "target")


def test_a_file_that_is_not_a_tar_archive_is_one_clear_error(box):
    (box / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(ArchiveError, match="junk.tar.gz is not a readable tar archive"):
        archives.extract(box / "junk.tar.gz", box / "target")


def test_extract_model_refuses_the_symlink_chain(box):
    """`byoc local serve --model model.tar.gz` unpacks with the same checks."""
    root = box / "serve"
    model_dir = root / "model"
    archive = write_tar(box.parent / "model.tar.gz", symlink_chain(model_dir))
    before = snapshot(box.parent)
    with pytest.raises(ArchiveError, match="model.tar.gz: member a is a symbolic link"):
        layout.extract_model(archive, root)
    assert written_outside(box.parent, before, root) == []
    assert not (root / "newfile").exists()

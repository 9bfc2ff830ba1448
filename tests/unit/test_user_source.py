"""Where the user's code comes from and what it needs installed (byoc.user_code.source): the SDK's
encoding, a directory, a file:// URL, a local or S3 archive (S3 is moto's real server), a hostile
archive, and pip into a throwaway venv."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from byoc.archives import ArchiveError
from byoc.errors import UserError
from byoc.user_code import source
from tests.support import venv
from tests.support.archives import member, snapshot, write_tar, written_outside


@pytest.mark.parametrize("sent,decoded", [
    ('"train.py"', "train.py"),        # what the SDK writes for a string
    ("train.py", "train.py"),          # a value written by hand
    ("3", 3), ("0.5", 0.5), ("true", True), ("null", None),
    ('{"a": [1, 2]}', {"a": [1, 2]}),
    ("s3://bucket/key", "s3://bucket/key"),
])
def test_decode_as_the_training_toolkit(sent, decoded):
    assert source.decode(sent) == decoded


def test_decoded_str_keeps_what_must_stay_text():
    assert source.decoded_str('"/opt/ml/code"') == "/opt/ml/code"
    assert source.decoded_str(None) is None
    # A program named like a number is still its name, as written.
    assert source.decoded_str("123") == "123"


def _code(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "train.py").write_text("print('hi')\n")
    (directory / "lib").mkdir()
    (directory / "lib" / "helpers.py").write_text("X = 1\n")
    return directory


def _tar(directory: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)
    return archive


def test_a_directory_is_used_where_it_is(tmp_path):
    code = _code(tmp_path / "src")
    assert source.fetch(str(code), tmp_path / "code") == code
    assert source.fetch(f"file://{code}", tmp_path / "code") == code
    assert not (tmp_path / "code").exists()  # nothing copied


def test_a_file_url_is_unescaped(tmp_path):
    code = _code(tmp_path / "my code")
    assert source.fetch(f"file://{str(code).replace(' ', '%20')}", tmp_path / "code") == code


def test_a_local_archive_is_unpacked_into_the_code_dir(tmp_path):
    archive = _tar(_code(tmp_path / "src"), tmp_path / "sourcedir.tar.gz")
    code_dir = tmp_path / "ml" / "code"
    for location in (str(archive), f"file://{archive}"):
        got = source.fetch(location, code_dir)
        assert got == code_dir
        assert (code_dir / "train.py").read_text() == "print('hi')\n"
        assert (code_dir / "lib" / "helpers.py").is_file()


def test_a_code_dir_that_holds_code_already_is_kept(tmp_path, caplog):
    """A restarted host (or SDK local mode's mount) has the code; it is not unpacked over."""
    archive = _tar(_code(tmp_path / "src"), tmp_path / "sourcedir.tar.gz")
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "train.py").write_text("kept\n")
    with caplog.at_level("INFO", logger="byoc"):
        assert source.fetch(str(archive), code_dir) == code_dir
    assert (code_dir / "train.py").read_text() == "kept\n"
    assert "not empty" in caplog.text


@pytest.mark.parametrize("location,fragment", [
    ("", "empty"),
    ("/no/such/dir", "does not exist"),
    ("file:///no/such/dir", "does not exist"),
])
def test_a_location_that_is_not_there_says_what_is_accepted(tmp_path, location, fragment):
    with pytest.raises(UserError, match=fragment) as err:
        source.fetch(location, tmp_path / "code")
    assert "s3://" in str(err.value)


def test_a_file_that_is_not_an_archive_is_refused(tmp_path):
    bogus = tmp_path / "sourcedir.tar.gz"
    bogus.write_text("not a tar")
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        source.fetch(str(bogus), tmp_path / "code")


@pytest.mark.parametrize("members", [
    [member("../outside.py", data=b"x")],
    [member("/abs.py", data=b"x")],
    [member("link", tarfile.SYMTYPE, link="/etc"), member("link/passwd", data=b"x")],
    [member("hard", tarfile.LNKTYPE, link="/etc/passwd")],
], ids=["dotdot", "absolute", "symlink", "hardlink"])
def test_a_hostile_archive_is_refused_and_nothing_lands_outside(tmp_path, members):
    box = tmp_path / "box"
    box.mkdir()
    archive = write_tar(tmp_path / "evil.tar.gz", members)
    before = snapshot(box)
    code_dir = box / "code"
    with pytest.raises(ArchiveError) as err:
        source.fetch(str(archive), code_dir)
    assert str(archive) in str(err.value)
    assert not written_outside(box, before, code_dir)
    assert not code_dir.exists() or not any(code_dir.rglob("*.py"))


# --- S3, as moto's real server -------------------------------------------------------------------


@pytest.fixture
def bucket(moto_endpoint):
    import boto3

    boto3.client("s3").create_bucket(Bucket="code-bucket")
    return "code-bucket"


def test_an_s3_archive_is_downloaded_and_unpacked(tmp_path, bucket):
    import boto3

    archive = _tar(_code(tmp_path / "src"), tmp_path / "sourcedir.tar.gz")
    boto3.client("s3").upload_file(str(archive), bucket, "job/source/sourcedir.tar.gz")
    code_dir = tmp_path / "ml" / "code"
    got = source.fetch(f"s3://{bucket}/job/source/sourcedir.tar.gz", code_dir)
    assert got == code_dir
    assert sorted(str(p.relative_to(code_dir)) for p in code_dir.rglob("*")) == [
        "lib", "lib/helpers.py", "train.py"]


def test_a_hostile_s3_archive_is_refused_naming_the_uri(tmp_path, bucket):
    import boto3

    archive = write_tar(tmp_path / "evil.tar.gz", [member("../../escape.py", data=b"x")])
    boto3.client("s3").upload_file(str(archive), bucket, "evil/sourcedir.tar.gz")
    box = tmp_path / "box"
    box.mkdir()
    before = snapshot(box)
    with pytest.raises(ArchiveError, match="s3://code-bucket/evil/sourcedir.tar.gz"):
        source.fetch("s3://code-bucket/evil/sourcedir.tar.gz", box / "code")
    assert not written_outside(box, before, box / "code")


@pytest.mark.parametrize("uri,fragment", [
    ("s3://code-bucket/missing.tar.gz", "Cannot download"),
    ("s3://no-such-bucket/sourcedir.tar.gz", "Cannot download"),
    ("s3://code-bucket", "not an S3 object URI"),
])
def test_an_s3_location_that_cannot_be_read_says_what_to_check(tmp_path, bucket, uri, fragment):
    with pytest.raises(UserError, match=fragment):
        source.fetch(uri, tmp_path / "code")


# --- pip, into a throwaway venv ------------------------------------------------------------------


@pytest.fixture
def python(tmp_path, monkeypatch) -> str:
    for name, value in venv.PIP_ENV.items():
        monkeypatch.setenv(name, value)
    return str(venv.make(tmp_path / "venv") / "python")


def _imports(python: str, module: str) -> str:
    return subprocess.run([python, "-c", f"import {module}; print({module}.VALUE)"],
                          capture_output=True, text=True).stdout.strip()


def test_requirements_are_installed_with_pip(tmp_path, python, caplog):
    code = _code(tmp_path / "src")
    venv.package(code / "vendor" / "tiny", "tiny_req_mod")
    (code / source.REQUIREMENTS).write_text("./vendor/tiny\n")
    with caplog.at_level("INFO", logger="byoc"):
        assert source.install_requirements(code, python=python) is True
    assert _imports(python, "tiny_req_mod") == "42"
    assert "pip: Successfully installed tiny-req-mod" in caplog.text  # pip's lines reach the log


def test_no_requirements_file_installs_nothing(tmp_path, python):
    assert source.install_requirements(_code(tmp_path / "src"), python=python) is False


def test_a_failing_pip_is_a_user_error_with_pips_last_lines(tmp_path, python):
    code = _code(tmp_path / "src")
    (code / source.REQUIREMENTS).write_text("./vendor/not-there\n")
    with pytest.raises(UserError) as err:
        source.install_requirements(code, python=python)
    reason = str(err.value)
    assert reason.startswith(f"Installing {code / source.REQUIREMENTS} failed (pip exit ")
    assert "vendor/not-there" in reason  # pip's own words about what it could not find


@pytest.mark.parametrize("pyproject", [False, True], ids=["setup.py", "pyproject.toml"])
def test_a_package_is_installed_with_its_requirements(tmp_path, python, pyproject):
    code = venv.package(tmp_path / "pkg", "tiny_pkg_mod", pyproject=pyproject)
    assert source.is_package(code)
    venv.package(tmp_path / "dep", "tiny_dep_mod", body="VALUE = 7\n")
    (code / source.REQUIREMENTS).write_text(f"{tmp_path / 'dep'}\n")
    assert source.install_package(code, python=python) is True
    assert _imports(python, "tiny_pkg_mod") == "42"
    assert _imports(python, "tiny_dep_mod") == "7"


def test_a_plain_directory_is_not_a_package(tmp_path):
    assert not source.is_package(_code(tmp_path / "src"))

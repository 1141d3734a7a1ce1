"""Unpacking asset archives in memory: the good shapes, and every refusal, from real archives."""

from __future__ import annotations

import gzip
import io
import os
import random
import stat
import struct
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from generator.assets.archive import (
    DEFAULT_LIMITS,
    MAX_FILES,
    MAX_MEMBER_BYTES,
    MAX_TOTAL_BYTES,
    ArchiveError,
    Limits,
    is_archive_name,
    unpack,
)

Member = tuple[tarfile.TarInfo, bytes]


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def tar(*members: Member, mode: str = "w:gz", **options: object) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, **options) as archive:  # type: ignore[call-overload]
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def zip_of(*entries: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we want
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def zip_entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info


def refused(data: bytes, match: str, limits: Limits = DEFAULT_LIMITS) -> str:
    with pytest.raises(ArchiveError, match=match) as caught:
        unpack(data, "abcd1234.tar.gz", limits)
    message = str(caught.value)
    assert message.startswith("archive 'abcd1234.tar.gz'")
    assert "\n" not in message
    return message


# --- good shapes -----------------------------------------------------------------------


def test_source_dir_tarball_as_the_sdk_packs_it(tmp_path: Path) -> None:
    source = tmp_path / "my-src"
    (source / "pkg" / "deep").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "score.py").write_bytes(b"def init(): pass\n")
    (source / "pkg" / "__init__.py").write_bytes(b"")
    (source / "pkg" / "deep" / "model.json").write_bytes(b'{"a": 1}')
    packed = tmp_path / "abcd1234.tar.gz"
    with tarfile.open(packed, "w:gz") as archive:  # upload_dependency's create_tar
        archive.add(source, arcname="my-src")

    files = unpack(packed.read_bytes(), packed.name)

    assert files == {
        "my-src/pkg/__init__.py": b"",
        "my-src/pkg/deep/model.json": b'{"a": 1}',
        "my-src/score.py": b"def init(): pass\n",
    }
    assert list(files) == sorted(files)


def test_dot_source_dir_has_its_files_at_the_root(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "score.py").write_bytes(b"s")
    (source / "sub" / "util.py").write_bytes(b"u")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(source, arcname=".")  # source_directory='.' gives the basename '.'
    assert unpack(buffer.getvalue(), "x.tar.gz") == {"score.py": b"s", "sub/util.py": b"u"}


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_plain_and_gzipped_tar(mode: str) -> None:
    data = tar(member("a/b.py", b"print(1)"), member("./c.txt", b"c"), mode=mode)
    assert unpack(data, "code.tar") == {"a/b.py": b"print(1)", "c.txt": b"c"}


def test_zip_with_folders() -> None:
    data = zip_of(("src/", b""), ("src/score.py", b"s" * 1000), ("src/lib/x.py", b"x"))
    assert unpack(data, "code.zip") == {"src/lib/x.py": b"x", "src/score.py": b"s" * 1000}


@pytest.mark.parametrize("data", [tar(), tar(mode="w"), zip_of()])
def test_empty_archive_has_no_files(data: bytes) -> None:
    assert unpack(data, "empty.tar.gz") == {}


def test_links_inside_become_copies(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "lib").mkdir(parents=True)
    (source / "lib" / "real.py").write_bytes(b"real")
    (source / "alias.py").symlink_to("lib/real.py")
    (source / "lib" / "up.py").symlink_to("../alias.py")  # a chain, with '..' that stays inside
    os.link(source / "lib" / "real.py", source / "hard.py")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(source, arcname="src")
    with tarfile.open(fileobj=io.BytesIO(buffer.getvalue())) as packed:
        kinds = {info.name: info.type for info in packed}
    assert tarfile.SYMTYPE in kinds.values() and tarfile.LNKTYPE in kinds.values()

    files = unpack(buffer.getvalue(), "x.tar.gz")

    assert files == {
        "src/alias.py": b"real",
        "src/hard.py": b"real",
        "src/lib/real.py": b"real",
        "src/lib/up.py": b"real",
    }


def test_zip_symlink_inside_becomes_a_copy() -> None:
    data = zip_of(("a.py", b"A"), (zip_entry("b.py", stat.S_IFLNK | 0o777), b"a.py"))
    assert unpack(data, "x.zip") == {"a.py": b"A", "b.py": b"A"}


def test_limits_are_inclusive() -> None:
    limits = Limits(max_files=2, max_total_bytes=20, max_member_bytes=10)
    data = tar(member("a", b"x" * 10), member("b", b"y" * 10))
    assert unpack(data, "x.tar.gz", limits) == {"a": b"x" * 10, "b": b"y" * 10}


def test_default_limits() -> None:
    assert Limits(MAX_FILES, MAX_TOTAL_BYTES, MAX_MEMBER_BYTES) == DEFAULT_LIMITS
    assert (MAX_FILES, MAX_TOTAL_BYTES) == (10_000, 256 * 1024 * 1024)
    assert DEFAULT_LIMITS.max_archive_bytes > MAX_TOTAL_BYTES


@pytest.mark.parametrize("value", [0, -1, True])
def test_limits_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="max_files"):
        Limits(max_files=value)


def test_archive_names() -> None:
    assert all(is_archive_name(n) for n in ["a.tar.gz", "A.TGZ", "b.tar", "c.zip"])
    assert not any(is_archive_name(n) for n in ["score.py", "tar.gz.py", "gz"])


# --- refusals: paths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("../x", r"member '\.\./x' has a '\.\.' component"),
        ("a/../../x", r"'\.\.' component"),
        ("a/../b", r"'\.\.' component"),  # even one that stays inside
        ("/etc/passwd", "is an absolute path"),
        ("C:/Windows/x", "Windows drive"),
        ("c:x", "Windows drive"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("\\\\server\\share\\x", "backslash"),
        ("src/a\nb.py", "control character"),  # the output could not name such a file
        ("src/a\x1b[31mb.py", "control character"),
        ("src/" + "x" * 256 + ".py", "name part longer than 255 bytes"),
    ],
)
def test_unsafe_member_paths(name: str, match: str) -> None:
    refused(tar(member("ok.py", b"1"), member(name, b"evil")), match)
    refused(zip_of(("ok.py", b"1"), (name, b"evil")), match)


def test_name_that_is_not_utf8() -> None:
    data = tar(member("caf\xe9.py", b"x"), mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1")
    refused(data, "not UTF-8")


# --- refusals: links and special members ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "target"),
    [
        (tarfile.SYMTYPE, "src/lnk", "../../etc/passwd"),
        (tarfile.SYMTYPE, "lnk", "/etc/passwd"),
        (tarfile.SYMTYPE, "lnk", "C:/x"),
        (tarfile.LNKTYPE, "lnk", "../x"),
        (tarfile.LNKTYPE, "lnk", "/etc/passwd"),
    ],
)
def test_links_out_of_the_archive(kind: bytes, name: str, target: str) -> None:
    message = refused(tar(member(name, kind=kind, link=target)), "outside the archive")
    assert repr(target) in message


def test_zip_symlink_out_of_the_archive() -> None:
    data = zip_of((zip_entry("lnk", stat.S_IFLNK | 0o777), b"../../etc/passwd"))
    refused(data, "symbolic link to '../../etc/passwd', outside the archive")


@pytest.mark.parametrize(
    ("members", "match"),
    [
        (
            [member("d/", kind=tarfile.DIRTYPE), member("l", kind=tarfile.SYMTYPE, link="d")],
            "not a file",
        ),
        ([member("l", kind=tarfile.SYMTYPE, link="nothing.py")], "not a file in the archive"),
        ([member("l", kind=tarfile.SYMTYPE, link=".")], "to the archive root"),
        (
            [
                member("a", kind=tarfile.SYMTYPE, link="b"),
                member("b", kind=tarfile.SYMTYPE, link="a"),
            ],
            "loop",
        ),
    ],
)
def test_links_to_no_file_are_refused(members: list[Member], match: str) -> None:
    refused(tar(*members), match)


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        (tarfile.CHRTYPE, "character device"),
        (tarfile.BLKTYPE, "block device"),
        (tarfile.FIFOTYPE, "FIFO"),
    ],
)
def test_special_tar_members(kind: bytes, what: str) -> None:
    refused(tar(member("ok.py", b"1"), member("dev/x", kind=kind)), f"member 'dev/x' is a {what}")


@pytest.mark.parametrize(
    ("mode", "what"), [(stat.S_IFCHR, "character device"), (stat.S_IFIFO, "FIFO")]
)
def test_special_zip_members(mode: int, what: str) -> None:
    refused(zip_of((zip_entry("dev", mode | 0o644), b"")), f"is a {what}")


# --- refusals: counts and sizes ---------------------------------------------------------------


def test_too_many_members_folders_included() -> None:
    limits = Limits(max_files=3)
    assert len(unpack(tar(*(member(f"f{i}", b"") for i in range(3))), "x", limits)) == 3
    refused(
        tar(member("d/", kind=tarfile.DIRTYPE), *(member(f"d/f{i}", b"") for i in range(3))),
        "3-member limit",
        limits,
    )
    refused(zip_of(*((f"f{i}", b"") for i in range(4))), "over the 3-member limit", limits)


def test_total_size() -> None:
    limits = Limits(max_total_bytes=1000)
    message = refused(
        tar(member("a", b"x" * 600), member("b", b"y" * 600)),
        "total past the 1,000-byte limit",
        limits,
    )
    assert "member 'b'" in message
    refused(zip_of(("a", b"x" * 600), ("b", b"y" * 600)), "total past", limits)


def test_link_copies_count_towards_the_total() -> None:
    limits = Limits(max_total_bytes=1000)
    one = (member("a", b"x" * 400), member("b", kind=tarfile.SYMTYPE, link="a"))
    assert unpack(tar(*one), "x", limits) == {"a": b"x" * 400, "b": b"x" * 400}
    data = tar(*one, member("c", kind=tarfile.LNKTYPE, link="a"))
    refused(data, "member 'c' brings the total past", limits)


def test_single_member_size() -> None:
    limits = Limits(max_member_bytes=100)
    refused(
        tar(member("big", b"x" * 101)), "member 'big' is 101 bytes, over the 100-byte limit", limits
    )
    refused(zip_of(("big", b"x" * 101)), "over the 100-byte limit for one file", limits)


def test_zip_bomb_is_stopped_by_its_declared_size() -> None:
    bomb = zip_of(("zeros", bytes(4 * 1024 * 1024)))
    assert len(bomb) < 10_000
    refused(bomb, "over the 1,048,576-byte limit", Limits(max_member_bytes=1024 * 1024))


def test_gzip_bomb_stops_while_decompressing() -> None:
    bomb = tar(member("zeros", bytes(8 * 1024 * 1024)))
    assert len(bomb) < 20_000
    limits = Limits(max_files=1, max_total_bytes=1024 * 1024, max_member_bytes=1024 * 1024)
    # Streamed: the member is refused by its declared size before it is decompressed.
    refused(bomb, "over the 1,048,576-byte limit for one file", limits)


def test_archive_bigger_than_any_content_allowed() -> None:
    limits = Limits(max_files=1, max_total_bytes=1)
    refused(os.urandom(limits.max_archive_bytes + 1), "-byte limit", limits)


# --- refusals: lying headers, corrupt data ---------------------------------------------------------


def test_tar_header_smaller_than_its_data() -> None:
    info = tarfile.TarInfo("a.py")
    info.size = 10
    body = b"A" * 2048  # 10 declared, 2048 written: the rest is read as the next "header"
    data = info.tobuf(tarfile.USTAR_FORMAT) + body + bytes(1024)
    refused(data, "corrupt")


def test_tar_header_bigger_than_its_data() -> None:
    info = tarfile.TarInfo("a.py")
    info.size = 1_000_000
    data = info.tobuf(tarfile.USTAR_FORMAT) + b"A" * 512
    refused(data, "corrupt or truncated")


def test_tar_header_over_the_limit_is_refused_before_reading() -> None:
    info = tarfile.TarInfo("huge.bin")
    info.size = 10**12  # a terabyte declared, nothing behind it
    refused(info.tobuf(tarfile.PAX_FORMAT) + bytes(1024), "over the", DEFAULT_LIMITS)


def test_zip_header_smaller_than_its_data() -> None:
    data = bytearray(zip_of(("a.py", b"A" * 5000)))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)  # uncompressed size in the central directory
    refused(bytes(data), "not a valid zip archive")


def test_zip_declaring_too_many_entries_is_refused_before_parsing() -> None:
    data = zip_of(*((f"f{i}", b"") for i in range(5)))
    refused(data, "declares 5 members", Limits(max_files=2))


def test_zip_central_directory_too_large_for_the_member_limit() -> None:
    data = zip_of(("n" * 2000, b""))  # one entry, but a 2 KB name in the directory
    refused(data, "central directory, too large for a 1-member limit", Limits(max_files=1))


def test_encrypted_and_exotic_zip_members() -> None:
    secret = bytearray(zip_of(("secret.py", b"x")))  # zipfile cannot write encrypted members
    for offset in (6, secret.rfind(b"PK\x01\x02") + 8):  # local and central flag bits
        secret[offset] |= 0x1
    refused(bytes(secret), "is encrypted")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("a.py", b"x")
    refused(buffer.getvalue(), "compression method 12")


def test_truncated_gzip() -> None:
    data = tar(member("src/score.py", os.urandom(5000)))
    for cut in (10, len(data) // 2, len(data) - 1):
        refused(data[:cut], "corrupt or truncated")


def test_truncated_plain_tar() -> None:
    data = tar(member("a.py", b"x" * 5000), mode="w")
    refused(data[:1500], "corrupt or truncated")


def test_data_after_the_end_of_a_tar() -> None:
    refused(tar(member("a.py", b"x"), mode="w") + b"trailing", "unreadable data after")


def test_corrupt_deflate_data() -> None:
    data = bytearray(tar(member("a.py", os.urandom(4000))))
    data[100:110] = bytes(10)
    refused(bytes(data), "corrupt")


@pytest.mark.parametrize(
    ("prefix", "match"),
    [(b"", "not a tar, tar.gz or zip"), (b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "not a valid zip")],
)
def test_random_bytes(prefix: bytes, match: str) -> None:
    noise = random.Random(7).randbytes(4096)
    refused(prefix + noise, match)


def test_gzip_of_something_that_is_not_a_tar() -> None:
    refused(gzip.compress(b"print('hello')\n" * 100), "does not hold a tar archive")


def test_empty_bytes() -> None:
    refused(b"", "is empty")


# --- refusals: names that clash ----------------------------------------------------------------


def test_duplicate_names() -> None:
    refused(tar(member("a.py", b"1"), member("./a.py", b"2")), "member './a.py' appears twice")
    refused(zip_of(("a.py", b"1"), ("a.py", b"2")), "appears twice")


def test_a_path_that_is_both_file_and_folder() -> None:
    refused(tar(member("a", b"1"), member("a/b.py", b"2")), "inside 'a', which is a file")
    refused(tar(member("a", b"1"), member("a/", kind=tarfile.DIRTYPE)), "is also a file")
    refused(tar(member("a/", kind=tarfile.DIRTYPE), member("a", b"1")), "is also a folder")

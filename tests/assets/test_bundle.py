"""Code bundles from snapshot assets: the layout, each entry-script rule, and the findings."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from generator.assets.archive import Limits
from generator.assets.bundle import CodeBundle, code_bundle, content_version, entry_script
from generator.diagnostics import Finding, Level
from generator.sources.legacy import Asset, ImageRequest

DRIVER = "tmpq1w2e3r4.py"
DRIVER_CODE = b"# generated v1 wrapper\nimport score\n"
ARCHIVE = "abcd1234.tar.gz"


def request(*assets: Asset, env: dict[str, str] | None = None) -> ImageRequest:
    environment = {"name": "env", "environmentVariables": env} if env is not None else None
    return ImageRequest(
        driver_program=DRIVER,
        assets=(Asset(DRIVER, "application/x-python", "aml://artifact/d"), *assets),
        environment=environment,
    )


def source_asset(name: str = ARCHIVE) -> Asset:
    return Asset(name, "application/octet-stream", "aml://artifact/s", unpack=True)


def script_asset(name: str) -> Asset:
    return Asset(name, "application/octet-stream", "aml://artifact/e")


def sdk_env(source: str, entry: str) -> dict[str, str]:
    return {"AZUREML_SOURCE_DIRECTORY": source, "AZUREML_ENTRY_SCRIPT": entry}


def pack(files: dict[str, bytes], top: str, mtime: int = 0) -> bytes:
    """A source directory packed the way the v1 SDK does: the folder basename as archive root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        root = tarfile.TarInfo(top)
        root.type = tarfile.DIRTYPE
        archive.addfile(root)
        for path, data in files.items():
            info = tarfile.TarInfo(f"{top}/{path}")
            info.size, info.mtime = len(data), mtime
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def asset_dir(tmp_path: Path, files: dict[str, bytes], driver: bool = True) -> Path:
    folder = tmp_path / "snapshot" / "assets" / "svc"
    folder.mkdir(parents=True)
    for name, data in {**({DRIVER: DRIVER_CODE} if driver else {}), **files}.items():
        (folder / name).write_bytes(data)
    return folder


def built(req: ImageRequest | None, folder: Path | None) -> tuple[CodeBundle, list[Finding]]:
    found, findings = code_bundle(req, folder)
    assert found is not None, findings
    return found, findings


SOURCE = {"score.py": b"def init(): ...\ndef run(x): ...\n", "lib/util.py": b"X = 1\n"}


# --- layout -----------------------------------------------------------------------------------


def test_source_dir_archive_with_recorded_entry_script(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack(SOURCE, "my-src")})
    req = request(source_asset(), env=sdk_env("my-src", "my-src/score.py"))

    found, findings = built(req, folder)

    assert found.files == {"lib/util.py": b"X = 1\n", "score.py": SOURCE["score.py"]}
    assert list(found.files) == sorted(found.files)
    assert (found.scoring_script, found.rule) == ("score.py", "AZUREML_ENTRY_SCRIPT")
    assert findings == []
    assert DRIVER not in found.files and DRIVER_CODE not in found.files.values()


@pytest.mark.parametrize(
    ("entry", "script"),
    [("my-src/lib/util.py", "lib/util.py"), ("my-src/./score.py", "score.py")],
)
def test_recorded_entry_script_loses_source_prefix_and_dot(
    tmp_path: Path, entry: str, script: str
) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack(SOURCE, "my-src")})
    found, findings = built(request(source_asset(), env=sdk_env("my-src", entry)), folder)
    assert (found.scoring_script, findings) == (script, [])


def test_dot_source_directory_keeps_the_archive_root(tmp_path: Path) -> None:
    # The only folder is a real package: with '.', it must not be taken for the packing root.
    files = {"pkg/score.py": b"s", "pkg/model.py": b"m"}
    folder = asset_dir(tmp_path, {ARCHIVE: pack(files, ".")})
    req = request(source_asset(), env=sdk_env(".", "./pkg/score.py"))

    found, findings = built(req, folder)

    assert found.files == files
    assert (found.scoring_script, found.rule, findings) == (
        "pkg/score.py",
        "AZUREML_ENTRY_SCRIPT",
        [],
    )


def test_single_script_asset_is_the_whole_bundle(tmp_path: Path) -> None:
    # A 2021 payload: the driver plus handler.py, and no AZUREML_ENTRY_SCRIPT.
    folder = asset_dir(tmp_path, {"handler.py": b"def run(x): ..."})
    found, findings = built(request(script_asset("handler.py")), folder)
    assert found.files == {"handler.py": b"def run(x): ..."}
    assert (found.scoring_script, found.rule, findings) == (
        "handler.py",
        "the only non-driver asset",
        [],
    )


def test_driver_found_by_type_when_driver_program_names_no_asset(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack(SOURCE, "ocr")})
    req = ImageRequest(
        driver_program="tmp5r6s7t8u.py",  # not the wrapper's asset id below
        assets=(Asset(DRIVER, "application/x-python"), source_asset()),
        environment={"environmentVariables": sdk_env("ocr", "ocr/score.py")},
    )

    found, findings = built(req, folder)

    assert set(found.files) == {"lib/util.py", "score.py"}
    assert found.scoring_script == "score.py"
    assert [(f.level, f.code) for f in findings] == [(Level.INFO, "driver-guessed")]
    assert entry_script(req) == ("score.py", "AZUREML_ENTRY_SCRIPT")


def test_named_driver_wins_over_the_type(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {"score.py": b"s"})
    req = request(Asset("score.py", "application/x-python"))
    found, findings = built(req, folder)
    assert (found.files, findings) == ({"score.py": b"s"}, [])


def test_unpack_flag_alone_marks_an_archive(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {"code-blob": pack(SOURCE, "src")})
    found, _ = built(request(source_asset("code-blob")), folder)
    assert set(found.files) == {"lib/util.py", "score.py"}


def test_several_assets_sit_side_by_side(tmp_path: Path) -> None:
    folder = asset_dir(
        tmp_path, {"main.py": b"m", "notes.txt": b"n", ARCHIVE: pack(SOURCE, "deps")}
    )
    req = request(script_asset("main.py"), script_asset("notes.txt"), source_asset())

    found, findings = built(req, folder)

    assert set(found.files) == {"deps/lib/util.py", "deps/score.py", "main.py", "notes.txt"}
    assert (found.scoring_script, found.rule, findings) == (
        "main.py",
        "the only non-driver .py asset",
        [],
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (source_asset("a.tar.gz"), source_asset("b.tar.gz")),  # the same path twice
        (source_asset("a.tar.gz"), script_asset("x")),  # a file where a folder is
        (script_asset("x"), source_asset("a.tar.gz")),  # a folder where a file is
    ],
)
def test_assets_that_clash(tmp_path: Path, first: Asset, second: Asset) -> None:
    archive = pack(SOURCE, "x")
    folder = asset_dir(tmp_path, {"a.tar.gz": archive, "b.tar.gz": archive, "x": b""})
    req = request(first, second)
    found, findings = code_bundle(req, folder)
    assert found is None
    assert [(f.level, f.code, f.field) for f in findings] == [
        (Level.ERROR, "code-conflict", "environmentImageRequest.assets[2]")
    ]


def test_assets_whose_names_are_twins_clash(tmp_path: Path) -> None:
    """`Score.py` and `score.py`, or NFC and NFD spellings, are one file on macOS and Windows."""
    for first, second in (("Score.py", "score.py"), ("caf\u00e9.py", "cafe\u0301.py")):
        folder = asset_dir(tmp_path / first, {first: b"1", second: b"2"})
        found, findings = code_bundle(request(script_asset(first), script_asset(second)), folder)
        assert found is None
        assert [(f.level, f.code) for f in findings] == [(Level.ERROR, "code-conflict")]


# --- entry script fallbacks ---------------------------------------------------------------------


def test_score_py_at_the_root_without_records(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack({**SOURCE, "train.py": b"t"}, "src")})
    found, findings = built(request(source_asset()), folder)
    assert (found.scoring_script, found.rule, findings) == (
        "score.py",
        "score.py at the root of the source directory",
        [],
    )


def test_only_python_file_in_the_code_folder(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack({"app/predict.py": b"p", "m.json": b"{}"}, "src")})
    found, findings = built(request(source_asset()), folder)
    assert (found.scoring_script, found.rule, findings) == (
        "app/predict.py",
        "the only .py file in the code folder",
        [],
    )


def test_nothing_names_the_entry_script(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack({"a.py": b"a", "b.py": b"b"}, "src")})
    found, findings = built(request(source_asset()), folder)
    assert (found.scoring_script, found.rule) == (
        "score.py",
        "assumed: nothing names the entry script",
    )
    assert [(f.level, f.code) for f in findings] == [(Level.WARNING, "entry-script-unknown")]


def test_recorded_entry_script_that_is_not_there(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack(SOURCE, "src")})
    found, findings = built(request(source_asset(), env=sdk_env("src", "src/gone.py")), folder)
    assert (found.scoring_script, found.rule) == ("gone.py", "AZUREML_ENTRY_SCRIPT")
    assert [(f.level, f.code) for f in findings] == [(Level.WARNING, "entry-script-missing")]
    assert "'gone.py'" in findings[0].message


def test_empty_source_archive(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack({}, "src")})
    found, findings = built(request(source_asset(), env=sdk_env("src", "src/score.py")), folder)
    assert found.files == {}
    assert [f.code for f in findings] == ["entry-script-missing"]
    assert "empty" in findings[0].message


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (None, None),
        (
            request(source_asset(), env=sdk_env("src", "src/app/score.py")),
            ("app/score.py", "AZUREML_ENTRY_SCRIPT"),
        ),
        (
            request(script_asset("score.py"), env={"AZUREML_ENTRY_SCRIPT": "score.py"}),
            ("score.py", "AZUREML_ENTRY_SCRIPT"),
        ),
        (request(script_asset("handler.py")), ("handler.py", "the only non-driver asset")),
        (request(script_asset("a.py"), script_asset("b.py")), None),
        (request(source_asset()), None),  # only the files can tell
        # A recorded path that leaves the code folder is ignored, and the fallbacks decide.
        (
            request(script_asset("h.py"), env={"AZUREML_ENTRY_SCRIPT": "../h.py"}),
            ("h.py", "the only non-driver asset"),
        ),
        (
            request(script_asset("h.py"), env={"AZUREML_ENTRY_SCRIPT": "/abs/h.py"}),
            ("h.py", "the only non-driver asset"),
        ),
    ],
)
def test_entry_script_from_the_request_alone(
    req: ImageRequest | None, expected: tuple[str, str] | None
) -> None:
    assert entry_script(req) == expected


# --- version ------------------------------------------------------------------------------------


def test_version_is_a_stable_content_hash(tmp_path: Path) -> None:
    req = request(source_asset(), env=sdk_env("src", "src/score.py"))
    first, _ = built(req, asset_dir(tmp_path / "a", {ARCHIVE: pack(SOURCE, "src", mtime=1)}))
    again, _ = built(req, asset_dir(tmp_path / "b", {ARCHIVE: pack(SOURCE, "src", mtime=99)}))
    changed = {**SOURCE, "lib/util.py": b"X = 2\n"}  # one byte differs
    other, _ = built(req, asset_dir(tmp_path / "c", {ARCHIVE: pack(changed, "src")}))

    assert first == again  # archive timestamps do not matter, only the files
    assert len(first.version) == 16 and int(first.version, 16) >= 0
    assert first.version == content_version(first.files)
    assert other.version != first.version


def test_version_separates_paths_from_contents() -> None:
    assert content_version({"a": b"bc"}) != content_version({"ab": b"c"})
    assert content_version({"a": b"", "b": b""}) != content_version({"a": b"b"})
    assert content_version({"b": b"2", "a": b"1"}) == content_version({"a": b"1", "b": b"2"})


# --- missing code, no code, refused code ------------------------------------------------------------


def test_no_asset_folder(tmp_path: Path) -> None:
    req = request(source_asset(), env=sdk_env("src", "src/score.py"))
    for folder in (None, tmp_path / "not-there"):
        found, findings = code_bundle(req, folder, code_dir="bundles/ws/code/ep-blue/")
        assert found is None
        assert [(f.level, f.code, f.field) for f in findings] == [
            (Level.WARNING, "missing-code", "environmentImageRequest.assets")
        ]
        assert "gen-iac export" in findings[0].message
        assert "bundles/ws/code/ep-blue/" in findings[0].message
    # The caller still gets the scoring script name without any files.
    assert entry_script(req) == ("score.py", "AZUREML_ENTRY_SCRIPT")


def test_one_asset_file_missing(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {})  # the driver alone was downloaded
    found, findings = code_bundle(request(source_asset()), folder)
    assert found is None
    assert [f.code for f in findings] == ["missing-code"]
    assert repr(ARCHIVE) in findings[0].message
    assert "bundles/<workspace>/code/<endpoint>-<deployment>/" in findings[0].message
    assert "out/" not in findings[0].message  # the console and report add the output folder
    assert str(tmp_path) not in findings[0].message  # no absolute paths in the report


def test_unsafe_asset_id_is_never_opened(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {})
    (folder.parent / "secret.py").write_bytes(b"not this service's")
    found, findings = code_bundle(request(script_asset("../secret.py")), folder)
    assert found is None
    assert [f.code for f in findings] == ["missing-code"]


@pytest.mark.parametrize(
    "req",
    [None, ImageRequest(), request(), ImageRequest(driver_program=DRIVER, assets=(Asset(DRIVER),))],
)
def test_no_code_at_all(tmp_path: Path, req: ImageRequest | None) -> None:
    found, findings = code_bundle(req, asset_dir(tmp_path, {}))
    assert found is None
    assert [(f.level, f.code, f.field) for f in findings] == [
        (Level.WARNING, "no-code", "environmentImageRequest")
    ]
    assert "init()" in findings[0].message and "MLflow" in findings[0].message


def test_unsafe_archive_is_an_error(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("src/../../etc/cron.d/x")
        archive.addfile(info, io.BytesIO(b""))
    folder = asset_dir(tmp_path, {ARCHIVE: buffer.getvalue()})

    found, findings = code_bundle(request(source_asset()), folder)

    assert found is None
    assert [(f.level, f.code, f.field) for f in findings] == [
        (Level.ERROR, "unsafe-archive", "environmentImageRequest.assets[1]")
    ]
    assert ARCHIVE in findings[0].message and "'..'" in findings[0].message


def test_limits_reach_the_archive_and_single_scripts(tmp_path: Path) -> None:
    folder = asset_dir(tmp_path, {ARCHIVE: pack(SOURCE, "src"), "big.py": b"x" * 101})
    small = Limits(max_member_bytes=10)
    _, findings = code_bundle(request(source_asset()), folder, small)
    assert [f.code for f in findings] == ["unsafe-archive"]
    _, findings = code_bundle(request(script_asset("big.py")), folder, Limits(max_member_bytes=100))
    assert [(f.level, f.code) for f in findings] == [(Level.ERROR, "code-too-large")]

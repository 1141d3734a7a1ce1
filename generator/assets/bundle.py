"""The v2 code bundle of one deployment, built from the v1 assets in the snapshot.

A v1 service was built from `environmentImageRequest.assets`: a generated driver wrapper
(`driverProgram`) plus either the source directory as a `<8hex>.tar.gz` whose single top
folder is the source folder's basename, or the entry script alone
(reference/v1-service-reference.md 3.2). v2 needs only the user's code folder and the
entry script's path in it, so the driver is dropped and the top folder is stripped.
Older payloads with several code assets keep v1's app-folder layout: each file under its
asset id, each archive unpacked whole, side by side.

`entry_script(request)` needs no asset files, so the caller can still name the scoring
script when the snapshot holds no code; `code_bundle` uses the same answer when it names
one, so both agree.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from generator.assets.archive import (
    DEFAULT_LIMITS,
    ArchiveError,
    Limits,
    is_archive_name,
    unpack_with_notes,
)
from generator.diagnostics import Finding, Level
from generator.sources.legacy import Asset, ImageRequest

ASSETS_FIELD = "environmentImageRequest.assets"
REQUEST_FIELD = "environmentImageRequest"
DEFAULT_ENTRY_SCRIPT = "score.py"  # what v1 samples and `_scoring_script` assumed
DRIVER_MIME_TYPE = "application/x-python"
DEFAULT_CODE_DIR = "bundles/<workspace>/code/<endpoint>-<deployment>/"  # relative to --out

RULE_ENV = "AZUREML_ENTRY_SCRIPT"
RULE_ONLY_ASSET = "the only non-driver asset"
RULE_SCRIPT_ASSET = "the only non-driver .py asset"
RULE_ROOT_SCORE = "score.py at the root of the source directory"
RULE_ONLY_PY = "the only .py file in the code folder"
RULE_ASSUMED = "assumed: nothing names the entry script"


@dataclass(frozen=True)
class CodeBundle:
    """The code folder of one v2 deployment."""

    files: dict[str, bytes]  # relative posix path -> bytes, driver wrapper removed; sorted keys
    scoring_script: str  # path of the entry script relative to the code folder
    rule: str  # which rule found the entry script, for the report
    version: str  # content hash: same files, same version


def code_assets(request: ImageRequest | None) -> tuple[Asset, ...]:
    """The assets holding the user's code: every asset but the generated driver wrapper."""
    if request is None:
        return ()
    return tuple(a for a in request.assets if not _is_driver(request, a))


def _is_driver(request: ImageRequest, asset: Asset) -> bool:
    """The asset `driverProgram` names; failing that, the SDK's `application/x-python` upload.

    The SDK uploads only the wrapper as application/x-python (user code is octet-stream), so
    the type still finds the wrapper when `driverProgram` names no asset.
    """
    if _driver_named(request):
        return asset.id == request.driver_program
    return asset.mime_type == DRIVER_MIME_TYPE


def _driver_named(request: ImageRequest) -> bool:
    return any(a.id and a.id == request.driver_program for a in request.assets)


def is_source_archive(asset: Asset) -> bool:
    """A packed source directory (`unpack: true`, or a name that says archive)."""
    return asset.unpack is True or is_archive_name(asset.id)


def entry_script(request: ImageRequest | None) -> tuple[str, str] | None:
    """(scoring script path in the code folder, rule that found it), from the request alone."""
    if request is None:
        return None
    variables = _environment_variables(request)
    recorded = variables.get("AZUREML_ENTRY_SCRIPT")
    if isinstance(recorded, str):
        source = variables.get("AZUREML_SOURCE_DIRECTORY")
        strip = source if isinstance(source, str) and _single_archive(request) else None
        script = _script_path(recorded, strip)
        if script:
            return script, RULE_ENV
    # Without a source directory the SDK uploaded the entry script alone, named as the file.
    scripts = [
        a.id for a in code_assets(request) if _safe_asset_id(a.id) and not is_source_archive(a)
    ]
    if len(scripts) == 1 and len(code_assets(request)) == 1:
        return scripts[0], RULE_ONLY_ASSET
    python = [script for script in scripts if script.endswith(".py")]
    if len(python) == 1:
        return python[0], RULE_SCRIPT_ASSET
    return None


def content_version(files: dict[str, bytes]) -> str:
    """First 16 hex of sha256 over (path, length, bytes) of every file in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        name = path.encode("utf-8")
        data = files[path]
        for part in (name, data):  # length-prefixed, so no two file lists hash alike
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()[:16]


def code_bundle(
    request: ImageRequest | None,
    asset_dir: Path | None,
    limits: Limits = DEFAULT_LIMITS,
    *,
    code_dir: str = DEFAULT_CODE_DIR,
) -> tuple[CodeBundle | None, list[Finding]]:
    """Build the code bundle from the asset files in `asset_dir`; None when there is no code.

    `asset_dir` is `<snapshot>/assets/<service>` (or `.../<endpoint>/<version>`); `code_dir`
    is where the caller writes the bundle, named in the message when code is missing.
    """
    assets = code_assets(request)
    if request is None or not assets:
        return None, [_no_code(request)]
    absent = [a.id for a in assets if not _asset_file(asset_dir, a)]
    if asset_dir is None or absent:
        return None, [_missing_code(absent, asset_dir, code_dir)]
    notes: list[Finding] = []
    try:
        files = _layout(request, assets, asset_dir, limits, notes)
    except _CodeError as exc:
        return None, [exc.finding]
    script, rule, findings = _choose_script(request, files)
    bundle = CodeBundle(files, script, rule, content_version(files))
    return bundle, _driver_findings(request) + notes + findings


class _CodeError(Exception):
    """Stops building a bundle; carries the finding that says why."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _layout(
    request: ImageRequest,
    assets: Sequence[Asset],
    asset_dir: Path,
    limits: Limits,
    notes: list[Finding],
) -> dict[str, bytes]:
    """The code folder: one source archive minus its top folder, or the files side by side."""
    if len(assets) == 1 and is_source_archive(assets[0]):
        files = _read_archive(request, assets[0], asset_dir, limits, notes)
        source = _environment_variables(request).get("AZUREML_SOURCE_DIRECTORY")
        # `source_directory='.'` packs the folder's contents at the archive root ("./score.py").
        return files if _is_dot(source) else _strip_top_folder(files)
    # Several assets (older SDKs): v1 put each one in the app folder, archives unpacked whole.
    merged: dict[str, bytes] = {}
    folders: set[str] = set()  # every folder some merged file sits in
    names: set[str] = set()  # the same on macOS and Windows: NFC, case folded
    for asset in assets:
        if is_source_archive(asset):
            found = _read_archive(request, asset, asset_dir, limits, notes)
        else:
            found = {asset.id: _read(request, asset, asset_dir, limits.max_member_bytes)}
        for path, data in found.items():
            parents = _parents(path)
            name = unicodedata.normalize("NFC", path).casefold()
            if name in names or path in folders or any(p in merged for p in parents):
                raise _CodeError(_conflict(request, asset, path))
            merged[path] = data
            names.add(name)
            folders.update(parents)
    _check_totals(request, merged, limits)
    return {path: merged[path] for path in sorted(merged)}


def _read_archive(
    request: ImageRequest, asset: Asset, asset_dir: Path, limits: Limits, notes: list[Finding]
) -> dict[str, bytes]:
    data = _read(request, asset, asset_dir, limits.max_archive_bytes)
    try:
        files, left_out = unpack_with_notes(data, asset.id, limits)
    except ArchiveError as exc:
        raise _CodeError(
            Finding(Level.ERROR, "unsafe-archive", str(exc), _asset_field(request, asset))
        ) from None
    del data  # the archive's bytes are not needed past here
    notes.extend(
        Finding(
            Level.WARNING,
            "archive-member-left-out",
            f"archive {asset.id!r}: {note}",
            _asset_field(request, asset),
        )
        for note in left_out
    )
    return files


def _read(request: ImageRequest, asset: Asset, asset_dir: Path, cap: int) -> bytes:
    """Read an asset file, never more than `cap` bytes."""
    try:
        with (asset_dir / asset.id).open("rb") as stream:
            data = stream.read(cap + 1)
    except OSError as exc:
        raise _CodeError(
            Finding(
                Level.WARNING,
                "missing-code",
                f"asset {asset.id!r} cannot be read ({exc.strerror}); the scoring code is missing",
                _asset_field(request, asset),
            )
        ) from None
    if len(data) > cap:
        raise _CodeError(
            Finding(
                Level.ERROR,
                "code-too-large",
                f"asset {asset.id!r} is over the {cap:,}-byte limit for scoring code",
                _asset_field(request, asset),
            )
        )
    return data


def _strip_top_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    """Drop the single top folder the SDK packed the source directory under."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) != 1 or not all("/" in path for path in files):
        return files
    cut = len(tops.pop()) + 1
    return {path[cut:]: data for path, data in files.items()}


def _choose_script(
    request: ImageRequest, files: dict[str, bytes]
) -> tuple[str, str, list[Finding]]:
    found = entry_script(request)
    if found is None:
        found = _script_in_files(files)
    if found is None:
        return (
            DEFAULT_ENTRY_SCRIPT,
            RULE_ASSUMED,
            [
                Finding(
                    Level.WARNING,
                    "entry-script-unknown",
                    "the entry script is not recorded (no AZUREML_ENTRY_SCRIPT, no single .py "
                    f"asset, no score.py in the code folder): {DEFAULT_ENTRY_SCRIPT!r} is assumed; "
                    "set the deployment's scoring script by hand",
                    REQUEST_FIELD,
                )
            ],
        )
    script, rule = found
    if script in files:
        return script, rule, []
    where = "the code folder is empty" if not files else "it is not in the code folder"
    return (
        script,
        rule,
        [
            Finding(
                Level.WARNING,
                "entry-script-missing",
                f"the entry script {script!r} (found by {rule}) does not exist: {where}; "
                "check the assets or set the deployment's scoring script by hand",
                ASSETS_FIELD,
            )
        ],
    )


def _script_in_files(files: dict[str, bytes]) -> tuple[str, str] | None:
    if DEFAULT_ENTRY_SCRIPT in files:
        return DEFAULT_ENTRY_SCRIPT, RULE_ROOT_SCORE
    scripts = [path for path in files if path.endswith(".py")]
    if len(scripts) == 1:
        return scripts[0], RULE_ONLY_PY
    return None


def _script_path(recorded: str, source: str | None) -> str | None:
    """AZUREML_ENTRY_SCRIPT relative to the code folder: `<source>/` and `./` removed."""
    parts = [p for p in recorded.replace("\\", "/").split("/") if p not in ("", ".")]
    source_parts = [p for p in (source or "").replace("\\", "/").split("/") if p not in ("", ".")]
    if source_parts and parts[: len(source_parts)] == source_parts:
        parts = parts[len(source_parts) :]
    if not parts or ".." in parts or recorded.startswith(("/", "\\")):
        return None  # not a path inside the code folder: let the fallbacks decide
    return "/".join(parts)


def _is_dot(source: object) -> bool:
    """AZUREML_SOURCE_DIRECTORY '.' (or './'): the archive root is the code folder itself."""
    return isinstance(source, str) and source.rstrip("/\\") == "."


def _single_archive(request: ImageRequest) -> bool:
    """Whether the code folder is one source archive's folder (the SDK's layout)."""
    assets = code_assets(request)
    return len(assets) == 1 and is_source_archive(assets[0])


def _environment_variables(request: ImageRequest) -> dict[str, object]:
    variables = (request.environment or {}).get("environmentVariables")
    return dict(variables) if isinstance(variables, dict) else {}


def _safe_asset_id(asset_id: str) -> bool:
    """The exporter saves an asset under its id only when the id is one plain file name."""
    return bool(asset_id) and not (
        asset_id.startswith(".") or any(c in asset_id for c in "/\\\x00")
    )


def _asset_file(asset_dir: Path | None, asset: Asset) -> bool:
    if asset_dir is None or not _safe_asset_id(asset.id):
        return False
    return (asset_dir / asset.id).is_file()


def _parents(path: str) -> list[str]:
    """The folders a path sits in: 'a/b/c' -> ['a', 'a/b']."""
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _check_totals(request: ImageRequest, files: dict[str, bytes], limits: Limits) -> None:
    total = sum(len(data) for data in files.values())
    if len(files) > limits.max_files or total > limits.max_total_bytes:
        raise _CodeError(
            Finding(
                Level.ERROR,
                "code-too-large",
                f"the assets together hold {len(files):,} files and {total:,} bytes, over the "
                f"limits of {limits.max_files:,} files and {limits.max_total_bytes:,} bytes",
                ASSETS_FIELD,
            )
        )


def _asset_field(request: ImageRequest, asset: Asset) -> str:
    return f"{ASSETS_FIELD}[{request.assets.index(asset)}]"


def _conflict(request: ImageRequest, asset: Asset, path: str) -> Finding:
    return Finding(
        Level.ERROR,
        "code-conflict",
        f"asset {asset.id!r} brings {path!r}, which clashes with a file of another asset",
        _asset_field(request, asset),
    )


def _driver_findings(request: ImageRequest) -> list[Finding]:
    if _driver_named(request):
        return []
    wrappers = [a.id for a in request.assets if _is_driver(request, a)]
    if not wrappers:
        return []
    return [
        Finding(
            Level.INFO,
            "driver-guessed",
            f"driverProgram {request.driver_program!r} names no asset; the {DRIVER_MIME_TYPE} "
            f"asset {', '.join(repr(w) for w in wrappers)} is taken for the v1 driver wrapper "
            "and left out of the code",
            "environmentImageRequest.driverProgram",
        )
    ]


def _no_code(request: ImageRequest | None) -> Finding:
    what = "no environmentImageRequest" if request is None else "no assets besides the driver"
    return Finding(
        Level.WARNING,
        "no-code",
        f"the v1 service records no scoring code ({what}); a v2 online deployment needs "
        "either a scoring script with init() and run() in a code folder, or an MLflow model "
        "for a no-code deployment",
        REQUEST_FIELD,
    )


def _missing_code(absent: list[str], asset_dir: Path | None, code_dir: str) -> Finding:
    if asset_dir is None or not asset_dir.is_dir():
        what = "the snapshot has no assets folder for it"
    else:
        what = "the snapshot holds no file for asset " + ", ".join(repr(a) for a in absent)
    return Finding(
        Level.WARNING,
        "missing-code",
        f"the scoring code is not in the snapshot ({what}): re-run `gen-iac export`, which "
        "downloads every asset into the snapshot's assets/ folder, or copy the scoring code "
        f"into {code_dir} yourself",
        ASSETS_FIELD,
    )

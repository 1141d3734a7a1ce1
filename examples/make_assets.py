"""Write the example snapshot's scoring-code assets, byte for byte reproducibly.

The snapshot keeps each asset exactly as a v1 workspace's artifact store holds it
(`examples/snapshot/assets/<service>/<asset id>`), and a source directory there is a
`.tar.gz`. Tarballs are unreadable in a review, so their contents live as plain files under
`examples/asset-sources/<service>/<folder>/` and this script packs them: the archive root is
the folder itself (as the v1 SDK's `tarfile.add(folder)` made it), members are sorted, every
mtime is fixed, owners are uid/gid 0 with no names, modes are 0644/0755, and the gzip header
carries no name and no time. The same sources therefore give the same bytes on any machine
with the same zlib.

It also writes each service's driver program (`environmentImageRequest.driverProgram`), the
wrapper the v1 SDK generated around the entry script: it puts the source folder on
`sys.path`, loads the entry script as `driver_module` and forwards `init()` and `run()`.

Single-file entry scripts (`recs-aks-token/recommend.py`, `sentiment-aci/score_sentiment.py`)
are stored as they are and edited in place. `ocr-aci-private` has no assets on purpose (the
generator must cope with missing code), and the `ab-endpoint` versions carry no image request.

Usage (from the repository root):
    python examples/make_assets.py          # (re)write the generated assets
    python examples/make_assets.py --check  # exit 1 if a generated asset is stale
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
SOURCES = EXAMPLES / "asset-sources"
ASSETS = EXAMPLES / "snapshot" / "assets"

# 2023-03-14T09:21:44Z, the example services' createdTime: old enough to look uploaded.
MTIME = 1678785704

# Source folder packed into each archive asset: asset path -> (service, folder).
ARCHIVES = {
    "churn-aci/7d3e9a1c.tar.gz": ("churn-aci", "src"),
    "fraud-aks/51c0e8f4.tar.gz": ("fraud-aks", "fraud_service"),
}

# Driver program of each service: asset path -> (entry script, source folder or "").
DRIVERS = {
    "churn-aci/tmp9x2k1b7q.py": ("src/score.py", "src"),
    "fraud-aks/tmp9x2k1b7q.py": ("fraud_service/score.py", "fraud_service"),
    "recs-aks-token/tmp4hq7zz1m.py": ("recommend.py", ""),
    "sentiment-aci/tmp0k3m1n2p.py": ("score_sentiment.py", ""),
}

DRIVER = """\
import importlib.util
import inspect
import os
{source_import}
script_location = os.path.join(here, {entry})
driver_module_spec = importlib.util.spec_from_file_location("service_driver", script_location)
driver_module = importlib.util.module_from_spec(driver_module_spec)
driver_module_spec.loader.exec_module(driver_module)


def init():
    global run_input_name, run_takes_headers
    names = list(inspect.signature(driver_module.run).parameters)
    run_takes_headers = "request_headers" in names
    run_input_name = next(name for name in names if name != "request_headers")
    driver_module.init()


def run(http_body, request_headers):
    arguments = {{run_input_name: http_body}}
    if run_takes_headers:
        arguments["request_headers"] = request_headers
    return driver_module.run(**arguments)
"""


def driver(entry: str, source_folder: str) -> bytes:
    here = "\nhere = os.path.dirname(os.path.realpath(__file__))\n"
    if source_folder:
        path = f"sys.path.append(os.path.join(here, {json.dumps(source_folder)}))\n"
        source_import = f"import sys\n{here}{path}"
    else:
        source_import = here
    return DRIVER.format(entry=json.dumps(entry), source_import=source_import).encode()


def _skipped(path: Path) -> bool:
    # Bytecode left by a local run must never reach an archive.
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def tar_bytes(root: Path, folder: str) -> bytes:
    """The uncompressed tar of `root/folder`, with `folder/` as the archive root."""
    top = root / folder
    paths = [top, *sorted((p for p in top.rglob("*") if not _skipped(p)), key=Path.as_posix)]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in paths:
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def expected() -> dict[str, bytes]:
    """Every generated asset: path relative to the assets folder -> bytes."""
    files = {path: driver(*spec) for path, spec in DRIVERS.items()}
    for path, (service, folder) in ARCHIVES.items():
        files[path] = gzip.compress(tar_bytes(SOURCES / service, folder), 9, mtime=0)
    return files


def _same(path: Path, data: bytes) -> bool:
    if not path.is_file():
        return False
    current = path.read_bytes()
    if path.name.endswith(".tar.gz"):
        # Compare the tar, not the gzip stream: another zlib may compress differently.
        try:
            return gzip.decompress(current) == gzip.decompress(data)
        except (OSError, EOFError):
            return False
    return current == data


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale assets, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for relative, data in sorted(expected().items()):
        path = ASSETS / relative
        if _same(path, data):
            continue
        stale.append(relative)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path.relative_to(EXAMPLES.parent).as_posix()}")
    if args.check and stale:
        print(f"stale assets (run python examples/make_assets.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

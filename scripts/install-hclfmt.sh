#!/usr/bin/env bash
# Build hclfmt (the hclwrite formatter behind `terraform fmt`) from Debian's HCL v2 sources
# into .tools/bin. No Terraform binary can be installed here; this is the format check.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.tools/bin/hclfmt
[ -x "$target" ] && exit 0

packages=(golang-go golang-github-hashicorp-hcl-v2-dev)
if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${packages[@]}" >/dev/null
fi
mkdir -p .tools/bin
# Debian ships the Go sources under /usr/share/gocode: build in GOPATH mode, offline.
GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$PWD/.tools/go-cache" \
  go build -o "$target" github.com/hashicorp/hcl/v2/cmd/hclfmt
echo "built $target"

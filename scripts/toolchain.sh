#!/usr/bin/env bash
# The real Terraform engine and the providers the generated code pins, built here from the Go
# module proxy (never a downloaded binary), with a filesystem provider mirror so `terraform init`
# never asks a registry.
#
#   scripts/toolchain.sh          engine + providers into .tools/ (cached per version)
#   scripts/toolchain.sh --status what is there and what is missing, builds nothing
#
# Results:
#   .tools/bin/terraform          the engine: `terraform` on PATH when >= 1.11, else OpenTofu
#                                 built from its Go module
#   .tools/terraform.rc           a CLI configuration (TF_CLI_CONFIG_FILE) naming the mirror
#   .tools/providers/             the mirror: registry.terraform.io/<ns>/<name>/<version>/linux_amd64
#   .tools/toolchain.status       one line per part: "ok ..." or "missing ... <why>"
# Builds are cached in ${GEN_IAC_TOOLCHAIN_CACHE:-~/.cache/gen-iac/toolchain}/<name>/<version>,
# so a second run on the same machine takes a second.
#
# Exit status: 0 when the engine is there (a provider the Go module proxy does not serve is
# reported on stderr and in the status file, not hidden); 1 when there is no engine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${GEN_IAC_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gen-iac/toolchain}
tools=$root/.tools
status_file=$tools/toolchain.status
python=${PYTHON:-python3}
[ -x "$root/.venv/bin/python" ] && python=$root/.venv/bin/python

# The engine gen-iac's output needs (write-only arguments) and the OpenTofu release built when
# no engine is on PATH (the newest the Go module proxy served when this was written).
min_engine=1.11
tofu_module=github.com/opentofu/opentofu
tofu_version=v1.12.6

# Provider versions come from the generator (one source of truth); the Go module of each release
# is addressed by the pseudo-version of its tag's commit, because the providers' go.mod files have
# no /v2 or /v4 suffix, so their release tags are not module versions.
read -r azapi_version azurerm_version < <(
  PYTHONPATH=$root "$python" -c \
    'from generator.render.terraform import AZAPI_VERSION as a, AZURERM_VERSION as b; print(a, b)'
)
pseudo_version() { # provider version -> Go pseudo-version of its release commit
  case "$1" in
    azapi/2.12.0) echo v1.15.1-0.20260807030812-52241c97e85e ;;   # tag v2.12.0
    azapi/2.9.0) echo v1.15.1-0.20260319044144-8fe62baebe4b ;;    # tag v2.9.0
    azurerm/4.81.0) echo v1.44.1-0.20260714131808-5782a75422c6 ;; # tag v4.81.0
    azurerm/4.77.0) echo v1.44.1-0.20260611173012-bc78507c74b3 ;; # tag v4.77.0
    *) return 1 ;;
  esac
}

mkdir -p "$tools/bin" "$tools/providers" "$cache"
: >"$status_file"
say() { echo "toolchain: $*" >&2; }
record() { echo "$*" >>"$status_file"; }

status_only=false
[ "${1:-}" = "--status" ] && status_only=true

version_at_least() { # "1.11.4" "1.11" -> true when $1 >= $2
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

# Build a Go module's main package at a version into $3 (module zips leave out nested modules,
# so the build runs in a writable copy of the module, as `go build` in its own checkout would).
go_build() { # module version output [package [ldflags]]
  local module=$1 version=$2 output=$3 package=${4:-.} ldflags=${5:-} work dir status=0
  work=$(mktemp -d)
  dir=$(cd "$work" && go mod download -json "$module@$version" 2>/dev/null |
    "$python" -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or d.get("Error",""))')
  if [ ! -d "$dir" ]; then
    say "not served by the Go module proxy: $module@$version ($(echo "${dir:-no answer}" | tr -s "\n\t" "  " | sed "s/.*: 403/403/"))"
    rm -rf "$work"
    return 2
  fi
  cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
  (cd "$work/src" && CGO_ENABLED=0 go build -trimpath -ldflags="$ldflags" -o "$output.tmp" "$package") &&
    mv "$output.tmp" "$output" || status=$?
  rm -rf "$work"
  return $status
}

engine() {
  local found version
  found=$(command -v terraform || true)
  if [ -n "$found" ] && [ "$found" != "$tools/bin/terraform" ]; then
    version=$("$found" version -json 2>/dev/null | "$python" -c \
      'import json,sys; print(json.load(sys.stdin)["terraform_version"])' || echo 0)
    if version_at_least "$version" "$min_engine"; then
      ln -sfn "$found" "$tools/bin/terraform"
      say "engine: Terraform $version from PATH ($found)"
      record "ok engine terraform $version $found"
      return 0
    fi
    say "engine: Terraform $version on PATH is older than $min_engine; building OpenTofu"
  fi
  local built=$cache/opentofu/$tofu_version/tofu
  if [ ! -x "$built" ]; then
    $status_only && { record "missing engine (not built yet)"; return 1; }
    say "engine: building OpenTofu $tofu_version from the Go module proxy (a few minutes)"
    mkdir -p "$(dirname "$built")"
    # dev=no: a release build reports its version without the -dev marker.
    go_build "$tofu_module" "$tofu_version" "$built" ./cmd/tofu \
      "-X $tofu_module/version.dev=no" || {
      record "missing engine: $tofu_module@$tofu_version could not be built"
      return 1
    }
  fi
  ln -sfn "$built" "$tools/bin/terraform"
  say "engine: OpenTofu $tofu_version ($built)"
  record "ok engine opentofu $tofu_version $built"
}

provider() { # namespace name version module
  local namespace=$1 name=$2 version=$3 module=$4 pseudo built target
  target=$tools/providers/registry.terraform.io/$namespace/$name/$version/linux_amd64
  built=$cache/$name/$version/terraform-provider-${name}_v$version
  if [ ! -x "$built" ]; then
    if ! pseudo=$(pseudo_version "$name/$version"); then
      say "provider $name $version: no release commit known; add it to pseudo_version() in $0"
      record "missing provider $name $version: release commit unknown"
      return 0
    fi
    $status_only && { record "missing provider $name $version (not built yet)"; return 0; }
    say "provider $name $version: building $module@$pseudo (a few minutes)"
    mkdir -p "$(dirname "$built")"
    if ! go_build "$module" "$pseudo" "$built"; then
      record "missing provider $name $version: $module@$pseudo is not served by the Go module proxy"
      return 0
    fi
  fi
  mkdir -p "$target"
  ln -sfn "$built" "$target/terraform-provider-${name}_v$version"
  say "provider $name $version: $built"
  record "ok provider $name $version $built"
}

# init finds providers in the mirror only: a missing one fails init instead of reaching a registry.
cat >"$tools/terraform.rc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$tools/providers"
    include = ["registry.terraform.io/*/*"]
  }
}
RC
# Our configuration, not the machine's (a missing ~/.terraformrc named by the environment makes
# the engine print warnings, on stdout for OpenTofu).
export TF_CLI_CONFIG_FILE=$tools/terraform.rc

engine_ok=true
engine || engine_ok=false
provider azure azapi "$azapi_version" github.com/Azure/terraform-provider-azapi
provider hashicorp azurerm "$azurerm_version" github.com/hashicorp/terraform-provider-azurerm

if grep -q '^missing provider' "$status_file"; then
  say "providers missing (init/validate/plan of generated code cannot run):"
  grep '^missing provider' "$status_file" | sed 's/^/  /' >&2
fi
$engine_ok

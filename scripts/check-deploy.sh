#!/usr/bin/env bash
# Checks of the deployment artefacts (called by scripts/test.sh before cargo test; runs on its
# own too). Installs what it needs once, only when missing:
#   - helm-python-sdk (Helm's Go SDK behind a Python API; no helm binary) and
#     kubernetes-validate, from PyPI;
#   - promtool, from Debian's `prometheus` package.
# Then: chart lint/render/validation and the other static checks (scripts/check_deploy.py),
# `promtool check rules` on the alert rules and `promtool check config` on Compose's Prometheus.
# The metric names the dashboard and the alerts use are checked against a running instance by
# tests/tests/deploy_metrics.rs (cargo test), which also runs `promtool check metrics`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }
apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

python3 -c 'import helm_python, kubernetes_validate, yaml' 2>/dev/null || {
  log "installing helm-python-sdk and kubernetes-validate"
  python3 -m pip install -q helm-python-sdk kubernetes-validate pyyaml
}
command -v promtool >/dev/null || { log "installing promtool (Debian's prometheus package)"; apt_install prometheus; }

log "Helm chart, manifests, dashboard, Compose (scripts/check_deploy.py)"
python3 scripts/check_deploy.py
log "promtool check rules"
promtool check rules deploy/prometheus/alerts.yml
log "promtool check config (Compose's Prometheus)"
promtool check config deploy/prometheus/prometheus.yml >/dev/null

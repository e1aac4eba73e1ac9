#!/usr/bin/env bash
# Runs checkov over infra/terraform from a private venv: checkov pins libraries that clash with the
# project's .venv (Airflow, GX), so it never goes there. Exits with checkov's own status.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo_root/.cache/tools/checkov-venv"
python=${PYTHON:-python3}

if [[ ! -x $venv/bin/checkov ]] || [[ $("$venv/bin/pip" show checkov 2>/dev/null | sed -n 's/^Version: //p') != "$CHECKOV_VERSION" ]]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi

# Offline: no platform API key, no policy or guideline downloads (--skip-download), no registry
# module fetches. Skips live inline in the .tf files, with reasons; none are passed here.
cd "$repo_root"
exec "$venv/bin/checkov" -d infra/terraform --framework terraform --quiet --compact \
  --download-external-modules false --skip-download "$@"

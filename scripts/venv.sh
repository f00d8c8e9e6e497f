#!/usr/bin/env bash
# Create once, then reuse, the project's virtual environment; print its path.
# It is keyed by the hash of requirements.lock, so every clone of the same lock shares one environment
# (CI caches it this way) and a changed lock builds a new one. GRAINLOOP_VENV overrides the location.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
hash=$(sha256sum "$root/requirements.lock" | cut -c1-12)
venv=${GRAINLOOP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/grainloop/venv-$hash}
python=$(command -v python3.11 || command -v python3)
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "grainloop needs Python 3.11"'
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  echo "grainloop: creating the virtual environment $venv (first run only, a few minutes)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  log="$venv.install.log"
  if ! { "$venv/bin/python" -m pip install -q --upgrade pip && \
         "$venv/bin/python" -m pip install -q -r "$root/requirements.lock"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "grainloop: installing the virtual environment failed; full log: $log" >&2
    exit 1
  fi
  touch "$venv/.complete"
fi
ln -sfn "$venv" "$root/.venv"
echo "$venv"

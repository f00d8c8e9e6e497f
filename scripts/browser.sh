#!/usr/bin/env bash
# Print the path of a usable Chromium for the browser tests (tests/integration/test_browser.py).
# GRAINLOOP_CHROMIUM wins when it names an executable; else `chromium` on the PATH; else, as root only,
# Debian's `chromium` package is installed with apt-get (Playwright's own `playwright install` cannot
# download browsers here). Exit 1 with a message on stderr when no Chromium can be had.
set -euo pipefail

usable() { [ -n "$1" ] && [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

if [ -n "${GRAINLOOP_CHROMIUM:-}" ]; then
  if usable "$GRAINLOOP_CHROMIUM"; then echo "$GRAINLOOP_CHROMIUM"; exit 0; fi
  echo "grainloop: GRAINLOOP_CHROMIUM=$GRAINLOOP_CHROMIUM is not a working Chromium" >&2
  exit 1
fi

found=$(command -v chromium || true)
if [ -z "$found" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "grainloop: no chromium on the PATH, and installing it needs root:" \
         "run 'sudo apt-get install -y --no-install-recommends chromium' (Debian) or set GRAINLOOP_CHROMIUM" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    echo "grainloop: no chromium on the PATH and no apt-get to install it; set GRAINLOOP_CHROMIUM" >&2
    exit 1
  fi
  echo "grainloop: installing Debian's chromium for the browser tests (first run only, about a minute)" >&2
  log=${TMPDIR:-/tmp}/grainloop-chromium-install.log
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; } \
       >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "grainloop: installing chromium failed; full log: $log" >&2
    exit 1
  fi
  found=$(command -v chromium || true)
fi
if ! usable "$found"; then
  echo "grainloop: chromium (${found:-not found}) does not run: '${found:-chromium} --version' fails" >&2
  exit 1
fi
echo "$found"

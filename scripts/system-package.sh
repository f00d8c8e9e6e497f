#!/usr/bin/env bash
# Print the path of a usable system program, installing its Debian package when missing.
# Usage: scripts/system-package.sh ENV_VAR COMMAND PACKAGE PURPOSE
# ENV_VAR (e.g. GRAINLOOP_CHROMIUM) wins when it names an executable; else COMMAND on the PATH; else, as root
# only, Debian's PACKAGE is installed with apt-get (no registry but Debian's is reached, so no tool can download
# a build of its own). `COMMAND --version` must run. Exit 1 with a message on stderr when none can be had.
set -euo pipefail
var=$1 command=$2 package=$3 purpose=$4

usable() { [ -n "$1" ] && [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

given=${!var:-}
if [ -n "$given" ]; then
  if usable "$given"; then echo "$given"; exit 0; fi
  echo "grainloop: $var=$given is not a working $command" >&2
  exit 1
fi

found=$(command -v "$command" || true)
if [ -z "$found" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "grainloop: no $command on the PATH, and installing it needs root:" \
         "run 'sudo apt-get install -y --no-install-recommends $package' (Debian) or set $var" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    echo "grainloop: no $command on the PATH and no apt-get to install it; set $var" >&2
    exit 1
  fi
  echo "grainloop: installing Debian's $package for $purpose (first run only, about a minute)" >&2
  log=${TMPDIR:-/tmp}/grainloop-$package-install.log
  if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$package"; } \
       >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "grainloop: installing $package failed; full log: $log" >&2
    exit 1
  fi
  found=$(command -v "$command" || true)
fi
if ! usable "$found"; then
  echo "grainloop: $command (${found:-not found}) does not run: '${found:-$command} --version' fails" >&2
  exit 1
fi
echo "$found"

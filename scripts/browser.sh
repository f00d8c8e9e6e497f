#!/usr/bin/env bash
# Print the path of a usable Chromium for the browser tests (tests/integration/test_browser.py).
# GRAINLOOP_CHROMIUM wins when it names an executable; else `chromium` on the PATH; else, as root only,
# Debian's `chromium` package is installed with apt-get (Playwright's own `playwright install` cannot
# download browsers here). Exit 1 with a message on stderr when no Chromium can be had (scripts/system-package.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/system-package.sh" GRAINLOOP_CHROMIUM chromium chromium "the browser tests"

#!/usr/bin/env bash
# Print the path of a usable Tesseract OCR binary (foundation/scalelabel.py reads scale-bar labels with it):
# GRAINLOOP_TESSERACT, else `tesseract` on the PATH, else (as root) Debian's tesseract-ocr package, installed
# with its English data. Exit 1 with a message on stderr when none can be had (scripts/system-package.sh).
exec "$(dirname "${BASH_SOURCE[0]}")/system-package.sh" GRAINLOOP_TESSERACT tesseract tesseract-ocr \
  "reading scale bars"

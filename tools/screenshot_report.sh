#!/usr/bin/env bash
# Render a report.html in headless Chromium (Debian's chromium package) and save a PNG screenshot.
#   bash tools/screenshot_report.sh runs/pipeline-cpu/report/report.html runs/pipeline-cpu/report/screenshot.png
set -euo pipefail
html=$(readlink -f "$1"); png=${2:-${1%.html}.png}
command -v chromium >/dev/null || { echo "install Chromium first: apt-get install -y chromium" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" --window-size=1000,2400 \
  --screenshot="$png" "file://$html" 2>/dev/null
echo "screenshot: $png"

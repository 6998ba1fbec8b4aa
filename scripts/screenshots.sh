#!/usr/bin/env bash
# The pictures in docs/images/: the default job's report and a comparison of it with the same
# network under N(0,1) initial weights, as headless Chromium draws them (Debian's chromium), and
# the board following a run.
# Run from anywhere after building: bash scripts/screenshots.sh [WORK_FOLDER]
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GRADFLOW:-./build/app/gradflow}
work=${1:-$(mktemp -d)}
mkdir -p "$work"
rm -rf "$work/default" "$work/normal-init"  # this script's own runs only
"$G" train --out "$work/default"
"$G" train --init normal --epochs 5 --out "$work/normal-init" || true  # (a run that diverges still has its records)
"$G" compare "$work/default" "$work/normal-init" --out "$work/compare.html" --force
shot() {  # page, picture, height
  timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$work/profile" \
    --window-size=1300,"$3" --virtual-time-budget=10000 --screenshot="$2" "file://$(realpath "$1")" 2>/dev/null
}
shot "$work/default/report.html" docs/images/report.png 2900
shot "$work/compare.html" docs/images/compare.png 1700
# The board, as its Selenium test leaves it: a run training live beside a finished one.
GRADFLOW_CLI="$G" GRADFLOW_SCREENSHOTS="$(realpath docs/images)" PYTHONPATH=build/python \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python/test_board.py -k follows > /dev/null
echo "docs/images/report.png, docs/images/compare.png, docs/images/board.png (runs in $work)"

#!/usr/bin/env bash
# The lecture's transfer-learning story on Fashion-MNIST: "a DNN trained on daily objects reused
# to classify vehicles". Pretrain on the six clothing classes, then learn the four others
# (Sandal, Sneaker, Bag, Ankle boot) from only 50 labelled images each — reusing the lower
# layers (frozen throughout: a linear probe; or frozen, then unfrozen one block every 5 epochs
# from the top down) versus the same network trained from scratch. Prints a table of the
# test accuracies. Run from the repository root after building:
#   bash examples/transfer_learning.sh [OUT=runs/transfer]
set -euo pipefail
G=${GRADFLOW:-./build/app/gradflow}
out=${1:-runs/transfer}
plain="--layers 512:relu,256:relu --no-report"
few="--batch-size 16 --classes 5,7,8,9 --per-class 50 --epochs 20"
rm -rf "$out/pretrain" "$out/scratch" "$out/probe" "$out/reuse"  # this script's own runs only

accuracy() {  # the "test accuracy N%" of a run's last line
  "$@" | tail -1 | sed -n 's/^test accuracy \([0-9.]*%\).*/\1/p'
}
pre=$(accuracy $G train $plain --classes 0,1,2,3,4,6 --epochs 5 --out "$out/pretrain")
scratch=$(accuracy $G train $plain $few --out "$out/scratch")
probe=$(accuracy $G train $plain $few --init-from "$out/pretrain" --freeze 2 --out "$out/probe")
reuse=$(accuracy $G train $plain $few --init-from "$out/pretrain" --freeze 2 --unfreeze-every 5 --out "$out/reuse")

echo
echo "pretrained on the six clothing classes (5 epochs): $pre on their test images"
echo
echo "| network for the four new classes (50 images each, 20 epochs) | test accuracy |"
echo "|---|---|"
echo "| trained from scratch | $scratch |"
echo "| reused lower layers, both hidden blocks frozen throughout (a linear probe) | $probe |"
echo "| reused lower layers, frozen, then unfrozen one block every 5 epochs from the top | $reuse |"

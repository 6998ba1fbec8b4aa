#!/usr/bin/env bash
# The lecture's transfer-learning story on Fashion-MNIST: "a DNN trained on daily objects reused
# to classify vehicles". Pretrain on the six clothing classes, then learn the four others
# (Sandal, Sneaker, Bag, Ankle boot) from only 50 labelled images each — reusing the lower
# layers (frozen, then unfrozen one block every 5 epochs from the top down) versus the same
# network trained from scratch. Run from the repository root after building.
set -euo pipefail
G=${GRADFLOW:-./build/app/gradflow}
out=${1:-runs/transfer}
plain="--no-batchnorm --dropout 0"
rm -rf "$out"
$G train $plain --classes 0,1,2,3,4,6 --epochs 5 --out "$out/pretrain" | tail -1
$G train $plain --batch-size 16 --classes 5,7,8,9 --per-class 50 --epochs 20 \
  --init-from "$out/pretrain" --freeze 2 --unfreeze-every 5 --out "$out/reuse" | tail -1
$G train $plain --batch-size 16 --classes 5,7,8,9 --per-class 50 --epochs 20 --out "$out/scratch" | tail -1

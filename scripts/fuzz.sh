#!/usr/bin/env bash
# Fuzz every reader of outside input with libFuzzer (clang-14, ASan+UBSan) for SECONDS each:
#   bash scripts/fuzz.sh [SECONDS=60] [TARGET...]   targets: fuzz_idx fuzz_csv fuzz_safetensors fuzz_onnx
#                                                    fuzz_config fuzz_minilang
# Starts from the committed seeds (fuzz/corpus/TARGET) and a working corpus kept in
# build-fuzz/corpus/TARGET; a crashing input is written to fuzz/corpus/TARGET/crash-*, where
# ctest replays it from then on (commit it with the fix). Prints executions per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_idx fuzz_csv fuzz_safetensors fuzz_onnx fuzz_config fuzz_minilang)
bash scripts/deps.sh clang-14 libclang-rt-14-dev
CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGRADFLOW_FUZZ=ON \
  -DGRADFLOW_SANITIZE=address,undefined -DGRADFLOW_BUILD_TESTS=OFF -DGRADFLOW_BUILD_CLI=OFF \
  -DGRADFLOW_BUILD_BENCH=OFF -DGRADFLOW_NATIVE=OFF > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}" > /dev/null
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  log="build-fuzz/$t.log"
  if ASAN_OPTIONS=detect_leaks=1 ./build-fuzz/fuzz/"$t" "build-fuzz/corpus/$t" "fuzz/corpus/$t" \
       -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="fuzz/corpus/$t/" -print_final_stats=1 > "$log" 2>&1; then
    result=ok
  else
    result="FOUND A CRASH (see $log)"; status=1
  fi
  echo "$t: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') executions" \
       "in ${seconds} s, corpus $(ls "build-fuzz/corpus/$t" | wc -l) inputs: $result"
done
exit $status

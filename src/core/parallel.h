// Internal: gradflow's compute threads, and the static work split every parallel loop uses.
//
// Why our own pool instead of the BLAS's threads: an MLP's products are small (a batch of 64
// times a 256-unit layer), and OpenBLAS (or oneDNN's OpenMP) parallelizes each one separately,
// with a hand-off and a wait per call. Splitting the work ourselves lets one parallel region
// hold a whole product plus the element-wise work on its slice (bias, activation, their
// gradients), so each thread keeps its slice of the weights and activations in its own cache.
// The sgemm library runs on one thread per call (core/blas.cpp).
//
// Determinism: every output element is written by exactly one thread with a fixed order of
// summation. Element-wise passes give the same bits under any split. A matrix product does not:
// OpenBLAS's Haswell/Zen kernels round an element of C differently depending on the shape of
// the call it sits in (a 64×256 product computed as two 64×128 halves differs from the whole
// in 431 of its 16384 values), so products run in fixed tiles (Grid) that depend on the shapes
// only — one product call per tile, whichever thread runs it. Results are
// therefore bit-identical for any thread count, on every kernel set and with either library.
#pragma once

#include <algorithm>
#include <cstddef>

namespace gradflow::parallel {

// Threads parallel regions use (≥ 1); the calling thread is one of them.
int threads();
// The count used until set_threads is called: GRADFLOW_NUM_THREADS when it is a positive
// number, else one per core.
int default_threads();
void set_threads(int n);

// Whether a pool that sees its workers stall (another process holds their core) sends regions
// to the caller alone for a while (parallel.cpp, kCallerSpin). On by default; tests that count
// a region's parts turn it off. Setting it, or the thread count, ends a solo period.
void set_stall_policy(bool on);

// A model of a machine with more cores than this one, for bench/bench_threads: while a
// Simulation is set, threads() is its thread count and a region runs its parts one after another
// on the calling thread, adding the region's slowest part and all of its parts up. Every split,
// hence every value, is the one that many threads compute. Set it while no region runs; nullptr
// ends it.
struct Simulation {
  int threads = 1;
  std::size_t regions = 0;
  double slowest_s = 0, all_s = 0;
};
void simulate(Simulation* s);

struct Range {
  std::size_t begin, end;
  std::size_t size() const { return end - begin; }
};

// Part t of T of [0, n): contiguous, with inner split points on multiples of `align` (so that
// two threads never write the same cache line of a row when align·4 bytes ≥ 64), rounded up:
// when n is small the last parts are the empty ones.
Range split(std::size_t n, int t, int T, std::size_t align = 16);

// Runs body(t, T) for t = 0..T−1 at once, t = 0 on the calling thread, and returns when all are
// done. T = min(parts, threads()), or 1 when another thread of the program is already inside a
// region (then everything runs on the caller). Only the caller's part (t = 0) may throw: the
// exception reaches the caller once the others are done; one thrown on another thread ends the
// program (std::terminate).
template <class F>
void run(F&& body, int parts);

// How many threads `work` (in the cost units below) is worth: each must get at least half of
// kMinParallelWork, so a big machine does not wake 64 threads for a 256-unit layer.
int parts_for(double work);

// Runs body(range) over the parts of [0, n) — as many as parts_for(n·cost_per_item) and n's
// aligned blocks allow (one part: a single serial call).
//
// Costs are in units of about 10 ps of one core's time. Handing work to another thread and
// waiting for it costs ≈ 0.5 µs, and a small sgemm split in two runs each half well below its
// full rate, so a split pays from about 10 µs of work. Measured on the 2-core Xeon:
// a product of a batch of 64 splits with gain from about 3 MFLOP (kProductFlop), an
// element-wise pass from about 60k floats (kElementCost). Without thresholds a 20-32-16-2 net
// trained at 0.44× its one-thread speed on two threads.
inline constexpr double kMinParallelWork = 1e6;
inline constexpr double kElementCost = 16;
inline constexpr double kProductFlop = 1.0 / 3;
template <class F>
void for_range(std::size_t n, double cost_per_item, F&& body, std::size_t align = 16);

// The fixed blocks of a product's n output columns: about kProductBlock each (two for
// 64 < n ≤ 256, so a 128-unit layer still splits), equal sizes rounded up to 16, a function of
// n alone. Block i of block_count(n) is block(n, i).
// The size trades speed on one thread (each block is its own sgemm call, which packs its
// other operand again: blocks of 128 cost 0.5–5% against one call, blocks of 32 10–25%)
// against how many threads a product can use (n / 128).
inline constexpr std::size_t kProductBlock = 128;
std::size_t block_count(std::size_t n);
Range block(std::size_t n, std::size_t i);
// The columns of part t of T's blocks in for_blocks (empty when it has none).
Range blocks_of(std::size_t n, int t, int T);

// Runs body(block) for every block of [0, n), each thread a contiguous run of blocks, as many
// threads as parts_for(n·cost_per_item) and the block count allow. What body computes for a
// block must depend only on the block (never on which thread, or which other blocks it runs
// with): then the result is the same for any thread count.
template <class F>
void for_blocks(std::size_t n, double cost_per_item, F&& body);
// The same split, one call per part: body(t, run) with run the part's blocks [run.begin,
// run.end) — for a part that first prepares something of its own (Dense's xᵀ).
template <class F>
void for_block_runs(std::size_t n, double cost_per_item, F&& body);

// A product's output C [m × n] cut into a grid of tiles, each its own product call — for a
// product worth more threads than its column blocks: a machine with 16 cores gets 16 tiles of
// the first layer's products, not 4 column blocks. The cuts are a function of the shapes alone
// (never of the thread count), so every thread count computes the same bits. Tiles are numbered
// row by row (tile t: row block t / col_count(), column block t % col_count()), or column by
// column when by_cols: the order in which threads take runs of them.
struct Grid {
  std::size_t m = 0, n = 0;                // C's rows and columns
  std::size_t row_size = 1, col_size = 1;  // a tile's rows and columns (the last ones smaller)
  bool by_cols = false;
  std::size_t row_count() const { return (m + row_size - 1) / row_size; }
  std::size_t col_count() const { return (n + col_size - 1) / col_size; }
  std::size_t count() const { return row_count() * col_count(); }
  Range rows(std::size_t tile) const;
  Range cols(std::size_t tile) const;
};

// The tiles a product of `work` (in the cost units above) is worth: each at least half of
// kMinParallelWork, at most kMaxTiles (the machine size the cuts are made for).
inline constexpr std::size_t kMaxTiles = 16;
std::size_t tiles_for(double work);
// n cut into about `count` equal blocks, multiples of 16 and at least `least` each: their size
// (16 or more; one block when n ≤ 16).
std::size_t cut(std::size_t n, std::size_t count, std::size_t least);
// C's columns in block(n)'s blocks, and its rows cut into equal blocks (multiples of 16, at least
// min_rows each) as far as needed for `want` tiles.
Grid cut_rows(std::size_t m, std::size_t n, std::size_t want, std::size_t min_rows);

// How many threads a grid of tiles gets: parts_for(count · cost_per_tile), at most one a tile.
int parts_for(const Grid& g, double cost_per_tile);
// Runs body(t, run) over the grid's tiles, each of `parts` threads a contiguous run
// [run.begin, run.end) of tile numbers; with whole_rows (a grid numbered row by row, parts ≤ its
// rows), runs of whole rows of tiles.
template <class F>
void for_tile_runs(const Grid& g, int parts, bool whole_rows, F&& body);
// body(rows, cols) for every tile.
template <class F>
void for_tiles(const Grid& g, double cost_per_tile, F&& body);

namespace detail {
void run(void (*fn)(void*, int, int), void* ctx, int parts);
}

template <class F>
void run(F&& body, int parts) {
  detail::run([](void* c, int t, int T) { (*static_cast<F*>(c))(t, T); },
              const_cast<void*>(static_cast<const void*>(&body)), parts);
}

template <class F>
void for_range(std::size_t n, double cost_per_item, F&& body, std::size_t align) {
  const std::size_t blocks = (n + align - 1) / align;
  const int parts = parts_for(static_cast<double>(n) * cost_per_item);  // ≤ threads()
  run([&](int t, int T) {
    const Range r = split(n, t, T, align);
    if (r.size()) body(r);
  }, static_cast<int>(std::min<std::size_t>(blocks, static_cast<std::size_t>(parts))));
}

template <class F>
void for_block_runs(std::size_t n, double cost_per_item, F&& body) {
  const std::size_t blocks = block_count(n);
  const int parts = parts_for(static_cast<double>(n) * cost_per_item);
  run([&](int t, int T) {
    const Range mine = split(blocks, t, T, 1);
    if (mine.size()) body(t, mine);
  }, static_cast<int>(std::min<std::size_t>(blocks, static_cast<std::size_t>(parts))));
}

template <class F>
void for_blocks(std::size_t n, double cost_per_item, F&& body) {
  for_block_runs(n, cost_per_item, [&](int, Range mine) {
    for (std::size_t i = mine.begin; i < mine.end; ++i) body(block(n, i));
  });
}

template <class F>
void for_tile_runs(const Grid& g, int parts, bool whole_rows, F&& body) {
  run([&](int t, int T) {
    Range mine = split(g.count(), t, T, 1);
    if (whole_rows) {
      const Range rows = split(g.row_count(), t, T, 1);
      mine = {rows.begin * g.col_count(), rows.end * g.col_count()};
    }
    if (mine.size()) body(t, mine);
  }, parts);
}

template <class F>
void for_tiles(const Grid& g, double cost_per_tile, F&& body) {
  for_tile_runs(g, parts_for(g, cost_per_tile), false, [&](int, Range mine) {
    for (std::size_t i = mine.begin; i < mine.end; ++i) body(g.rows(i), g.cols(i));
  });
}

}  // namespace gradflow::parallel

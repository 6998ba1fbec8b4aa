// blas::transpose (src/core/transpose.h): every shape the 16×16 register blocks meet — whole blocks,
// partial ones at either edge, strides wider than the matrix — moves each value to its place
// and writes nothing outside the cols × rows it was given, in either order of the blocks.
#include <gtest/gtest.h>

#include <cstddef>
#include <vector>

#include "core/transpose.h"

namespace gradflow {
namespace {

void expect_transposed(std::size_t rows, std::size_t cols, std::size_t ldi, std::size_t ldo, bool rows_first = false) {
  std::vector<float> in(rows * ldi);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) + 0.5f;
  const float untouched = -1.0f;
  std::vector<float> out(cols * ldo, untouched);
  blas::transpose(rows, cols, in.data(), ldi, out.data(), ldo, rows_first);
  for (std::size_t c = 0; c < cols; ++c)
    for (std::size_t r = 0; r < ldo; ++r) {
      const float want = r < rows ? in[r * ldi + c] : untouched;
      ASSERT_EQ(out[c * ldo + r], want) << rows << "×" << cols << " (ldi " << ldi << ", ldo " << ldo
                                        << (rows_first ? ", rows first" : "") << "): out[" << c << ", " << r << "]";
    }
}

TEST(Transpose, EveryBlockShapeAndStride) {
  for (std::size_t rows : {1, 2, 7, 15, 16, 17, 31, 33, 64})
    for (std::size_t cols : {1, 3, 10, 16, 17, 40, 128}) {
      for (const bool rows_first : {false, true}) {
        expect_transposed(rows, cols, cols, rows, rows_first);
        expect_transposed(rows, cols, cols + 5, rows + 3, rows_first);
      }
    }
}

TEST(Transpose, ABatchOfInputsAndABlockOfUnits) {
  expect_transposed(64, 784, 784, 64, true);  // x → xᵀ of a batch of 64 Fashion-MNIST images
  expect_transposed(128, 64, 64, 256);   // zᵀ of a block of 128 units → z's columns
  expect_transposed(64, 128, 256, 64);   // a's columns → aᵀ
}

}  // namespace
}  // namespace gradflow

// Probe (not built by CMake): what cutting a product into tiles costs on one thread, oneDNN's
// sgemm; prints GFLOP/s for every tile shape (rows × columns of C) of the forward (0), dW (1),
// dx (2) and the transposed forward Zᵀ = W·Xᵀ (3) — the table in docs/history/performance-log.md, "Tiles".
//   g++ -O2 -std=c++20 bench/probes/cut_cost.cpp -o /tmp/cut_cost -ldnnl -fopenmp
//   OMP_NUM_THREADS=1 [ONEDNN_MAX_CPU_ISA=AVX2] /tmp/cut_cost KIND B IN UNITS
#include <oneapi/dnnl/dnnl.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <random>
using std::size_t;
int main(int argc, char** argv) {
  int kind = atoi(argv[1]); size_t B = atoi(argv[2]), I = atoi(argv[3]), U = atoi(argv[4]);
  std::vector<float> X(B*I, 0.3f), W(U*I, 0.2f), G(B*U, 0.1f), C(std::max(B*U, std::max(U*I, B*I)));
  size_t m, n; if (kind==0) {m=B;n=U;} else if (kind==1) {m=U;n=I;} else if (kind==2) {m=B;n=I;} else {m=U;n=B;}
  const char* kn[] = {"fwd","dW","dx","fwdT"};
  printf("%s B%zu I%zu U%zu:", kn[kind], B, I, U);
  for (size_t rb : {m, (size_t)128, (size_t)64, (size_t)32, (size_t)16}) for (size_t cb : {n, (size_t)256, (size_t)128, (size_t)64, (size_t)32}) {
    if (rb > m || cb > n) continue;
    double best = 1e9;
    for (int rep = 0; rep < 30; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      for (size_t i=0;i<m;i+=rb) for (size_t j=0;j<n;j+=cb) {
        size_t r = std::min(rb, m-i), c = std::min(cb, n-j);
        if (kind==0) dnnl_sgemm('N','T', r, c, I, 1.0f, &X[i*I], I, &W[j*I], I, 1.0f, &C[i*n+j], n);
        else if (kind==1) dnnl_sgemm('T','N', r, c, B, 1.0f, &G[i], U, &X[j], I, 0.0f, &C[i*n+j], n);
        else if (kind==2) dnnl_sgemm('N','N', r, c, U, 1.0f, &G[i*U], U, &W[j], I, 0.0f, &C[i*n+j], n);
        else dnnl_sgemm('N','N', r, c, I, 1.0f, &W[i*I], I, &X[j], B, 1.0f, &C[i*n+j], n);
      }
      double t = std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count();
      if (t < best) best = t;
    }
    printf(" %zux%zu:%.0fG", rb, cb, 2.0*B*I*U/best/1e9);
  }
  printf("\n");
}

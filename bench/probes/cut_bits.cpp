// Probe (not built by CMake): does cutting a product's output C into tiles change any bit? For
// the three Dense products (forward Z = X·Wᵀ, dW = Gᵀ·X, dx = G·W) of a shape, each library
// computes C whole (in gradflow's former ≈128-column blocks) and in tiles of rows × columns, and
// prints how many elements differ (docs/history/performance-log.md, "Tiles": oneDNN's AVX-512 code and
// libxsmm give the same bits for tiles ≥ 16; oneDNN AVX2 and OpenBLAS Haswell/Zen do not).
//   g++ -O2 -std=c++20 bench/probes/cut_bits.cpp -o /tmp/cut_bits -ldnnl -lxsmm -lopenblas -lpthread -ldl -lm
//   OMP_NUM_THREADS=1 [ONEDNN_MAX_CPU_ISA=AVX2 | OPENBLAS_CORETYPE=Haswell] /tmp/cut_bits dnnl|blas|xsmm B IN UNITS
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <libxsmm.h>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <random>
#include <vector>
#include <string>
using std::size_t;
static bool use_dnnl = true;
void gemm(bool ta, bool tb, size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb, float beta, float* c, size_t ldc) {
  if (use_dnnl) dnnl_sgemm(ta?'T':'N', tb?'T':'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  else cblas_sgemm(CblasRowMajor, ta?CblasTrans:CblasNoTrans, tb?CblasTrans:CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
// C[m,n] += op(A) B via libxsmm, column-major trick as gemm_small
void xsmm(bool ta, size_t m, size_t n, size_t k, const float* a, size_t lda, const float* b, size_t ldb, float beta, float* c, size_t ldc) {
  const float alpha = 1.0f; const int flags = ta ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
  libxsmm_blasint M = n, N = m, K = k, LDA = ldb, LDB = lda, LDC = ldc;
  auto f = libxsmm_smmdispatch(M, N, K, &LDA, &LDB, &LDC, &alpha, &beta, &flags, nullptr);
  if (!f) { printf("no kernel %zu %zu %zu\n", m, n, k); exit(1);} f(b, a, c);
}
std::vector<float> rnd(size_t n, int s) { std::mt19937 g(s); std::uniform_real_distribution<float> d(-1,1); std::vector<float> v(n); for (auto& x: v) x = d(g); return v; }
// Kind: 0 fwd Z[B,U]=X[B,I] W[U,I]^T ; 1 dW[U,I] = G[B,U]^T X[B,I] ; 2 dx[B,I] = G[B,U] W[U,I]
// compute with tiles of (rows rb, cols cb) of C; returns C
std::vector<float> run(int kind, size_t B, size_t I, size_t U, size_t rb, size_t cb, bool x) {
  auto X = rnd(B*I,1), W = rnd(U*I,2), G = rnd(B*U,3);
  size_t m, n; if (kind==0) {m=B;n=U;} else if (kind==1) {m=U;n=I;} else {m=B;n=I;}
  std::vector<float> C(m*n, 0.5f);
  for (size_t i=0;i<m;i+=rb) for (size_t j=0;j<n;j+=cb) {
    size_t r = std::min(rb, m-i), c = std::min(cb, n-j);
    if (kind==0) { if (x) { /* zT[U,B] = W X^T: m=U rows... here tile rows of Z = B, cols = U*/ 
        // libxsmm forward is transposed: zt[u,b]; emulate: tile of zt rows j..j+c (units), cols i..i+r (batch)
        static std::vector<float> XT; XT.assign(I*B,0); for(size_t a=0;a<B;a++) for(size_t q=0;q<I;q++) XT[q*B+a]=X[a*I+q];
        std::vector<float> ZT(c*r); for (size_t u=0;u<c;u++) for(size_t b=0;b<r;b++) ZT[u*r+b]=C[(i+b)*n+j+u];
        xsmm(false, c, r, I, &W[j*I], I, &XT[i], B, 1.0f, ZT.data(), r);
        for (size_t u=0;u<c;u++) for(size_t b=0;b<r;b++) C[(i+b)*n+j+u]=ZT[u*r+b];
      } else gemm(false, true, r, c, I, &X[i*I], I, &W[j*I], I, 1.0f, &C[i*n+j], n); }
    else if (kind==1) { if (x) xsmm(true, r, c, B, &G[i], U, &X[j], I, 0.0f, &C[i*n+j], n); else gemm(true, false, r, c, B, &G[i], U, &X[j], I, 0.0f, &C[i*n+j], n); }
    else { if (x) xsmm(false, r, c, U, &G[i*U], U, &W[j], I, 0.0f, &C[i*n+j], n); else gemm(false, false, r, c, U, &G[i*U], U, &W[j], I, 0.0f, &C[i*n+j], n); }
  }
  return C;
}
int main(int argc, char** argv) {
  std::string lib = argv[1]; use_dnnl = lib=="dnnl"; bool x = lib=="xsmm";
  openblas_set_num_threads(1); if (x) libxsmm_init();
  size_t B = atoi(argv[2]), I = atoi(argv[3]), U = atoi(argv[4]);
  const char* kn[] = {"fwd","dW","dx"};
  for (int kind=0; kind<3; ++kind) {
    size_t m, n; if (kind==0) {m=B;n=U;} else if (kind==1) {m=U;n=I;} else {m=B;n=I;}
    size_t cb0 = n <= 64 ? n : (n <= 256 ? (n+31)/32*16 : 128);  // roughly current blocks
    auto ref = run(kind, B, I, U, m, cb0, x);
    printf("%s %s B%zu I%zu U%zu ref tiles %zux%zu:", lib.c_str(), kn[kind], B, I, U, m, cb0);
    for (size_t rb : {m, (size_t)64, (size_t)32, (size_t)16, (size_t)8}) for (size_t cb : {cb0, (size_t)64, (size_t)32, (size_t)16}) {
      if (rb > m || cb > cb0) continue;
      auto c = run(kind, B, I, U, rb, cb, x); size_t d=0; for (size_t q=0;q<c.size();q++) d += c[q]!=ref[q];
      printf(" %zux%zu:%zu", rb, cb, d);
    }
    printf("\n");
  }
}

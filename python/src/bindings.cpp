// _gradflow: the library for Python (the package gradflow wraps it; see python/gradflow/).
// Library errors become Python exceptions with the same message: std::invalid_argument →
// ValueError, std::runtime_error → RuntimeError, MemoryLimitError → MemoryError, TrainingDiverged →
// gradflow.TrainingDiverged (a RuntimeError).
#include "bindings.h"

#include <stdexcept>

#include "gradflow/memory.h"
#include "gradflow/runtime.h"
#include "gradflow/trainer.h"

PYBIND11_MODULE(_gradflow, m) {
  m.doc() = "gradflow's C++ library: feed-forward networks trained on the CPU with PyTorch's numerics";
  m.attr("__version__") = GRADFLOW_VERSION;
  // At import, before Python code can start threads that compute (an invalid environment
  // variable then raises ValueError on the first call that needs it).
  try {
    gradflow::select_openblas_kernels();
  } catch (const std::invalid_argument&) {
  }
  // A network too large for this machine's memory, refused before it is allocated.
  pybind11::register_exception<gradflow::MemoryLimitError>(m, "MemoryLimitError", PyExc_MemoryError);
  // Training stopped on a non-finite or exploding loss, gradient or weight: says where and why.
  pybind11::register_exception<gradflow::TrainingDiverged>(m, "TrainingDiverged", PyExc_RuntimeError);
  gradflow::python::bind_model(m);
  gradflow::python::bind_io(m);
  gradflow::python::bind_training(m);
  gradflow::python::bind_report(m);
}

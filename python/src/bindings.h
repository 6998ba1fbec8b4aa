// The Python module _gradflow, bound in parts (bindings.cpp has the module itself).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "gradflow/sequential.h"

namespace gradflow::python {

namespace py = pybind11;

void bind_model(py::module_& m);     // layers, Sequential, losses, optimizers, threads
void bind_io(py::module_& m);        // model files and data sets
void bind_training(py::module_& m);  // fit and evaluate
void bind_report(py::module_& m);    // a fit's report page, the studies

py::array_t<float> predict_array(const Sequential& model, const py::handle& X, std::size_t batch_size);

}  // namespace gradflow::python

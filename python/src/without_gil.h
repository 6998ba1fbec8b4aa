// Library work from Python: the GIL released (other Python threads run, two models train at
// once) and this thread on an alternate signal stack, because Python's handlers run wherever
// the kernel delivers a Ctrl-C — possibly inside a oneDNN product (gradflow/signal_stack.h).
#pragma once

#include <pybind11/pybind11.h>

#include "gradflow/signal_stack.h"

namespace gradflow::python {

struct WithoutGil {
  SignalStack stack;
  pybind11::gil_scoped_release release;
};

}  // namespace gradflow::python

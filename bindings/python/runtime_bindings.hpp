#pragma once
// The runtime manager's and hardware layer's part of the Python module (see runtime_bindings.cpp).

#include <pybind11/pybind11.h>

#include "dyndnn/dyndnn.hpp"

namespace dyndnn::python {
void bindRuntime(pybind11::module_& mod, pybind11::class_<DynamicModel>& model);
}

#pragma once
// `dyndnn.search`: operating points for the user's supernet, data and device (see search_bindings.cpp).

#include <pybind11/pybind11.h>

namespace dyndnn::python {
void bindSearch(pybind11::module_& mod);
}

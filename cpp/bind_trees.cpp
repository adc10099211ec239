#include "bindings.hpp"
namespace py = pybind11;
// placeholder until implemented
void init_trees(py::module_ &m) { (void)m; }

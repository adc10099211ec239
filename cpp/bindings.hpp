// Each exposed concept has its own binding file; module.cpp only wires them together.
#pragma once
#include <pybind11/pybind11.h>

void init_trees(pybind11::module_ &m);   // bind_trees.cpp: parsing, transforms, repair
void init_paper(pybind11::module_ &m);   // bind_paper.cpp: the paper's span-F1 metric
void init_evalb(pybind11::module_ &m);   // bind_evalb.cpp: EVALB-exact scoring

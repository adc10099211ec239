// Python bindings for trees: thin wrappers that convert arguments, release the GIL for the C++
// work and translate mckd::TreeError into mckd.errors.TreeError (a MckdError and a ValueError).
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "repair.hpp"
#include "transform.hpp"
#include "tree.hpp"

namespace py = pybind11;
using mckd::Delinearized;
using mckd::Format;
using mckd::Tree;

namespace {

using Release = py::call_guard<py::gil_scoped_release>;

py::list spans_of(const Tree &t) {
    py::list out(t.nodes.size());
    for (std::size_t j = 0; j < t.nodes.size(); ++j)
        out[j] = py::make_tuple(py::str(t.nodes[j].label), t.nodes[j].start, t.nodes[j].end);
    return out;
}

py::tuple tree_state(const Tree &t) {
    py::list nodes(t.nodes.size());
    for (std::size_t j = 0; j < t.nodes.size(); ++j) {
        const auto &x = t.nodes[j];
        nodes[j] = py::make_tuple(py::str(x.label), x.parent, x.start, x.end);
    }
    return py::make_tuple(py::cast(t.words), py::cast(t.tags), nodes);
}

Tree tree_from_state(const py::tuple &st) {
    if (st.size() != 3) throw mckd::TreeError("Tree state must be (words, tags, nodes)");
    Tree t;
    t.words = st[0].cast<std::vector<std::string>>();
    t.tags = st[1].cast<std::vector<std::string>>();
    for (const auto &item : st[2].cast<py::list>()) {
        const auto x = item.cast<py::tuple>();
        if (x.size() != 4) throw mckd::TreeError("Tree node state must be (label, parent, start, end)");
        t.nodes.push_back(mckd::Node{x[0].cast<std::string>(), x[1].cast<int32_t>(),
                                     x[2].cast<int32_t>(), x[3].cast<int32_t>()});
    }
    std::string why;
    for (std::size_t i = 0; i < t.words.size(); ++i)
        if (!mckd::valid_word(t.words[i], &why))
            throw mckd::TreeError("Tree state: word " + std::to_string(i + 1) + " " + why);
    t.check();
    return t;
}

std::string short_repr(const Tree &t) {
    std::string s = t.to_string();
    if (s.size() > 200) {
        std::size_t k = 0;
        while (k < s.size() && k < 200) k += mckd::classify_char(s, k).len;
        s = s.substr(0, k) + "...";
    }
    std::string out = "Tree('";
    for (const char c : s) {
        if (c == '\\' || c == '\'') out += '\\';
        out += c;
    }
    return out + "')";
}

// Borrow the C++ trees behind a Python sequence of Tree objects (kept alive by `hold`).
std::vector<const Tree *> borrow_trees(const py::sequence &seq, std::vector<py::object> &hold) {
    std::vector<const Tree *> out;
    out.reserve(seq.size());
    hold.reserve(seq.size());
    for (const auto &item : seq) {
        hold.push_back(py::reinterpret_borrow<py::object>(item));
        out.push_back(item.cast<const Tree *>());
    }
    return out;
}

}  // namespace

void init_trees(py::module_ &m) {
    // The Python class lives in mckd.errors so that it can derive from MckdError: callers then
    // need no wrapper to turn a core error into a user-facing one.
    static py::handle tree_error =
        py::object(py::module_::import("mckd.errors").attr("TreeError")).release();
    m.attr("TreeError") = tree_error;
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const mckd::TreeError &e) {
            PyErr_SetString(tree_error.ptr(), e.what());
        }
    });

    py::class_<Tree>(m, "Tree",
                     "A bracketed tree stored as flat arrays: words, one POS tag per word and the "
                     "constituents in pre-order with their word spans.")
        .def_property_readonly("words", [](const Tree &t) { return t.words; }, "The words (leaves).")
        .def_property_readonly("tags", [](const Tree &t) { return t.tags; },
                               "One POS tag per word ('' for unlabeled leaf wrappers).")
        .def_property_readonly("n_words", &Tree::n_words)
        .def_property_readonly("n_nodes", [](const Tree &t) { return t.nodes.size(); },
                               "Number of constituents (preterminals not counted).")
        .def("spans", &spans_of,
             "Constituents in pre-order as (label, start, end) with end exclusive, root first.")
        .def("parents", [](const Tree &t) {
                 std::vector<int32_t> p;
                 p.reserve(t.nodes.size());
                 for (const auto &x : t.nodes) p.push_back(x.parent);
                 return p;
             },
             "Parent index of every constituent (-1 for the root), aligned with spans().")
        .def("to_string", &Tree::to_string, Release(), "One-line PTB notation.")
        .def("__str__", &Tree::to_string, Release())
        .def("__repr__", &short_repr)
        .def("check", &Tree::check, "Raise TreeError if an internal invariant is broken.")
        .def("__eq__", [](const Tree &a, const Tree &b) { return a == b; }, py::is_operator())
        .def("__ne__", [](const Tree &a, const Tree &b) { return !(a == b); }, py::is_operator())
        .def(py::pickle(&tree_state, &tree_from_state));

    py::class_<Delinearized>(m, "DelinearizeResult",
                             "A repaired prediction: always a tree over exactly the input words.")
        .def_property_readonly("tree", [](const Delinearized &r) { return r.text; },
                               "The tree as text: unlabeled bracketing for 'unlabeled', PTB otherwise.")
        .def_readonly("ok", &Delinearized::ok)
        .def_readonly("repaired", &Delinearized::repaired)
        .def_readonly("problems", &Delinearized::problems)
        .def("as_tree", [](const Delinearized &r) { return r.tree; }, "The tree as a Tree object.")
        .def("__repr__", [](const Delinearized &r) {
            return "DelinearizeResult(ok=" + std::string(r.ok ? "True" : "False") +
                   ", repaired=" + (r.repaired ? "True" : "False") + ", problems=" +
                   std::to_string(r.problems.size()) + ")";
        });

    m.def("parse_tree", [](const std::string &text) { return mckd::parse_tree(text); }, Release(),
          py::arg("text"), "Read exactly one bracketed tree; TreeError says line, column and what.");
    m.def("parse_treebank",
          [](const py::bytes &data, const std::string &source) {
              std::string buf = data;  // copy while holding the GIL
              py::gil_scoped_release nogil;
              return mckd::parse_treebank(buf, source);
          },
          py::arg("data"), py::arg("source"),
          "Read every tree of a treebank file's bytes (one per line or multi-line).");
    m.def("split_treebank",
          [](const py::bytes &data) {
              const std::string_view buf = data;
              std::vector<mckd::TreeChunk> chunks;
              {
                  py::gil_scoped_release nogil;
                  chunks = mckd::split_treebank(buf);
              }
              py::list out(chunks.size());
              for (std::size_t k = 0; k < chunks.size(); ++k)
                  out[k] = py::make_tuple(chunks[k].line,
                                          py::bytes(buf.data() + chunks[k].begin,
                                                    chunks[k].end - chunks[k].begin));
              return out;
          },
          py::arg("data"),
          "The top-level pieces of a treebank file's bytes as (line, bytes): trees, or a stray ')' "
          "or text outside any tree; a tree still open where a line starts with '(' is cut there.");
    m.def("strip_label", [](const std::string &l) { return mckd::strip_label(l); }, py::arg("label"));
    m.def("strip_function_tags", &mckd::strip_function_tags, Release(), py::arg("tree"));
    m.def("delete_none", &mckd::delete_none, Release(), py::arg("tree"));
    m.def("drop_root_wrapper", &mckd::drop_root_wrapper, Release(), py::arg("tree"));
    m.def("clean", &mckd::clean, Release(), py::arg("tree"));
    m.def("linearize",
          [](const Tree &t, const std::string &fmt) { return mckd::linearize(t, mckd::parse_format(fmt)); },
          Release(), py::arg("tree"), py::arg("fmt"));
    m.def("unlabeled_string", &mckd::unlabeled_string, Release(), py::arg("tree"),
          py::arg("collapse_unary") = true);
    m.def("linearize_many",
          [](const py::sequence &trees, const std::string &fmt) {
              const Format f = mckd::parse_format(fmt);
              std::vector<py::object> hold;
              const auto ptrs = borrow_trees(trees, hold);
              std::vector<std::string> out(ptrs.size());
              {
                  py::gil_scoped_release nogil;
                  for (std::size_t i = 0; i < ptrs.size(); ++i) out[i] = mckd::linearize(*ptrs[i], f);
              }
              return out;
          },
          py::arg("trees"), py::arg("fmt"));
    m.def("delinearize",
          [](const std::string &pred, const std::vector<std::string> &words, const std::string &fmt) {
              return mckd::delinearize(pred, words, mckd::parse_format(fmt));
          },
          Release(), py::arg("pred"), py::arg("words"), py::arg("fmt"));
    m.def("delinearize_many",
          [](const std::vector<std::string> &preds, const std::vector<std::vector<std::string>> &words,
             const std::string &fmt) {
              if (preds.size() != words.size())
                  throw mckd::TreeError("delinearize_many: " + std::to_string(preds.size()) +
                                        " predictions but " + std::to_string(words.size()) +
                                        " word lists");
              const Format f = mckd::parse_format(fmt);
              std::vector<Delinearized> out;
              out.reserve(preds.size());
              for (std::size_t i = 0; i < preds.size(); ++i) {
                  try {
                      out.push_back(mckd::delinearize(preds[i], words[i], f));
                  } catch (const mckd::TreeError &e) {
                      throw mckd::TreeError("record " + std::to_string(i) + ": " + e.what());
                  }
              }
              return out;
          },
          Release(), py::arg("preds"), py::arg("words"), py::arg("fmt"));
    m.def("flat_tree",
          [](const std::vector<std::string> &words, const std::string &fmt) {
              return mckd::flat_tree(words, mckd::parse_format(fmt));
          },
          py::arg("words"), py::arg("fmt"));
}

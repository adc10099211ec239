// Python bindings of the EVALB-exact scorer (evalb.hpp). With the GIL held the tree sequences
// are pinned in tuples and viewed in place (str: its cached UTF-8, bytes: its buffer; no copy),
// then the whole scoring loop runs with the GIL released. Text that may hold arbitrary bytes (the
// report, messages) is returned as bytes; python/mckd/evalb.py decodes it.
#include <pybind11/stl.h>

#include <deque>
#include <string_view>

#include "bindings.hpp"
#include "evalb.hpp"

namespace py = pybind11;
using mckd::evalb::Params;
using mckd::evalb::Result;
using mckd::evalb::Totals;

namespace {

py::str lossy_str(const std::string &s) {
    PyObject *o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace");
    if (o == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(o);
}

// Views of the trees of one Python sequence. `pinned` keeps every item alive (and the sequence
// unchangeable from other threads) while the GIL is released; bytearrays, which can be resized
// under us, are copied into `owned`.
struct TreeViews {
    py::tuple pinned;
    std::deque<std::string> owned;
    std::vector<std::string_view> views;

    TreeViews(const py::handle &seq, const char *what) {
        if (PyUnicode_Check(seq.ptr()) || PyBytes_Check(seq.ptr()))
            throw py::type_error(std::string(what) +
                                 ": expected a sequence of tree strings, got one string");
        PyObject *tup = PySequence_Tuple(seq.ptr());
        if (tup == nullptr) throw py::error_already_set();
        pinned = py::reinterpret_steal<py::tuple>(tup);
        const Py_ssize_t n = PyTuple_GET_SIZE(tup);
        views.reserve(static_cast<size_t>(n));
        for (Py_ssize_t i = 0; i < n; ++i) {
            PyObject *o = PyTuple_GET_ITEM(tup, i);
            const char *data = nullptr;
            Py_ssize_t size = 0;
            if (PyUnicode_Check(o)) {
                data = PyUnicode_AsUTF8AndSize(o, &size);
                if (data == nullptr) {
                    PyErr_Clear();
                    throw py::value_error(std::string(what) + "[" + std::to_string(i) +
                                          "]: str cannot be encoded as UTF-8 (lone surrogate?); "
                                          "pass bytes instead");
                }
            } else if (PyBytes_Check(o)) {
                if (PyBytes_AsStringAndSize(o, const_cast<char **>(&data), &size) != 0)
                    throw py::error_already_set();
            } else if (PyByteArray_Check(o)) {
                owned.emplace_back(PyByteArray_AS_STRING(o),
                                   static_cast<size_t>(PyByteArray_GET_SIZE(o)));
                views.emplace_back(owned.back());
                continue;
            } else {
                throw py::type_error(std::string(what) + "[" + std::to_string(i) +
                                     "]: expected str or bytes, got " +
                                     Py_TYPE(o)->tp_name);
            }
            views.emplace_back(data, static_cast<size_t>(size));
        }
    }
};

}  // namespace

void init_evalb(py::module_ &m) {
    py::register_exception<mckd::evalb::ParamError>(m, "EvalbParamError", PyExc_ValueError);

    py::class_<Params>(m, "EvalbParams", "Settings of an EVALB .prm file.")
        .def(py::init<>(), "evalb.c's compiled-in defaults (no parameter file).")
        .def(py::init<const Params &>(), py::arg("other"), "A copy.")
        .def_static("collins", &Params::collins, "The settings of EVALB's COLLINS.prm.")
        .def_static("parse", &mckd::evalb::parse_params, py::arg("text"), py::arg("filename"),
                    "Parse .prm text; EvalbParamError names filename:line on bad input.")
        .def_readwrite("debug", &Params::debug)
        .def_readwrite("max_error", &Params::max_error)
        .def_readwrite("cutoff_len", &Params::cutoff_len)
        .def_readwrite("labeled", &Params::labeled)
        .def_readwrite("delete_label", &Params::delete_label)
        .def_readwrite("delete_label_for_length", &Params::delete_label_for_length)
        .def_readwrite("quote_label", &Params::quote_label)
        .def_readwrite("eq_label", &Params::eq_label)
        .def_readwrite("eq_word", &Params::eq_word);

    py::class_<Totals>(m, "EvalbTotals", "Counts behind one EVALB summary block.")
        .def_readonly("sentences", &Totals::sentences)
        .def_readonly("error_sentences", &Totals::error_sentences)
        .def_readonly("skip_sentences", &Totals::skip_sentences)
        .def_readonly("missing_sentences", &Totals::missing_sentences)
        .def_property_readonly("valid_sentences", &Totals::valid)
        .def_readonly("gold_brackets", &Totals::gold_brackets)
        .def_readonly("test_brackets", &Totals::test_brackets)
        .def_readonly("matched", &Totals::matched)
        .def_readonly("complete", &Totals::complete)
        .def_readonly("words", &Totals::words)
        .def_readonly("crossing", &Totals::crossing)
        .def_readonly("no_crossing", &Totals::no_crossing)
        .def_readonly("two_or_less", &Totals::two_or_less)
        .def_readonly("correct_tags", &Totals::correct_tags)
        .def_readonly("gold_brackets_all", &Totals::gold_brackets_all)
        .def_readonly("test_brackets_all", &Totals::test_brackets_all);

    py::class_<Result>(m, "EvalbResult", "Outcome of evalb_evaluate.")
        .def_readonly("all", &Result::all)
        .def_readonly("cut", &Result::cut)
        .def_readonly("cutoff_len", &Result::cutoff_len)
        .def_readonly("error_count", &Result::error_count)
        .def_readonly("evalb_stop_sentence", &Result::evalb_stop_sentence)
        // These quote the input, which need not be UTF-8: undecodable bytes are escaped, never
        // an exception (a binary file given as a tree file must still get its note).
        .def_property_readonly("evalb_stop_reason",
                               [](const Result &r) { return lossy_str(r.evalb_stop_reason); })
        .def_property_readonly("limit_notes", [](const Result &r) {
            py::list out;
            for (const auto &[sentence, note] : r.limit_notes)
                out.append(py::make_tuple(sentence, lossy_str(note)));
            return out;
        })
        .def_property_readonly(
            "report", [](const Result &r) { return py::bytes(r.report); },
            "evalb.c's standard output, as bytes (empty unless requested).")
        .def(
            "messages",
            [](const Result &r) {
                py::list out;
                for (const auto &msg : r.messages)
                    out.append(py::make_tuple(msg.sentence, msg.side, py::bytes(msg.text)));
                return out;
            },
            "Per-sentence problems as (sentence, side, text-bytes), in evalb.c's order.")
        .def(
            "per_sentence",
            [](const Result &r) {
                py::list out;
                for (const auto &s : r.sentences)
                    out.append(py::make_tuple(s.id, s.length, s.status, s.matched, s.gold_brackets,
                                              s.test_brackets, s.crossing, s.words, s.correct_tags,
                                              s.gold_brackets_all, s.test_brackets_all,
                                              s.beyond_evalb_limits));
                return out;
            },
            "One tuple per sentence: (id, length, status, matched, gold_brackets, test_brackets, "
            "crossing, words, correct_tags, gold_brackets_all, test_brackets_all, "
            "beyond_evalb_limits). status: 0 valid, 1 error, 2 skip, 3 missing test line.");

    m.def(
        "evalb_evaluate",
        [](const py::object &gold, const py::object &test, const Params &params, bool report) {
            const TreeViews g(gold, "gold"), t(test, "test");
            py::gil_scoped_release nogil;
            return mckd::evalb::evaluate(g.views, t.views, params, report);
        },
        py::arg("gold"), py::arg("test"), py::arg("params"), py::arg("report") = true,
        "Score test trees against gold trees (one tree per string, str or bytes) exactly as "
        "evalb.c does; report=True also builds its standard output.");
}

// Python bindings for the paper's metric; the batch call runs without the GIL.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "paper.hpp"

namespace py = pybind11;

namespace {
py::tuple as_tuple(const mckd::PaperSentence &s) {
    return py::make_tuple(s.f1, static_cast<int>(s.status), s.n_gold, s.n_pred, s.n_correct);
}
}  // namespace

void init_paper(py::module_ &m) {
    m.attr("PAPER_WORD_TAGS") = py::tuple(py::cast(mckd::paper_word_tags()));
    m.def("paper_fixup", &mckd::paper_fixup, py::arg("source"), py::arg("pred"),
          "The authors' fixup_prediction: balance brackets at the end, split merged tokens "
          "found split in `source`, one space after every '('.");
    m.def("paper_scores",
          [](const std::vector<std::string> &gold, const std::vector<std::string> &pred,
             const std::vector<std::string> &source, bool strict) {
              std::vector<mckd::PaperSentence> scores;
              {
                  py::gil_scoped_release nogil;
                  scores = mckd::paper_scores(gold, source, pred, strict);
              }
              py::list out(scores.size());
              for (std::size_t i = 0; i < scores.size(); ++i) out[i] = as_tuple(scores[i]);
              return out;
          },
          py::arg("gold"), py::arg("pred"), py::arg("source") = std::vector<std::string>{},
          py::arg("strict") = false,
          "Per sentence (f1 in 0..1, status 0 ok / 1 unparseable / 2 length mismatch / "
          "3 excluded, n_gold_spans, n_pred_spans, n_correct). `source`: the input sentences "
          "(empty: the gold leaves).");
    m.def("paper_sentence",
          [](const std::string &gold, const std::string &pred, const std::string &source,
             bool strict) {
              mckd::PaperSentence s;
              {
                  py::gil_scoped_release nogil;
                  s = mckd::paper_sentence(gold, source, pred, strict);
              }
              return as_tuple(s);
          },
          py::arg("gold"), py::arg("pred"), py::arg("source") = std::string(),
          py::arg("strict") = false);
}

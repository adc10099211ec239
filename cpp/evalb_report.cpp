// EVALB scorer, the run: every sentence pair in turn, evalb.c's report (per-sentence lines,
// DEBUG dumps, the summary blocks), and the public evaluate().
#include "evalb_scorer.hpp"

namespace mckd::evalb {
namespace detail {

void Scorer::dsp_info(const Side &g, const Side &t) {
    const int bn1 = static_cast<int>(g.brackets.size()), bn2 = static_cast<int>(t.brackets.size());
    appendf(out(), "-<1>---(wn1=%3d, bn1=%3d)-           ", g.wn, bn1);
    appendf(out(), "-<2>---(wn2=%3d, bn2=%3d)-\n", t.wn, bn2);
    int n = std::max(g.wn, t.wn);
    for (int i = 0; i < n; ++i) {
        const Terminal &a = term_at(g, i), &b = term_at(t, i);
        if (!a.word.empty())
            appendf(out(), "%3d : %d : %-6s  %-16s      ", i, a.result, L.str(a.label).c_str(),
                    std::string(a.word).c_str());
        else
            out() += "                                        ";
        if (!b.word.empty())
            appendf(out(), "%3d : %d : %-6s  %-16s\n", i, b.result, L.str(b.label).c_str(),
                    std::string(b.word).c_str());
        else
            out() += "\n";
    }
    out() += "\n";
    n = std::max(bn1, bn2);
    for (int i = 0; i < n; ++i) {
        if (i < bn1 && g.brackets[static_cast<size_t>(i)].start != -1) {
            const Bracket &b = g.brackets[static_cast<size_t>(i)];
            appendf(out(), "%3d : %d : %3d  %3d  %-6s      ", i, b.result, b.start, b.end,
                    L.str(b.label).c_str());
        } else {
            out() += "                                ";
        }
        if (i < bn2 && t.brackets[static_cast<size_t>(i)].start != -1) {
            const Bracket &b = t.brackets[static_cast<size_t>(i)];
            appendf(out(), "%3d : %d : %3d  %3d  %-6s\n", i, b.result, b.start, b.end,
                    L.str(b.label).c_str());
        } else {
            out() += "\n";
        }
    }
    out() += "\n";
    out() += "========\n";
}

void Scorer::print_block(const Totals &T) {
    // evalb.c prints these with int counters; int64 keeps huge corpora exact.
    const long long sentn = T.valid();
    appendf(out(), "Number of sentence        = %6lld\n", static_cast<long long>(T.sentences));
    appendf(out(), "Number of Error sentence  = %6lld\n", static_cast<long long>(T.error_sentences));
    appendf(out(), "Number of Skip  sentence  = %6lld\n", static_cast<long long>(T.skip_sentences));
    appendf(out(), "Number of Valid sentence  = %6lld\n", sentn);
    const double r = T.gold_brackets > 0 ? 100.0 * T.matched / T.gold_brackets : 0.0;
    appendf(out(), "Bracketing Recall         = %6.2f\n", r);
    const double p = T.test_brackets > 0 ? 100.0 * T.matched / T.test_brackets : 0.0;
    appendf(out(), "Bracketing Precision      = %6.2f\n", p);
    // Same expression as evalb.c: 0/0 prints as evalb.c prints it on this platform ("-nan").
    const double f = 2 * p * r / (p + r);
    appendf(out(), "Bracketing FMeasure       = %6.2f\n", f);
    appendf(out(), "Complete match            = %6.2f\n", (sentn > 0 ? 100.0 * T.complete / sentn : 0.0));
    appendf(out(), "Average crossing          = %6.2f\n", (sentn > 0 ? 1.0 * T.crossing / sentn : 0.0));
    appendf(out(), "No crossing               = %6.2f\n", (sentn > 0 ? 100.0 * T.no_crossing / sentn : 0.0));
    appendf(out(), "2 or less crossing        = %6.2f\n", (sentn > 0 ? 100.0 * T.two_or_less / sentn : 0.0));
    appendf(out(), "Tagging accuracy          = %6.2f\n",
            (T.words > 0 ? 100.0 * T.correct_tags / T.words : 0.0));
}

void Scorer::print_total() {
    const Totals &A = R.all;
    out() += "============================================================================\n";
    if (A.gold_brackets > 0 && A.test_brackets > 0) {
        appendf(out(), "                %6.2f %6.2f %6lld %5lld %5lld  %5lld",
                100.0 * A.matched / A.gold_brackets, 100.0 * A.matched / A.test_brackets,
                static_cast<long long>(A.matched), static_cast<long long>(A.gold_brackets),
                static_cast<long long>(A.test_brackets), static_cast<long long>(A.crossing));
    }
    appendf(out(), "  %5lld %5lld   %6.2f", static_cast<long long>(A.words),
            static_cast<long long>(A.correct_tags),
            (A.words > 0 ? 100.0 * A.correct_tags / A.words : 0.0));
    out() += "\n";
    out() += "=== Summary ===\n";
    out() += "\n-- All --\n";
    print_block(R.all);
    appendf(out(), "\n-- len<=%d --\n", P.cutoff_len);
    print_block(R.cut);
}

void Scorer::run(const std::vector<sv> &gold, const std::vector<sv> &test) {
    R.cutoff_len = P.cutoff_len;
    if (report_on) {
        out() += "  Sent.                        Matched  Bracket   Cross        Correct Tag\n";
        out() += " ID  Len.  Stat. Recal  Prec.  Bracket gold test Bracket Words  Tags Accracy\n";
        out() += "============================================================================\n";
    }
    R.sentences.reserve(gold.size());
    Side &g = g_, &t = t_;
    size_t i = 0;
    for (; i < gold.size(); ++i) {
        line = static_cast<int>(i) + 1;
        status = 0;
        SentenceResult sr;
        read_side(gold[i], g, "gold", false);
        if (i >= test.size()) {
            error("", "Number of lines unmatch (too many lines in gold file)");
            break;
        }
        read_side(test[i], t, "test", false);
        check_limits(gold[i], g, test[i], t, sr);
        calc_result(g, t, gold[i], test[i], sr);
        R.sentences.push_back(sr);
        if (report_on && P.debug >= 1) dsp_info(g, t);
    }
    // Gold sentences with no test line: not in evalb's totals, but zeros in errors-as-zero.
    for (; i < gold.size(); ++i) {
        read_side(gold[i], g, "gold", true);
        SentenceResult sr;
        sr.id = static_cast<int>(i) + 1;
        sr.length = g.len;
        sr.status = 3;
        sr.gold_brackets_all = countable_brackets(g);
        R.sentences.push_back(sr);
        for (Totals *T : {&R.all, &R.cut}) {
            if (T == &R.cut && g.len > P.cutoff_len) continue;
            T->missing_sentences++;
            T->gold_brackets_all += sr.gold_brackets_all;
        }
    }
    if (test.size() > gold.size()) {
        line = static_cast<int>(gold.size()) + 1;
        error("", "Number of lines unmatch (too many lines in test file)");
    }
    if (report_on) print_total();
}

}  // namespace detail

Result evaluate(const std::vector<std::string_view> &gold,
                const std::vector<std::string_view> &test, const Params &params,
                bool want_report) {
    Result r;
    detail::Scorer(params, want_report, r).run(gold, test);
    return r;
}

Result evaluate(const std::vector<std::string> &gold, const std::vector<std::string> &test,
                const Params &params, bool want_report) {
    const std::vector<std::string_view> g(gold.begin(), gold.end()), t(test.begin(), test.end());
    return evaluate(g, t, params, want_report);
}

}  // namespace mckd::evalb

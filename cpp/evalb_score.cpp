// EVALB scorer, scoring one sentence pair: quote re-insertion, evalb.c's massage_data, the
// bracket matcher and crossing count (and, with DEBUG 2, evalb.c's literal loops), the
// per-sentence result.
#include "evalb_scorer.hpp"

#include <climits>
#include <numeric>

namespace mckd::evalb::detail {

void Scorer::reinsert_term(const QuoteTerm &q, Side &s) {
    const int ind = q.index, bra = q.bracket;
    if (static_cast<size_t>(ind) > s.terms.size()) s.terms.resize(static_cast<size_t>(ind));
    s.terms.insert(s.terms.begin() + ind, Terminal{q.term.word, q.term.label, 9});
    s.wn++;
    const bool dbg = report_on && P.debug > 1;
    if (dbg) appendf(out(), "bra=%d, ind=%d\n", bra, ind);
    for (size_t k = 0; k < s.brackets.size(); ++k) {
        Bracket &b = s.brackets[k];
        if (b.start == -1) break;
        if (dbg) appendf(out(), "bracket[%d]={%d,%d}\n", static_cast<int>(k), b.start, b.end);
        if (static_cast<int>(k) >= bra) {
            b.start++;
            b.end++;
        }
    }
    if (dbg) appendf(out(), "endslen=%d\n", static_cast<int>(q.ends.size()));
    for (int k : q.ends) s.brackets[static_cast<size_t>(k)].end++;
}

// evalb.c's fix_quote: when the sides disagree on the length because a quote-like word was
// deleted on one side only, put it back there.
void Scorer::fix_quote(Side &g, Side &t) {
    if (report_on && P.debug > 1) {
        const size_t n = std::max(g.quotes.size(), t.quotes.size());
        for (size_t i = 0; i < n; ++i) {
            if (i < g.quotes.size())
                appendf(out(), "%d: %s - %s\n", g.quotes[i].index,
                        L.str(g.quotes[i].term.label).c_str(),
                        std::string(g.quotes[i].term.word).c_str());
            if (i < t.quotes.size())
                appendf(out(), "%d: %s - %s\n", t.quotes[i].index,
                        L.str(t.quotes[i].term.label).c_str(),
                        std::string(t.quotes[i].term.word).c_str());
        }
    }
    for (size_t i = 0; i < t.quotes.size(); ++i) {
        const int ind = t.quotes[i].index;
        for (size_t j = 0; j < g.quotes.size(); ++j) {
            if (g.quotes[j].index != ind || g.quotes[j].term.label == t.quotes[i].term.label)
                continue;
            const bool gdel = L[g.quotes[j].term.label].del;
            const bool tdel = L[t.quotes[i].term.label].del;
            if (gdel && !tdel) {
                reinsert_term(g.quotes[j], g);
                for (size_t k = j; k < g.quotes.size(); ++k) g.quotes[k].index++;
            } else if (tdel && !gdel) {
                reinsert_term(t.quotes[i], t);
                for (size_t k = i; k < t.quotes.size(); ++k) t.quotes[k].index++;
            }
        }
    }
}

// evalb.c's massage_data for one side: mark zero-width and deleted brackets (result 5),
// strip function tags; returns the number of counted brackets.
int Scorer::massage(Side &s) {
    int n = 0;
    for (auto &b : s.brackets) {
        b.result = 0;
        if (b.start == b.end) {
            b.result = 5;
            continue;
        }
        b.label = L[b.label].mod;
        if (deleted_bracket(b, b.label)) b.result = 5;
        if (b.result != 5) ++n;
    }
    return n;
}

// Each gold bracket, in order, takes the first still-unmatched test bracket (in order) with the
// same span and an equal label: evalb.c's multiset matching. Test brackets are sorted by packed
// (start, end, index); next_free_ skips taken ones, so runs of equal spans stay linear.
int Scorer::match_brackets(Side &g, Side &t) {
    auto &keys = keys_;
    keys.clear();
    const int bn2 = static_cast<int>(t.brackets.size());
    for (int j = 0; j < bn2; ++j) {
        const Bracket &b = t.brackets[static_cast<size_t>(j)];
        if (b.result == 0) keys.emplace_back(ord(b.start) << 32 | ord(b.end), j);
    }
    if (keys.empty()) return 0;
    sort_keys(keys);
    const int nk = static_cast<int>(keys.size());
    next_free_.resize(static_cast<size_t>(nk) + 1);
    std::iota(next_free_.begin(), next_free_.end(), 0);
    auto find_free = [&](int k) {  // first untaken index >= k (path halving, no recursion)
        while (next_free_[static_cast<size_t>(k)] != k) {
            next_free_[static_cast<size_t>(k)] =
                next_free_[static_cast<size_t>(next_free_[static_cast<size_t>(k)])];
            k = next_free_[static_cast<size_t>(k)];
        }
        return k;
    };
    int match = 0;
    for (auto &gb : g.brackets) {
        if (gb.result == 5) continue;
        const uint64_t span = ord(gb.start) << 32 | ord(gb.end);
        int k = static_cast<int>(
            std::lower_bound(keys.begin(), keys.end(), std::make_pair(span, INT_MIN)) -
            keys.begin());
        for (k = find_free(k); k < nk && keys[static_cast<size_t>(k)].first == span;
             k = find_free(k + 1)) {
            Bracket &tb = t.brackets[static_cast<size_t>(keys[static_cast<size_t>(k)].second)];
            if (P.labeled == 0 || L.comp(gb.label, tb.label)) {
                gb.result = tb.result = 1;
                next_free_[static_cast<size_t>(k)] = k + 1;
                ++match;
                break;
            }
        }
    }
    return match;
}

// Test brackets (counted) that some counted gold bracket crosses:
//   (a) gold.start < test.start < gold.end < test.end, i.e. min_end(test.start) < test.end
//       where min_end(x) = min{gold.end : gold.start < x < gold.end};
//   (b) test.start < gold.start < test.end < gold.end, i.e. max_start(test.end) > test.start
//       where max_start(x) = max{gold.start : gold.start < x < gold.end}.
// Both tables cost O(n + m + width) (times the inverse Ackermann function), width being the
// span of positions (at most the words plus re-inserted quotes, plus 2).
int Scorer::count_crossing(const Side &g, const Side &t) {
    int lo = INT_MAX, hi = INT_MIN;
    auto &golds = order_;
    golds.clear();
    for (int i = 0; i < static_cast<int>(g.brackets.size()); ++i) {
        const Bracket &b = g.brackets[static_cast<size_t>(i)];
        // Only spans with an inside position can cross anything.
        if (b.result == 5 || static_cast<int64_t>(b.end) - b.start < 2) continue;
        golds.push_back(i);
        lo = std::min(lo, b.start);
        hi = std::max(hi, b.end);
    }
    if (golds.empty()) return 0;
    const size_t width = static_cast<size_t>(static_cast<int64_t>(hi) - lo + 1);
    auto &best = best_;  // [0, width): min_end; [width, 2 width): max_start
    best.resize(2 * width);
    // Golds bucketed by start and by end (linked lists over positions), so neither sweep sorts.
    auto &head = pos_count_;  // [0, width): by start; [width, 2 width): by end
    head.assign(2 * width, -1);
    auto &link = link_;  // [0, n): next by start; [n, 2 n): next by end
    const size_t ng = golds.size();
    link.resize(2 * ng);
    for (size_t q = ng; q-- > 0;) {
        const Bracket &b = g.brackets[static_cast<size_t>(golds[q])];
        int &hs = head[static_cast<size_t>(b.start - lo)];
        link[q] = hs;
        hs = static_cast<int>(q);
        int &he = head[width + static_cast<size_t>(b.end - lo)];
        link[ng + q] = he;
        he = static_cast<int>(q);
    }
    // Paint each table: golds in order of end (min_end) or of start, latest first (max_start),
    // each fills the positions inside it that are still unset; `skip` (path-halving union-find)
    // jumps over set positions, so each position is written once.
    auto &skip = next_free_;
    auto find = [&](int k) {
        while (skip[static_cast<size_t>(k)] != k) {
            skip[static_cast<size_t>(k)] = skip[static_cast<size_t>(skip[static_cast<size_t>(k)])];
            k = skip[static_cast<size_t>(k)];
        }
        return k;
    };
    auto paint = [&](size_t base, int from, int to, int value) {  // relative positions [from, to)
        for (int x = find(from); x < to; x = find(x + 1)) {
            best[base + static_cast<size_t>(x)] = value;
            skip[static_cast<size_t>(x)] = x + 1;
        }
    };
    skip.resize(width + 1);
    std::iota(skip.begin(), skip.end(), 0);
    std::fill(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(width), INT_MAX);
    for (size_t e = 0; e < width; ++e)
        for (int q = head[width + e]; q >= 0; q = link[ng + static_cast<size_t>(q)]) {
            const Bracket &b = g.brackets[static_cast<size_t>(golds[static_cast<size_t>(q)])];
            paint(0, b.start + 1 - lo, b.end - lo, b.end);
        }
    std::iota(skip.begin(), skip.end(), 0);
    std::fill(best.begin() + static_cast<std::ptrdiff_t>(width), best.end(), INT_MIN);
    for (size_t st = width; st-- > 0;)
        for (int q = head[st]; q >= 0; q = link[static_cast<size_t>(q)]) {
            const Bracket &b = g.brackets[static_cast<size_t>(golds[static_cast<size_t>(q)])];
            paint(width, b.start + 1 - lo, b.end - lo, b.start);
        }
    int crossing = 0;
    for (const auto &b : t.brackets) {
        if (b.result == 5 || static_cast<int64_t>(b.end) - b.start < 2) continue;
        const bool a = b.start >= lo && b.start <= hi && best[static_cast<size_t>(b.start - lo)] < b.end;
        const bool c = b.end >= lo && b.end <= hi && best[width + static_cast<size_t>(b.end - lo)] > b.start;
        crossing += (a || c);
    }
    return crossing;
}

void Scorer::calc_result(Side &g, Side &t, sv gbuf, sv tbuf, SentenceResult &sr) {
    const bool dbg = report_on && P.debug > 1;
    if (dbg) out() += "\n";
    auto not_scored = [&]() {
        sr.gold_brackets_all = countable_brackets(g);
        sr.test_brackets_all = countable_brackets(t);
        individual_result(g, 0, 0, 0, 0, 0, 0, 0, 0, sr);
    };
    if (t.wn == 0) {
        status = 2;
        not_scored();
        return;
    }
    if (g.wn != t.wn) {
        fix_quote(g, t);
        if (g.wn != t.wn) {
            error("", format("Length unmatch (%d|%d)", g.wn, t.wn));
            not_scored();
            return;
        }
    }
    const int wn = g.wn;
    for (int i = 0; i < wn; ++i) {
        if (!word_comp(term_at(g, i).word, term_at(t, i).word)) {
            error("", "Words unmatch (" + std::string(term_at(g, i).word) + "|" +
                          std::string(term_at(t, i).word) + ")");
            not_scored();
            return;
        }
    }
    const int r_bn1 = massage(g), r_bn2 = massage(t);
    const int bn1 = static_cast<int>(g.brackets.size()), bn2 = static_cast<int>(t.brackets.size());
    int match = 0, crossing = 0;

    if (dbg) {
        // evalb.c's literal loops, with its bracket-level report.
        std::vector<char> match_j(static_cast<size_t>(bn2), 0);
        for (int i = 0; i < bn1; ++i) {
            Bracket &gb = g.brackets[static_cast<size_t>(i)];
            bool found = false;
            for (int j = 0; j < bn2; ++j) {
                Bracket &tb = t.brackets[static_cast<size_t>(j)];
                appendf(out(), "1.res=%d, 2.res=%d, 1.start=%d, 2.start=%d, 1.end=%d, 2.end=%d\n",
                        gb.result, tb.result, gb.start, tb.start, gb.end, tb.end);
                if (gb.result != 5 && tb.result == 0 && gb.start == tb.start && gb.end == tb.end) {
                    if (P.labeled == 0 || L.comp(gb.label, tb.label)) {
                        gb.result = tb.result = 1;
                        ++match;
                        found = true;
                        break;
                    }
                    appendf(out(), "  LABEL[%d-%d]: %s\n", gb.start, gb.end - 1, slice(gbuf, gb).c_str());
                    found = true;
                    match_j[static_cast<size_t>(j)] = 1;
                }
            }
            if (!found && gb.result != 5)
                appendf(out(), "  BRACKET[%d-%d]: %s\n", gb.start, gb.end - 1, slice(gbuf, gb).c_str());
        }
        for (int j = 0; j < bn2; ++j) {
            const Bracket &tb = t.brackets[static_cast<size_t>(j)];
            if (tb.result == 0 && !match_j[static_cast<size_t>(j)])
                appendf(out(), "  EXTRA[%d-%d]: %s\n", tb.start, tb.end - 1, slice(tbuf, tb).c_str());
        }
        int last_i = -1;
        for (int j = 0; j < bn2; ++j) {
            const Bracket &tb = t.brackets[static_cast<size_t>(j)];
            for (int i = 0; i < bn1; ++i) {
                const Bracket &gb = g.brackets[static_cast<size_t>(i)];
                if (gb.result != 5 && tb.result != 5 &&
                    ((gb.start < tb.start && gb.end > tb.start && gb.end < tb.end) ||
                     (gb.start > tb.start && gb.start < tb.end && gb.end > tb.end))) {
                    if (i != last_i) {
                        appendf(out(), "  CROSSING[%d-%d]: %s\n", gb.start, gb.end - 1,
                                slice(gbuf, gb).c_str());
                        last_i = i;
                    }
                    ++crossing;
                    break;
                }
            }
        }
    } else {
        match = match_brackets(g, t);
        crossing = count_crossing(g, t);
    }

    int correct_tag = 0;
    for (int i = 0; i < wn; ++i) {
        Terminal &a = g.terms[static_cast<size_t>(i)];
        Terminal &b = t.terms[static_cast<size_t>(i)];
        const int ok = L.comp(a.label, b.label) ? 1 : 0;
        a.result = b.result = ok;
        correct_tag += ok;
    }
    sr.gold_brackets_all = r_bn1;
    sr.test_brackets_all = r_bn2;
    individual_result(g, wn, r_bn1, r_bn2, r_bn1, r_bn2, match, crossing, correct_tag, sr);
}
void Scorer::individual_result(const Side &g, int wn1, int bn1, int bn2, int r_bn1, int r_bn2,
                               int match, int crossing, int correct_tag, SentenceResult &sr) {
    auto add = [&](Totals &T) {
        T.sentences++;
        T.gold_brackets_all += sr.gold_brackets_all;
        T.test_brackets_all += sr.test_brackets_all;
        if (status == 1) {
            T.error_sentences++;
        } else if (status == 2) {
            T.skip_sentences++;
        } else {
            T.gold_brackets += bn1;
            T.test_brackets += bn2;
            T.matched += match;
            if (bn1 == bn2 && bn2 == match) T.complete++;
            T.words += wn1;
            T.crossing += crossing;
            if (crossing == 0) T.no_crossing++;
            if (crossing <= 2) T.two_or_less++;
            T.correct_tags += correct_tag;
        }
    };
    add(R.all);
    if (g.len <= P.cutoff_len) add(R.cut);

    sr.id = line;
    sr.length = g.len;
    sr.status = status;
    sr.matched = match;
    sr.gold_brackets = r_bn1;
    sr.test_brackets = r_bn2;
    sr.crossing = crossing;
    sr.words = wn1;
    sr.correct_tags = correct_tag;

    if (!report_on) return;
    // The same expressions as evalb.c, so that the doubles (and their rounding) are identical.
    appendf(out(), "%4d  %3d    %d  ", line, g.len, status);
    appendf(out(), "%6.2f %6.2f   %3d    %3d  %3d    %3d",
            (r_bn1 == 0 ? 0.0 : 100.0 * match / r_bn1), (r_bn2 == 0 ? 0.0 : 100.0 * match / r_bn2),
            match, r_bn1, r_bn2, crossing);
    appendf(out(), "   %4d  %4d   %6.2f\n", wn1, correct_tag,
            (wn1 == 0 ? 0.0 : 100.0 * correct_tag / wn1));
}

}  // namespace mckd::evalb::detail

// Cleaning transforms and linearizations; all single passes over the flat arrays.
#include "transform.hpp"

namespace mckd {

Format parse_format(std::string_view name) {
    if (name == "unlabeled") return Format::Unlabeled;
    if (name == "labeled") return Format::Labeled;
    if (name == "skeleton") return Format::Skeleton;
    throw TreeError("unknown tree format '" + std::string(name) +
                    "' (expected unlabeled, labeled or skeleton)");
}

const char *format_name(Format f) {
    switch (f) {
        case Format::Unlabeled: return "unlabeled";
        case Format::Labeled: return "labeled";
        case Format::Skeleton: return "skeleton";
    }
    return "?";
}

namespace {
// Length of the base label: "NP-SBJ-1" -> 2, "PP-LOC=2" -> 2, "-NONE-" -> 6, "-LRB--1" -> 5.
std::size_t base_length(std::string_view label) {
    if (label.empty()) return 0;
    if (label[0] == '-') {
        // -NONE-, -LRB-, -RRB-: the core runs to the second dash.
        const std::size_t k = label.find('-', 1);
        if (k == std::string_view::npos) return label.size();
        const std::size_t core_end = k + 1;
        if (core_end < label.size() && label[core_end] != '-' && label[core_end] != '=')
            return label.size();  // not a dashed core after all ("-X-Y"): leave it alone
        return core_end;
    }
    const std::size_t k = label.find_first_of("-=", 1);
    return k == std::string_view::npos ? label.size() : k;
}

void strip_in_place(std::string &label) { label.resize(base_length(label)); }
}  // namespace

std::string strip_label(std::string_view label) {
    return std::string(label.substr(0, base_length(label)));
}

Tree strip_function_tags(const Tree &t) {
    Tree out = t;
    for (auto &n : out.nodes) strip_in_place(n.label);
    for (auto &tag : out.tags) strip_in_place(tag);
    return out;
}

namespace {
// delete_none, optionally stripping function tags on the way (clean() does both in one pass).
Tree delete_none_impl(const Tree &t, bool strip) {
    const std::size_t n = t.words.size();
    std::vector<int32_t> kept_before(n + 1, 0);  // words kept before position i
    Tree out;
    out.words.reserve(n);
    out.tags.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const bool keep = t.tags[i] != "-NONE-";
        kept_before[i + 1] = kept_before[i] + (keep ? 1 : 0);
        if (keep) {
            out.words.push_back(t.words[i]);
            out.tags.push_back(t.tags[i]);
            if (strip) strip_in_place(out.tags.back());
        }
    }
    std::vector<int32_t> remap(t.nodes.size(), -1);
    out.nodes.reserve(t.nodes.size());
    for (std::size_t j = 0; j < t.nodes.size(); ++j) {
        const Node &x = t.nodes[j];
        const int32_t s = kept_before[static_cast<std::size_t>(x.start)];
        const int32_t e = kept_before[static_cast<std::size_t>(x.end)];
        if (s == e) continue;  // emptied; its descendants are empty too
        // A kept node's parent covers a superset of its words, so it is kept as well.
        const int32_t p = x.parent < 0 ? -1 : remap[static_cast<std::size_t>(x.parent)];
        remap[j] = static_cast<int32_t>(out.nodes.size());
        out.nodes.push_back(Node{x.label, p, s, e});
        if (strip) strip_in_place(out.nodes.back().label);
    }
    return out;
}

// Number of unlabeled root wrappers at the front of t.nodes.
std::size_t count_wrappers(const Tree &t) {
    std::size_t drop = 0;
    for (;;) {
        const std::size_t r = drop;
        if (r >= t.nodes.size() || !t.nodes[r].label.empty()) break;
        const bool unary_over_node = r + 1 < t.nodes.size() &&
                                     t.nodes[r + 1].parent == static_cast<int32_t>(r) &&
                                     t.nodes[r + 1].start == t.nodes[r].start &&
                                     t.nodes[r + 1].end == t.nodes[r].end;
        const bool over_lone_word = r + 1 == t.nodes.size() && t.words.size() == 1;
        if (!unary_over_node && !over_lone_word) break;
        ++drop;
    }
    return drop;
}

void drop_front_nodes(Tree &t, std::size_t drop) {
    if (drop == 0) return;
    const auto d = static_cast<int32_t>(drop);
    t.nodes.erase(t.nodes.begin(), t.nodes.begin() + static_cast<std::ptrdiff_t>(drop));
    for (auto &x : t.nodes) x.parent = x.parent < d ? -1 : x.parent - d;
}
}  // namespace

Tree delete_none(const Tree &t) { return delete_none_impl(t, false); }

Tree drop_root_wrapper(const Tree &t) {
    Tree out = t;
    drop_front_nodes(out, count_wrappers(out));
    return out;
}

Tree clean(const Tree &t) {
    Tree out = delete_none_impl(t, true);
    drop_front_nodes(out, count_wrappers(out));
    return out;
}

namespace {

// Pre-order walk over nodes and words without recursion: calls open(j) when node j starts,
// close(j) when it ends and word(i) for each word, in reading order.
template <class Open, class Close, class Word>
void walk(const Tree &t, Open open, Close close, Word word) {
    std::vector<int32_t> stack;
    std::size_t w = 0;
    auto words_until = [&](std::size_t upto) {
        for (; w < upto; ++w) word(w);
    };
    auto close_top = [&]() {
        const auto j = static_cast<std::size_t>(stack.back());
        words_until(static_cast<std::size_t>(t.nodes[j].end));
        close(j);
        stack.pop_back();
    };
    for (std::size_t j = 0; j < t.nodes.size(); ++j) {
        while (!stack.empty() && stack.back() != t.nodes[j].parent) close_top();
        words_until(static_cast<std::size_t>(t.nodes[j].start));
        open(j);
        stack.push_back(static_cast<int32_t>(j));
    }
    while (!stack.empty()) close_top();
    words_until(t.words.size());
}

}  // namespace

std::string unlabeled_string(const Tree &t, bool collapse_unary) {
    std::vector<char> bracketed(t.nodes.size(), 1);
    if (collapse_unary) {
        const std::vector<int32_t> counts = t.child_counts();
        for (std::size_t j = 0; j < counts.size(); ++j) bracketed[j] = counts[j] >= 2;
    }
    std::string out;
    auto tok = [&](std::string_view s) {
        if (!out.empty()) out += ' ';
        out.append(s);
    };
    walk(
        t, [&](std::size_t j) { if (bracketed[j]) tok("("); },
        [&](std::size_t j) { if (bracketed[j]) tok(")"); },
        [&](std::size_t i) {
            tok("(");
            tok(t.words[i]);
            tok(")");
        });
    return out;
}

std::string skeleton_string(const Tree &t) {
    std::string out;
    bool need_space = false;
    walk(
        t,
        [&](std::size_t j) {
            if (need_space) out += ' ';
            out += '(';
            out += t.nodes[j].label;
            need_space = true;
        },
        [&](std::size_t) { out += ')'; },
        [&](std::size_t i) {
            if (t.tags[i].empty())
                throw TreeError("skeleton format needs a POS tag on every word; word " +
                                std::to_string(i + 1) + " '" + t.words[i] + "' has none");
            if (need_space) out += ' ';
            out += t.tags[i];
            need_space = true;
        });
    return out;
}

std::string linearize(const Tree &t, Format f) {
    switch (f) {
        case Format::Unlabeled: return unlabeled_string(t, true);
        case Format::Labeled: return t.to_string();
        case Format::Skeleton: return skeleton_string(t);
    }
    return std::string();
}

}  // namespace mckd

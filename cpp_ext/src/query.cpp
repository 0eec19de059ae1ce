#include "retrieval/query.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace retrieval {

void plan_query(const IndexView& ix, ArrayView<std::uint32_t> query, QueryPlan& plan) {
    plan.terms.clear();
    plan.positions.clear();
    plan.terms.reserve(query.size);
    plan.positions.reserve(query.size);
    // Unique terms: a linear search is cheapest for the usual short query (no allocation); a
    // hash map keeps very long ones linear.
    constexpr std::size_t kLinearSearchMax = 64;
    const bool use_map = query.size > kLinearSearchMax;
    std::unordered_map<std::uint32_t, std::uint32_t> index_of;  // does not allocate until used
    const double per_unit = ix.params.variant == Variant::Okapi ? ix.params.k1 + 1.0 : 1.0;
    double abs_sum = 0.0;  // >= sum over positions of |contribution|
    for (std::uint32_t term : query) {
        if (ix.postings->df[term] == 0) continue;  // adds nothing to any score
        const auto next = static_cast<std::uint32_t>(plan.terms.size());
        std::uint32_t u = 0;
        if (use_map) {
            u = index_of.emplace(term, next).first->second;
        } else {
            while (u < next && plan.terms[u].term != term) ++u;
        }
        if (u == next) plan.terms.push_back({term, 0, ix.idf[term], 0.0});
        plan.terms[u].multiplicity += 1;
        plan.positions.push_back(u);
        // |idf * tf*(k1+1)/(tf+norm)| <= |idf|*(k1+1) since norm >= 0 (lucene: <= |idf|).
        abs_sum += std::max(std::fabs(ix.idf[term]) * per_unit, std::fabs(ix.term_max[term]));
    }
    for (auto& qt : plan.terms) {
        qt.upper_bound = static_cast<double>(qt.multiplicity) * std::max(ix.term_max[qt.term], 0.0);
    }
    const double n = static_cast<double>(plan.positions.size());
    plan.slack = (4.0 * n + 8.0) * DBL_EPSILON * abs_sum;
}

QueryPlan plan_query(const IndexView& ix, ArrayView<std::uint32_t> query) {
    QueryPlan plan;
    plan_query(ix, query, plan);
    return plan;
}

Strategy parse_strategy(const std::string& name) {
    if (name == "auto") return Strategy::Auto;
    if (name == "exhaustive") return Strategy::Exhaustive;
    if (name == "maxscore") return Strategy::MaxScore;
    if (name == "bounded") return Strategy::Bounded;
    throw std::invalid_argument("unknown top-k strategy '" + name +
                                "'; use 'auto', 'exhaustive', 'maxscore' or 'bounded'");
}

}  // namespace retrieval

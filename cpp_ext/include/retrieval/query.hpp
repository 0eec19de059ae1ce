// What the search strategies need to know about a query, computed once per query.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "retrieval/array_view.hpp"
#include "retrieval/impact_cache.hpp"
#include "retrieval/params.hpp"
#include "retrieval/postings.hpp"

namespace retrieval {

// Read-only state shared by every query on one index.
struct IndexView {
    const PostingsView* postings;
    ImpactCache* cache;          // exact impacts of queried terms (never null)
    BoundCache* bounds;          // quantized bounds of queried terms (never null)
    ArrayView<double> idf;       // [vocab]
    ArrayView<double> norms;     // [n_docs]
    ArrayView<double> term_max;  // [vocab] max contribution of a term over its postings
    Params params;
    std::uint32_t n_docs;
};

struct QueryTerm {
    std::uint32_t term;
    std::uint32_t multiplicity;  // how many query positions name it
    double idf;
    double upper_bound;          // multiplicity * max(term_max, 0): bounds its share of a score
};

struct QueryPlan {
    std::vector<QueryTerm> terms;        // unique terms that have postings, first-seen order
    std::vector<std::uint32_t> positions;  // index into `terms` per query position, query order
    // Safety margin for comparing an upper bound with a score summed in another order: a few
    // ulps of the largest possible sum, so rounding can never make a pruned doc a winner.
    double slack = 0.0;
};

QueryPlan plan_query(const IndexView& ix, ArrayView<std::uint32_t> query);
// The same into `plan`, reusing its memory.
void plan_query(const IndexView& ix, ArrayView<std::uint32_t> query, QueryPlan& plan);

// Bounded: exhaustive over the bound cache (search.hpp), whatever the index size.
enum class Strategy { Auto, Exhaustive, MaxScore, Bounded };
Strategy parse_strategy(const std::string& name);  // throws std::invalid_argument

}  // namespace retrieval

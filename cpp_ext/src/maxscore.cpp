// Document-at-a-time MaxScore (Turtle & Flood 1995) with block-max bounds.
//
// Terms are sorted by upper bound; the longest prefix whose bounds sum to <= the heap threshold
// is "non-essential": a doc containing only those terms cannot beat the k-th hit, so candidates
// come from the essential lists only and non-essential lists are probed (with block skipping)
// only while the running bound can still beat the threshold.
//
// Safety with the tie rule: docs are visited in increasing id order, so a new doc is larger than
// every id in the heap and enters only with score > threshold; pruning on bound <= threshold is
// therefore exact. Bounds are compared with `slack` added so that rounding (bounds are summed
// in a different order than scores) cannot prune a winner.
//
// Block maxima: a candidate is also dropped when its essential share plus the non-essential
// terms' current block maxima cannot beat the threshold. Measured on i.i.d. synthetic text and
// SciFact this is neutral (within +-3%), since blocks of common terms nearly all hold a
// near-maximal posting; it is kept for corpora where neighbouring ids are related (chunks of one
// document), where block maxima vary more. A Block-Max-MaxScore style range skip (jump to the
// end of the shortest current block when the sum of all block maxima cannot win) was 20%
// slower on the 100k-document benchmark and was dropped.
//
// Cursors read the bound cache where the exact cache lacks a term (term_cursor.hpp): a candidate
// is pruned on the sum of its quantized bounds, and only a survivor is scored exactly (from its
// tfs, in query-position order). Starting from a threshold seeded by the rarest terms' exact
// partial sums (the k-th best is a lower bound of the k-th best score) was tried and dropped:
// slower in every run, min of 3 passes each: SciFact decoding 104 / 100 and 151 / 103 us a
// query (seeded / not), 367k resampled chunks 2,498 / 2,117 us.
#include <algorithm>
#include <limits>
#include <numeric>

#include "retrieval/search.hpp"

namespace retrieval {

namespace {

std::size_t maxscore(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                     std::int64_t* ids, double* scores) {
    const std::size_t nt = plan.terms.size();
    const double slack = plan.slack;

    // order[i]: unique-term index of the i-th smallest upper bound; cursors follow that order.
    auto& order = s.order;
    order.resize(nt);
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        return plan.terms[a].upper_bound < plan.terms[b].upper_bound;
    });
    auto& cursors = s.cursors;
    cursors.resize(nt);
    auto& cursor_of = s.cursor_of;  // by unique-term index
    cursor_of.resize(nt);
    auto& prefix = s.prefix;  // prefix[i] = sum of upper bounds of order[0..i]
    prefix.resize(nt);
    double running = 0.0;
    for (std::size_t i = 0; i < nt; ++i) {
        const QueryTerm& qt = plan.terms[order[i]];
        cursors[i].reset(ix, qt.term, /*use_bounds=*/true);
        cursor_of[order[i]] = static_cast<std::uint32_t>(i);
        running += qt.upper_bound;
        prefix[i] = running;
    }
    auto& contrib = s.contrib;  // by unique-term index, valid where present
    auto& present = s.present;
    contrib.assign(nt, 0.0);
    present.assign(nt, 0);

    TopKHeap heap(s.heap, k);
    double threshold = -std::numeric_limits<double>::infinity();
    std::size_t first_essential = 0;

    // Marks whether cursor i sits on `d`; returns its weighted bound (0 when it does not).
    auto probe = [&](std::size_t i, std::uint32_t d) -> double {
        const std::uint32_t u = order[i];
        if (cursors[i].doc() != d) {
            present[u] = 0;
            return 0.0;
        }
        present[u] = 1;
        return static_cast<double>(plan.terms[u].multiplicity) * cursors[i].bound();
    };

    for (;;) {
        std::uint32_t d = kEndDoc;
        for (std::size_t i = first_essential; i < nt; ++i) d = std::min(d, cursors[i].doc());
        if (d == kEndDoc) break;
        const std::size_t essential_begin = first_essential;

        double partial = 0.0;  // sum of the bounds found so far (a bound, not the final score)
        for (std::size_t i = essential_begin; i < nt; ++i) partial += probe(i, d);

        bool keep = true;
        if (essential_begin > 0) {
            // Block-max check: the non-essential terms can add at most their blocks' maxima.
            double bound = partial;
            for (std::size_t i = 0; i < essential_begin; ++i) {
                const QueryTerm& qt = plan.terms[order[i]];
                bound += static_cast<double>(qt.multiplicity) * std::max(cursors[i].block_max_geq(d), 0.0);
            }
            keep = bound + slack > threshold;
            for (std::size_t i = essential_begin; keep && i-- > 0;) {
                if (partial + prefix[i] + slack <= threshold) {
                    keep = false;
                    break;
                }
                cursors[i].next_geq(d);
                partial += probe(i, d);
            }
        }
        // Every term has been probed: `partial` bounds the exact score from above.
        if (keep && partial + slack > threshold) {
            for (std::size_t u = 0; u < nt; ++u) {
                if (present[u]) contrib[u] = cursors[cursor_of[u]].exact();
            }
            double score = 0.0;  // query-position order, exactly like the exhaustive path
            for (std::uint32_t u : plan.positions) {
                if (present[u]) score += contrib[u];
            }
            heap.push({score, d});
            if (heap.full()) {
                threshold = heap.worst().score;
                while (first_essential < nt && prefix[first_essential] + slack <= threshold) ++first_essential;
            }
        }
        for (std::size_t i = essential_begin; i < nt; ++i) {
            if (cursors[i].doc() == d) cursors[i].next();
        }
    }
    return heap.finish(ids, scores);
}

}  // namespace

std::size_t topk_maxscore(const IndexView& ix, const QueryPlan& plan, std::size_t k, Scratch& s,
                          std::int64_t* ids, double* scores) {
    return maxscore(ix, plan, k, s, ids, scores);
}

}  // namespace retrieval

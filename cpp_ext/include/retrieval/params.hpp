// BM25 parameters and the scoring formulas, written in rank_bm25's exact operation order so that
// results are bit-identical to it (tests compare with np.array_equal).
#pragma once

#include <cstdint>
#include <string>

namespace retrieval {

enum class Variant : int { Lucene = 0, Okapi = 1 };

Variant parse_variant(const std::string& name);  // throws std::invalid_argument
const char* variant_name(Variant v);

struct Params {
    Variant variant = Variant::Lucene;
    double k1 = 1.5;
    double b = 0.75;
    double epsilon = 0.25;

    bool operator==(const Params& o) const {
        return variant == o.variant && k1 == o.k1 && b == o.b && epsilon == o.epsilon;
    }
};

// k1 in [0, 1e9], b in [0, 1], epsilon finite: keeps every norm >= 0, so tf + norm >= 1 and no
// score can be NaN or infinite.
void validate_params(const Params& p);  // throws std::invalid_argument

// Per-document length normalisation: k1 * ((1 - b) + ((b * dl) / avgdl)).
inline double doc_norm(const Params& p, std::uint32_t dl, double avgdl) {
    return p.k1 * ((1.0 - p.b) + ((p.b * static_cast<double>(dl)) / avgdl));
}

// One term's contribution to one document. `k1p1` is k1 + 1 (computed once; same double).
template <Variant V>
inline double contribution(double idf, double k1p1, std::uint32_t tf, double norm) {
    const double t = static_cast<double>(tf);
    if constexpr (V == Variant::Okapi) {
        return idf * ((t * k1p1) / (t + norm));
    } else {
        (void)k1p1;
        return idf * (t / (t + norm));
    }
}

}  // namespace retrieval

#include "retrieval/params.hpp"

#include <cmath>
#include <stdexcept>

namespace retrieval {

Variant parse_variant(const std::string& name) {
    if (name == "lucene") return Variant::Lucene;
    if (name == "okapi") return Variant::Okapi;
    throw std::invalid_argument("unknown BM25 variant '" + name + "'; use 'lucene' or 'okapi'");
}

const char* variant_name(Variant v) { return v == Variant::Okapi ? "okapi" : "lucene"; }

void validate_params(const Params& p) {
    if (!(std::isfinite(p.k1) && p.k1 >= 0.0 && p.k1 <= 1e9)) {
        throw std::invalid_argument("k1 must be a finite number in [0, 1e9] (typical: 0.9 to 2.0); got " +
                                    std::to_string(p.k1));
    }
    if (!(std::isfinite(p.b) && p.b >= 0.0 && p.b <= 1.0)) {
        throw std::invalid_argument("b must be in [0, 1] (typical: 0.75); got " + std::to_string(p.b));
    }
    if (!std::isfinite(p.epsilon)) {
        throw std::invalid_argument("epsilon must be a finite number (typical: 0.25)");
    }
}

}  // namespace retrieval

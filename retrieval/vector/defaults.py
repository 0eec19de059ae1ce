"""Default build and search parameters derived from the data size, with the reason recorded.

Every function returns ``(value, rule)``; the rule string goes into ``describe()["derivation"]``
and from there into the bundle manifest, so an index always says why it has the parameters it
has. Any of these can be overridden by passing the parameter explicitly.

Measurements behind the constants (recall@10 against exact search, FAISS 1.15.1, 2-core CPU):
SIFT10K (siftsmall, 10,000 x 128, L2, 100 queries) and real all-MiniLM-L6-v2 embeddings of
the SciFact corpus (5,183 x 384, inner product, the 300 BEIR test claims as queries). Uniform
random 384-d unit vectors are a known worst case with no neighbourhood structure (HNSW
efSearch=128 reaches only 0.88, IVF nprobe=64 of 256 only 0.54) and were not used to set
defaults: real embeddings are far from uniform.
"""

from __future__ import annotations

import math

#: FAISS warns when k-means gets fewer than 39 training points per centroid.
MIN_POINTS_PER_CENTROID = 39
#: FAISS k-means subsamples to 256 points per centroid; we draw that sample ourselves (seeded).
MAX_POINTS_PER_CENTROID = 256
DEFAULT_SEED = 1234

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
# recall@10 at efSearch 16 / 24 / 32 / 48 (M=32, efConstruction=200):
#   SIFT10K 0.975 / 0.985 / 0.992 / 0.997; SciFact-MiniLM 0.947 / 0.977 / 0.985 / 0.994.
# The smallest value reaching 0.95 on both is 24; we take 2x that because recall at a fixed
# efSearch falls as the collection grows past these 5-10k-vector sets. FAISS searches with
# max(efSearch, k), so a large k stays safe.
HNSW_EF_SEARCH = 48

PQ_NBITS = 8
PQ_MIN_NBITS = 4
# IndexRefineFlat re-ranks k_factor * k PQ candidates with the exact vectors. recall@10 at
# k_factor 1 / 2 / 4 / 8 / 16: SciFact-MiniLM (PQ48x7, nprobe 35) 0.687 / 0.853 / 0.938 / 0.970 /
# 0.975; SIFT10K (PQ16x8, nprobe 40) 0.767 / 0.938 / 0.988 / 0.995. 8 is where the curve flattens;
# re-ranking 80 exact vectors for k=10 costs little next to the list scan.
REFINE_K_FACTOR = 8.0


def ivf_nlist(n: int) -> tuple[int, str]:
    """Inverted lists: 4*sqrt(n), at most n/39 so k-means gets enough points per centroid."""
    target = max(1, round(4 * math.sqrt(n)))
    cap = n // MIN_POINTS_PER_CENTROID
    if cap < 1:
        return 1, f"n={n} < {MIN_POINTS_PER_CENTROID}: a single list (exhaustive scan)"
    if target > cap:
        return cap, f"4*sqrt(n)={target} clamped to n/{MIN_POINTS_PER_CENTROID}={cap} (n={n})"
    return target, f"round(4*sqrt(n)) with n={n}"


def ivf_nprobe(nlist: int) -> tuple[int, str]:
    """Lists probed per query: ceil(2.5 * sqrt(nlist)), within [1, nlist].

    The usual nlist/16 is not enough for real text embeddings: SciFact-MiniLM (nlist 132) gives
    recall@10 0.840 at nprobe 8 and 0.912 at 16, reaching 0.95 only at 24 (0.964 at 29, 0.971 at
    32); SIFT10K (nlist 256) gives 0.970 at 16 and 0.999 at 40. 2.5*sqrt(nlist) is 29 and 40 on
    those sets (>= 0.96 on both). Growing with sqrt(nlist) rather than nlist, the scanned
    fraction falls as collections grow (22% at 5k vectors, 7% at 100k, 4% at 1M) as the needed
    probe count does. Callers trade recall for speed per call with ``nprobe``.
    """
    value = min(nlist, max(1, math.ceil(2.5 * math.sqrt(nlist))))
    return value, f"ceil(2.5*sqrt(nlist)) with nlist={nlist}, within [1, nlist]"


def ivf_train_size(n: int, nlist: int) -> tuple[int, str]:
    size = min(n, MAX_POINTS_PER_CENTROID * nlist)
    return size, f"min(n, {MAX_POINTS_PER_CENTROID}*nlist) seeded sample"


def pq_m(dim: int) -> tuple[int, str]:
    """PQ sub-quantizers: the divisor of dim closest to dim/8 (8-dim sub-vectors, 8 bytes per 64 dims)."""
    target = dim / 8
    divisors = [m for m in range(1, dim + 1) if dim % m == 0]
    best = min(divisors, key=lambda m: (abs(m - target), -m))
    return best, f"divisor of dim={dim} closest to dim/8={target:g}"


def pq_nbits(n_train: int) -> tuple[int, str]:
    """Bits per PQ code: 8, fewer when there are too few training points for 2**nbits centroids."""
    fit = int(math.floor(math.log2(max(1, n_train // MIN_POINTS_PER_CENTROID)))) if n_train >= 1 else 0
    value = max(PQ_MIN_NBITS, min(PQ_NBITS, fit))
    if value == PQ_NBITS:
        return value, f"{PQ_NBITS} (n_train={n_train} >= {MIN_POINTS_PER_CENTROID}*256)"
    return value, f"largest nbits with {MIN_POINTS_PER_CENTROID}*2**nbits <= n_train={n_train}, in [{PQ_MIN_NBITS}, {PQ_NBITS}]"


def pq_min_vectors() -> int:
    """Fewest vectors an IVF-PQ index can be trained on (k-means for 2**PQ_MIN_NBITS codes)."""
    return MIN_POINTS_PER_CENTROID * 2**PQ_MIN_NBITS

#include "retrieval/build.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "retrieval/parallel.hpp"
#include "retrieval/postings.hpp"
#include "retrieval/varint.hpp"

namespace retrieval {

namespace {

// The (term, tf) pairs of a contiguous range of documents, in document order.
struct DocTerms {
    std::vector<std::uint32_t> terms, tfs;
};

void run_length_encode(ArrayView<std::uint64_t> offsets, ArrayView<std::uint32_t> tokens,
                       std::size_t doc_begin, std::size_t doc_end, DocTerms& out,
                       std::uint32_t* unique_per_doc) {
    std::vector<std::uint32_t> buf;
    for (std::size_t d = doc_begin; d < doc_end; ++d) {
        buf.assign(tokens.data + offsets[d], tokens.data + offsets[d + 1]);
        std::sort(buf.begin(), buf.end());
        std::uint32_t unique = 0;
        for (std::size_t i = 0; i < buf.size();) {
            std::size_t j = i + 1;
            while (j < buf.size() && buf[j] == buf[i]) ++j;
            out.terms.push_back(buf[i]);
            out.tfs.push_back(static_cast<std::uint32_t>(j - i));
            ++unique;
            i = j;
        }
        unique_per_doc[d] = unique;
    }
}

// Encoded size of the postings [begin, end) of one block; `prev` is the doc before the block.
std::uint64_t block_bytes(const std::uint32_t* docs, const std::uint32_t* tfs, std::size_t n,
                          std::uint32_t prev) {
    std::uint64_t size = 0;
    for (std::size_t i = 0; i < n; ++i) {
        size += varint_size(docs[i] - prev) + varint_size(tfs[i]);
        prev = docs[i];
    }
    return size;
}

}  // namespace

void check_doc_count(std::uint64_t n_docs) {
    if (n_docs >= kEndDoc) {
        throw std::invalid_argument("too many documents: at most " + std::to_string(kEndDoc - 1) +
                                    " per index; split the corpus");
    }
}

std::uint32_t checked_doc_length(ArrayView<std::uint64_t> offsets, std::size_t d, std::uint64_t doc_id) {
    const std::uint64_t len = offsets[d + 1] - offsets[d];
    if (len > 0xFFFFFFFFull) {
        throw std::invalid_argument("document " + std::to_string(doc_id) + " has " + std::to_string(len) +
                                    " tokens; at most 2**32 - 1 are supported; chunk it");
    }
    return static_cast<std::uint32_t>(len);
}

BuiltPostings build_postings(ArrayView<std::uint64_t> doc_offsets, ArrayView<std::uint32_t> tokens,
                             std::uint64_t vocab_size, unsigned n_threads) {
    const std::size_t n_docs = doc_offsets.size - 1;
    check_doc_count(n_docs);
    BuiltPostings out;
    out.total_tokens = tokens.size;
    out.doc_lengths.resize(n_docs);
    for (std::size_t d = 0; d < n_docs; ++d) out.doc_lengths[d] = checked_doc_length(doc_offsets, d, d);

    // 1. Per document (term, tf) pairs, documents split into contiguous ranges per thread.
    const std::size_t n_chunks = std::max<std::size_t>(1, std::min<std::size_t>(n_threads, n_docs));
    std::vector<DocTerms> chunks(n_chunks);
    std::vector<std::uint32_t> unique_per_doc(n_docs);
    parallel_ranges(n_chunks, n_threads, [&](std::size_t c0, std::size_t c1) {
        for (std::size_t c = c0; c < c1; ++c) {
            run_length_encode(doc_offsets, tokens, n_docs * c / n_chunks, n_docs * (c + 1) / n_chunks,
                              chunks[c], unique_per_doc.data());
        }
    });

    // 2. Counting sort by term; visiting documents in order keeps each list doc-ordered.
    out.df.assign(vocab_size, 0);
    for (const auto& ch : chunks)
        for (std::uint32_t t : ch.terms) ++out.df[t];
    std::vector<std::uint64_t> start(vocab_size + 1, 0);
    for (std::size_t t = 0; t < vocab_size; ++t) start[t + 1] = start[t] + out.df[t];
    out.total_postings = start[vocab_size];
    std::vector<std::uint32_t> post_docs(out.total_postings), post_tfs(out.total_postings);
    {
        std::vector<std::uint64_t> fill(start.begin(), start.end() - 1);
        std::size_t d = 0;
        for (auto& ch : chunks) {
            std::size_t i = 0;
            while (i < ch.terms.size()) {
                while (unique_per_doc[d] == 0) ++d;
                for (std::uint32_t u = 0; u < unique_per_doc[d]; ++u, ++i) {
                    const std::uint64_t slot = fill[ch.terms[i]]++;
                    post_docs[slot] = static_cast<std::uint32_t>(d);
                    post_tfs[slot] = ch.tfs[i];
                }
                ++d;
            }
            DocTerms().terms.swap(ch.terms);  // free as we go
            DocTerms().tfs.swap(ch.tfs);
        }
    }

    // 3. Skip table: blocks per term, each block's last doc id and encoded size.
    out.term_blocks.assign(vocab_size + 1, 0);
    for (std::size_t t = 0; t < vocab_size; ++t) out.term_blocks[t + 1] = out.term_blocks[t] + blocks_for(out.df[t]);
    const std::uint64_t n_blocks = out.term_blocks[vocab_size];
    out.block_last_doc.assign(n_blocks, 0);
    out.block_offsets.assign(n_blocks + 1, 0);
    auto for_each_block = [&](auto&& visit) {
        parallel_ranges(vocab_size, n_threads, [&](std::size_t t0, std::size_t t1) {
            for (std::size_t t = t0; t < t1; ++t) {
                std::uint32_t prev = 0;
                for (std::uint64_t blk = out.term_blocks[t]; blk < out.term_blocks[t + 1]; ++blk) {
                    const std::uint64_t first = start[t] + (blk - out.term_blocks[t]) * kBlockSize;
                    const auto n = static_cast<std::size_t>(
                        std::min<std::uint64_t>(kBlockSize, start[t + 1] - first));
                    visit(blk, post_docs.data() + first, post_tfs.data() + first, n, prev);
                    prev = post_docs[first + n - 1];
                }
            }
        });
    };
    for_each_block([&](std::uint64_t blk, const std::uint32_t* docs, const std::uint32_t* tfs, std::size_t n,
                       std::uint32_t prev) {
        out.block_last_doc[blk] = docs[n - 1];
        out.block_offsets[blk + 1] = block_bytes(docs, tfs, n, prev);  // size for now
    });
    for (std::uint64_t blk = 0; blk < n_blocks; ++blk) out.block_offsets[blk + 1] += out.block_offsets[blk];

    // 4. Encode.
    out.bytes.resize(out.block_offsets[n_blocks]);
    for_each_block([&](std::uint64_t blk, const std::uint32_t* docs, const std::uint32_t* tfs, std::size_t n,
                       std::uint32_t prev) {
        std::uint8_t* p = out.bytes.data() + out.block_offsets[blk];
        for (std::size_t i = 0; i < n; ++i) {
            put_varint(p, docs[i] - prev);
            put_varint(p, tfs[i]);
            prev = docs[i];
        }
    });
    return out;
}

}  // namespace retrieval

#include "retrieval/accumulate.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>

#include "retrieval/checks.hpp"
#include "retrieval/postings.hpp"
#include "retrieval/varint.hpp"

namespace retrieval {

namespace {

struct Header {
    std::uint32_t term;
    std::uint16_t cap;   // data bytes after the header
    std::uint16_t used;  // data bytes written: whole pairs, a pair never straddles two segments
};
static_assert(sizeof(Header) == 8, "segment headers are packed");

// Pages above glibc's largest dynamic mmap threshold (32 MiB) are always their own mapping: the
// untouched end of the last one is never committed, and freeing one returns it to the OS at once.
constexpr unsigned kPageShift = 26;
constexpr std::uint64_t kPageBytes = std::uint64_t{1} << kPageShift;
// Data bytes of a segment by size class: each ~1.5x the last, from room for the largest pair (two
// 5-byte varints) to a cap. Slow growth and a low cap bound the free room at a term's end; headers
// and pair-boundary waste of full segments cost ~2%. Arena / encoded bytes on 300k Zipf documents: 1.23.
constexpr std::uint16_t kCaps[] = {16, 24, 36, 54, 81, 121, 181, 271, 406, 512};
constexpr unsigned kLastLevel = sizeof kCaps / sizeof kCaps[0] - 1;
constexpr std::uint64_t kNoSegment = (std::uint64_t{1} << 48) - 1;

Header read_header(const std::uint8_t* at) {
    Header h;
    std::memcpy(&h, at, sizeof h);
    return h;
}

void write_header(std::uint8_t* at, const Header& h) { std::memcpy(at, &h, sizeof h); }

}  // namespace

void PostingsAccumulator::check_usable() const {
    if (!closed_.empty()) throw std::runtime_error("this PostingsAccumulator " + closed_ + "; start a new one");
}

void PostingsAccumulator::add_batch(ArrayView<std::uint64_t> doc_offsets, ArrayView<std::uint32_t> tokens) {
    check_usable();
    check_offsets(doc_offsets, tokens.size, "doc_offsets", "tokens");
    const std::size_t n = doc_offsets.size - 1;
    check_doc_count(n_docs() + n);
    for (std::size_t d = 0; d < n; ++d) checked_doc_length(doc_offsets, d, n_docs() + d);
    grow_vocab(tokens);
    try {
        encode(doc_offsets, tokens);
    } catch (...) {
        closed_ = "failed in the middle of add_batch";  // e.g. out of memory: partly added
        throw;
    }
}

void PostingsAccumulator::grow_vocab(ArrayView<std::uint32_t> tokens) {
    if (tokens.empty()) return;
    const std::uint64_t needed = std::uint64_t{*std::max_element(tokens.begin(), tokens.end())} + 1;
    if (needed <= vocab_size()) return;
    terms_.resize(needed, TermState{kNoSegment, 0, 0, 0, 0});
}

void PostingsAccumulator::encode(ArrayView<std::uint64_t> doc_offsets, ArrayView<std::uint32_t> tokens) {
    std::vector<std::uint32_t> buf;
    for (std::size_t d = 0; d + 1 < doc_offsets.size; ++d) {
        const auto doc = static_cast<std::uint32_t>(n_docs());
        buf.assign(tokens.data + doc_offsets[d], tokens.data + doc_offsets[d + 1]);
        std::sort(buf.begin(), buf.end());
        for (std::size_t i = 0; i < buf.size();) {
            std::size_t j = i + 1;
            while (j < buf.size() && buf[j] == buf[i]) ++j;
            append_posting(buf[i], doc, static_cast<std::uint32_t>(j - i));
            i = j;
        }
        doc_lengths_.push_back(static_cast<std::uint32_t>(buf.size()));
        total_tokens_ += buf.size();
    }
}

void PostingsAccumulator::append_posting(std::uint32_t term, std::uint32_t doc, std::uint32_t tf) {
    TermState& state = terms_[term];
    const std::uint32_t gap = doc - state.last_doc;  // a term's first gap counts from 0
    const auto size = static_cast<unsigned>(varint_size(gap) + varint_size(tf));

    if (state.segment == kNoSegment) {
        state.segment = new_segment(term, state.level);
    } else if (state.used + size > kCaps[state.level]) {
        state.level = std::min<unsigned>(state.level + 1, kLastLevel);
        state.segment = new_segment(term, state.level);
        state.used = 0;
    }
    std::uint8_t* segment = at(state.segment);
    std::uint8_t* out = segment + sizeof(Header) + state.used;
    put_varint(out, gap);
    put_varint(out, tf);
    state.used += size;
    const auto used = static_cast<std::uint16_t>(state.used);
    std::memcpy(segment + offsetof(Header, used), &used, sizeof used);

    state.last_doc = doc;
    ++state.df;
    ++total_postings_;
    stream_bytes_ += size;
}

std::uint64_t PostingsAccumulator::new_segment(std::uint32_t term, unsigned level) {
    const std::uint16_t cap = kCaps[level];
    const std::uint32_t bytes = sizeof(Header) + cap;
    if (pages_.empty() || kPageBytes - page_used_.back() < bytes) {
        pages_.emplace_back(new std::uint8_t[kPageBytes]);  // uninitialized: committed as written
        page_used_.push_back(0);
    }
    const std::uint64_t address = (std::uint64_t{pages_.size() - 1} << kPageShift) | page_used_.back();
    page_used_.back() += bytes;
    arena_bytes_ += bytes;
    write_header(at(address), Header{term, cap, 0});
    return address;
}

std::uint8_t* PostingsAccumulator::at(std::uint64_t address) const {
    return pages_[address >> kPageShift].get() + (address & (kPageBytes - 1));
}

// Visits every segment in allocation order (each term's in its stream order); with `release`,
// frees each page once visited.
template <typename Visit>
void PostingsAccumulator::for_each_segment(Visit&& visit, bool release) {
    for (std::size_t page = 0; page < pages_.size(); ++page) {
        const std::uint8_t* base = pages_[page].get();
        for (std::uint32_t offset = 0; offset < page_used_[page];) {
            const Header h = read_header(base + offset);
            visit(h, base + offset + sizeof h);
            offset += sizeof h + h.cap;
        }
        if (release) pages_[page].reset();
    }
}

BuiltPostings PostingsAccumulator::finish(std::uint64_t vocab_size) {
    check_usable();
    if (vocab_size < this->vocab_size()) {
        throw std::invalid_argument("vocab_size is " + std::to_string(vocab_size) +
                                    ", but the documents added contain id " + std::to_string(this->vocab_size() - 1) +
                                    "; vocab_size must be > every id");
    }
    closed_ = "was finished";
    BuiltPostings out;
    out.total_tokens = total_tokens_;
    out.total_postings = total_postings_;
    doc_lengths_.shrink_to_fit();
    out.doc_lengths = std::move(doc_lengths_);
    out.df.assign(vocab_size, 0);
    for (std::size_t t = 0; t < terms_.size(); ++t) out.df[t] = terms_[t].df;
    std::vector<TermState>().swap(terms_);

    out.term_blocks.assign(vocab_size + 1, 0);
    for (std::size_t t = 0; t < vocab_size; ++t) out.term_blocks[t + 1] = out.term_blocks[t] + blocks_for(out.df[t]);
    index_blocks(out);
    copy_streams(out);
    return out;
}

// The skip table, from one decoding pass over the arena. Each term's stream is the encoder's byte
// stream for it: its blocks concatenated, a block's first gap counting from the previous block.
void PostingsAccumulator::index_blocks(BuiltPostings& out) {
    struct Cursor {
        std::uint64_t bytes = 0;  // of the term's stream read so far
        std::uint32_t doc = 0;
        std::uint32_t count = 0;
    };
    const std::uint64_t n_blocks = out.term_blocks.back();
    out.block_last_doc.assign(n_blocks, 0);
    out.block_offsets.assign(n_blocks + 1, 0);
    std::vector<Cursor> cursors(out.df.size());
    for_each_segment(
        [&](const Header& h, const std::uint8_t* data) {
            Cursor& c = cursors[h.term];
            const std::uint32_t df = out.df[h.term];
            for (const std::uint8_t* p = data; p < data + h.used;) {
                const std::uint8_t* pair = p;
                c.doc += get_varint_unchecked(p);
                get_varint_unchecked(p);
                c.bytes += static_cast<std::uint64_t>(p - pair);
                if (++c.count % kBlockSize == 0 || c.count == df) {
                    const std::uint64_t blk = out.term_blocks[h.term] + (c.count - 1) / kBlockSize;
                    out.block_last_doc[blk] = c.doc;
                    out.block_offsets[blk + 1] = c.bytes;  // within the term, made global below
                }
            }
        },
        /*release=*/false);
    for (std::size_t t = 0; t + 1 < out.term_blocks.size(); ++t) {
        const std::uint64_t start = out.block_offsets[out.term_blocks[t]];
        for (std::uint64_t blk = out.term_blocks[t]; blk < out.term_blocks[t + 1]; ++blk) {
            out.block_offsets[blk + 1] += start;
        }
    }
}

// Copies each term's stream to its place, freeing the arena page by page as it goes.
void PostingsAccumulator::copy_streams(BuiltPostings& out) {
    out.bytes.resize(out.block_offsets.back());
    std::vector<std::uint64_t> write(out.df.size());
    for (std::size_t t = 0; t < write.size(); ++t) write[t] = out.block_offsets[out.term_blocks[t]];
    for_each_segment(
        [&](const Header& h, const std::uint8_t* data) {
            std::memcpy(out.bytes.data() + write[h.term], data, h.used);
            write[h.term] += h.used;
        },
        /*release=*/true);
    std::vector<std::unique_ptr<std::uint8_t[]>>().swap(pages_);
    std::vector<std::uint32_t>().swap(page_used_);
    arena_bytes_ = 0;
    stream_bytes_ = 0;
}

}  // namespace retrieval

// Python glue for retrieval._native: argument checks (dtype / shape / contiguity), output
// allocation, GIL release and Ctrl-C polling. All BM25 logic lives in src/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "retrieval/accumulate.hpp"
#include "retrieval/index.hpp"
#include "retrieval/parallel.hpp"

namespace py = pybind11;
using namespace retrieval;

namespace {

template <typename T> const char* dtype_name();
template <> const char* dtype_name<std::uint8_t>() { return "uint8"; }
template <> const char* dtype_name<std::uint32_t>() { return "uint32"; }
template <> const char* dtype_name<std::uint64_t>() { return "uint64"; }
template <> const char* dtype_name<double>() { return "float64"; }

// A zero-copy view of a 1-D C-contiguous array of exactly dtype T (read-only arrays welcome).
// Wrong type/dtype -> TypeError, wrong shape/layout -> ValueError; `value_errors_only` turns both
// into ValueError (used for a whole array set, where either means "corrupt").
// The messages are built only on failure: this runs on every query.
template <typename T>
ArrayView<T> view_1d(py::handle obj, const char* name, bool value_errors_only = false) {
    auto fail = [&](bool type_error, const std::string& got) {
        const std::string msg = std::string(name) + " must be a 1-D contiguous " + dtype_name<T>() + " array, got " +
                                got + "; use np.ascontiguousarray(x, dtype=np." + dtype_name<T>() + ")";
        if (type_error && !value_errors_only) throw py::type_error(msg);
        throw py::value_error(msg);
    };
    if (!py::isinstance<py::array>(obj)) fail(true, std::string(py::str(py::type::of(obj).attr("__name__"))));
    auto arr = py::reinterpret_borrow<py::array>(obj);
    if (!arr.dtype().equal(py::dtype::of<T>())) fail(true, "dtype " + std::string(py::str(arr.dtype())));
    if (arr.ndim() != 1) fail(false, "an array of shape " + std::string(py::str(obj.attr("shape"))));
    if (!(arr.flags() & py::array::c_style)) fail(false, "a non-contiguous array (strided view)");
    const auto* data = static_cast<const T*>(arr.data());
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(T) != 0) fail(false, "a misaligned array");
    return {data, static_cast<std::size_t>(arr.shape(0))};
}

// A read-only numpy view of memory owned by `base` (the index object keeps it alive).
template <typename T>
py::array readonly_view(ArrayView<T> v, py::handle base) {
    py::array_t<T> arr({static_cast<py::ssize_t>(v.size)}, {static_cast<py::ssize_t>(sizeof(T))}, v.data, base);
    py::setattr(arr.attr("flags"), "writeable", py::bool_(false));
    return arr;
}

std::size_t checked_k(long long k) {
    if (k < 1) throw py::value_error("k must be >= 1, got " + std::to_string(k));
    return static_cast<std::size_t>(k);
}

unsigned checked_threads(long long n) {
    if (n < 0) throw py::value_error("n_threads must be >= 0 (0 = all cores), got " + std::to_string(n));
    return resolve_threads(n);
}

// Called by the coordinating thread of a batch: re-acquires the GIL and runs Python's signal
// handlers, so Ctrl-C interrupts a long topk_batch (KeyboardInterrupt is left set).
bool python_interrupted() {
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
}

struct PyIndex {
    std::unique_ptr<BM25Index> core;
    std::vector<py::object> keepalive;  // the arrays behind an index opened with from_arrays()
};

// One table of the persisted arrays, shared by arrays() and from_arrays().
template <typename F>
void for_each_slot(IndexArrays& a, F&& f) {
    f("meta", a.meta);
    f("params", a.params);
    f("doc_lengths", a.doc_lengths);
    f("idf", a.idf);
    f("df", a.postings.df);
    f("term_blocks", a.postings.term_blocks);
    f("block_last_doc", a.postings.block_last_doc);
    f("block_offsets", a.postings.block_offsets);
    f("block_max", a.postings.block_max);
    f("postings", a.postings.bytes);
}

PyIndex build(py::object doc_offsets, py::object tokens, long long vocab_size, const std::string& variant,
              double k1, double b, double epsilon, long long n_threads) {
    const auto offsets_view = view_1d<std::uint64_t>(doc_offsets, "doc_offsets");
    const auto tokens_view = view_1d<std::uint32_t>(tokens, "tokens");
    if (vocab_size < 0) throw py::value_error("vocab_size must be >= 0");
    const Params params{parse_variant(variant), k1, b, epsilon};
    const unsigned threads = checked_threads(n_threads);
    PyIndex out;
    {
        py::gil_scoped_release nogil;
        out.core = BM25Index::build(offsets_view, tokens_view, static_cast<std::uint64_t>(vocab_size), params, threads);
    }
    return out;
}

// add_batch and finish run without the GIL; the mutex keeps calls from two threads apart.
struct PyAccumulator {
    PostingsAccumulator core;
    std::mutex mutex;
};

void add_batch(PyAccumulator& self, py::object doc_offsets, py::object tokens) {
    const auto offsets_view = view_1d<std::uint64_t>(doc_offsets, "doc_offsets");
    const auto tokens_view = view_1d<std::uint32_t>(tokens, "tokens");
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(self.mutex);
    self.core.add_batch(offsets_view, tokens_view);
}

PyIndex finish(PyAccumulator& self, long long vocab_size, const std::string& variant, double k1, double b,
               double epsilon, long long n_threads) {
    if (vocab_size < 0) throw py::value_error("vocab_size must be >= 0");
    const Params params{parse_variant(variant), k1, b, epsilon};
    const unsigned threads = checked_threads(n_threads);
    PyIndex out;
    {
        py::gil_scoped_release nogil;
        std::lock_guard<std::mutex> lock(self.mutex);
        out.core = BM25Index::finish(self.core, static_cast<std::uint64_t>(vocab_size), params, threads);
    }
    return out;
}

// A counter of the accumulator, read while no add_batch or finish runs.
template <std::uint64_t (PostingsAccumulator::*Get)() const>
std::uint64_t counter(PyAccumulator& self) {
    std::lock_guard<std::mutex> lock(self.mutex);
    return (self.core.*Get)();
}

// A count in the stats dict: a Python or numpy integer >= 0.
std::uint64_t stats_count(const py::dict& stats, const char* key) {
    const std::string name = std::string("stats['") + key + "']";
    py::object obj = stats[key];
    PyObject* as_int = PyNumber_Index(obj.ptr());
    if (as_int == nullptr) {
        PyErr_Clear();
        throw py::type_error(name + " must be an int, got " + std::string(py::str(py::type::of(obj).attr("__name__"))));
    }
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(as_int, &overflow);
    Py_DECREF(as_int);
    if (overflow > 0) throw py::value_error(name + " is too large");
    if (overflow < 0 || v < 0) throw py::value_error(name + " must be >= 0, got " + std::string(py::str(obj)));
    return static_cast<std::uint64_t>(v);
}

// The optional corpus statistics of from_arrays(). Their df is only read while the index opens
// (into its idf table), so `df_ref` holds it for that call alone, not for the index's lifetime.
CorpusStats parse_stats(py::handle obj, py::object& df_ref) {
    if (!py::isinstance<py::dict>(obj)) {
        throw py::type_error("stats must be None or a dict {'n_docs': int, 'total_tokens': int, 'df': uint32 array}");
    }
    const auto dict = py::reinterpret_borrow<py::dict>(obj);
    static const char* const keys[] = {"n_docs", "total_tokens", "df"};
    for (const char* key : keys) {
        if (!dict.contains(key)) throw py::value_error(std::string("stats is missing '") + key + "'");
    }
    for (auto item : dict) {
        const std::string key = py::str(item.first);
        if (std::none_of(std::begin(keys), std::end(keys), [&](const char* k) { return key == k; })) {
            throw py::value_error("stats has an unknown key '" + key + "'; expected n_docs, total_tokens, df");
        }
    }
    CorpusStats s;
    s.n_docs = stats_count(dict, "n_docs");
    s.total_tokens = stats_count(dict, "total_tokens");
    df_ref = dict["df"];
    s.df = view_1d<std::uint32_t>(df_ref, "stats['df']", /*value_errors_only=*/true);
    return s;
}

PyIndex from_arrays(py::object arrays, const std::string& variant, double k1, double b, double epsilon,
                    py::object stats) {
    if (!py::isinstance<py::dict>(arrays)) {
        throw py::type_error("arrays must be a dict of name -> numpy array, as returned by BM25Index.arrays()");
    }
    std::optional<CorpusStats> corpus;
    py::object stats_df;  // kept referenced while the GIL is released below
    if (!stats.is_none()) corpus = parse_stats(stats, stats_df);
    const auto dict = py::reinterpret_borrow<py::dict>(arrays);
    const Params params{parse_variant(variant), k1, b, epsilon};
    PyIndex out;
    IndexArrays views;
    for_each_slot(views, [&](const char* name, auto& slot) {
        using T = typename std::remove_reference_t<decltype(slot)>::value_type;
        if (!dict.contains(name)) {
            throw py::value_error(std::string("corrupt BM25 array set: missing array '") + name + "'; rebuild the index");
        }
        py::object obj = dict[name];
        const std::string what = std::string("BM25 array '") + name + "'";
        slot = view_1d<T>(obj, what.c_str(), /*value_errors_only=*/true);
        out.keepalive.push_back(obj);
    });
    {
        py::gil_scoped_release nogil;
        out.core = BM25Index::open(views, params, corpus ? &*corpus : nullptr);
    }
    return out;
}

py::dict arrays_of(py::object self_obj) {
    auto& self = self_obj.cast<PyIndex&>();
    IndexArrays a = self.core->arrays();
    py::dict out;
    for_each_slot(a, [&](const char* name, auto& slot) { out[name] = readonly_view(slot, self_obj); });
    return out;
}

py::tuple topk(const PyIndex& self, py::object query, long long k, const std::string& strategy) {
    const auto q = view_1d<std::uint32_t>(query, "query");
    const std::size_t kk = checked_k(k);
    const Strategy s = parse_strategy(strategy);
    self.core->check_query(q);
    const auto cap = static_cast<py::ssize_t>(std::min<std::uint64_t>(kk, self.core->n_docs()));
    py::array_t<std::int64_t> ids(cap);
    py::array_t<double> scores(cap);
    std::int64_t* ids_ptr = ids.mutable_data();
    double* scores_ptr = scores.mutable_data();
    std::size_t n;
    {
        py::gil_scoped_release nogil;
        n = self.core->topk(q, kk, s, ids_ptr, scores_ptr);
    }
    if (static_cast<py::ssize_t>(n) != cap) {
        ids.resize({static_cast<py::ssize_t>(n)}, false);
        scores.resize({static_cast<py::ssize_t>(n)}, false);
    }
    return py::make_tuple(ids, scores);
}

py::tuple topk_batch(const PyIndex& self, py::object query_offsets, py::object query_tokens, long long k,
                     long long n_threads, const std::string& strategy) {
    const auto offsets = view_1d<std::uint64_t>(query_offsets, "query_offsets");
    const auto tokens = view_1d<std::uint32_t>(query_tokens, "query_tokens");
    const std::size_t kk = checked_k(k);
    const unsigned threads = checked_threads(n_threads);
    const Strategy s = parse_strategy(strategy);
    const auto nq = static_cast<py::ssize_t>(offsets.size == 0 ? 0 : offsets.size - 1);
    py::array_t<std::int64_t> ids({nq, static_cast<py::ssize_t>(kk)});
    py::array_t<double> scores({nq, static_cast<py::ssize_t>(kk)});
    py::array_t<std::int64_t> counts(nq);
    std::int64_t* ids_ptr = ids.mutable_data();
    double* scores_ptr = scores.mutable_data();
    std::int64_t* counts_ptr = counts.mutable_data();
    try {
        py::gil_scoped_release nogil;
        self.core->topk_batch(offsets, tokens, kk, threads, s, ids_ptr, scores_ptr, counts_ptr, python_interrupted);
    } catch (const Cancelled&) {
        throw py::error_already_set();  // the KeyboardInterrupt set by PyErr_CheckSignals
    }
    return py::make_tuple(ids, scores, counts);
}

py::array_t<double> scores_of(const PyIndex& self, py::object query) {
    const auto q = view_1d<std::uint32_t>(query, "query");
    self.core->check_query(q);
    py::array_t<double> out(static_cast<py::ssize_t>(self.core->n_docs()));
    double* ptr = out.mutable_data();
    {
        py::gil_scoped_release nogil;
        std::fill(ptr, ptr + self.core->n_docs(), 0.0);
        self.core->scores(q, ptr);
    }
    return out;
}

py::array_t<std::int64_t> matching_of(const PyIndex& self, py::object query) {
    const auto q = view_1d<std::uint32_t>(query, "query");
    self.core->check_query(q);
    auto ids = std::make_unique<std::vector<std::int64_t>>();
    {
        py::gil_scoped_release nogil;
        *ids = self.core->matching(q);
    }
    auto* raw = ids.release();
    py::capsule owner(raw, [](void* p) { delete static_cast<std::vector<std::int64_t>*>(p); });
    return py::array_t<std::int64_t>(static_cast<py::ssize_t>(raw->size()), raw->data(), owner);
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "BM25 over integer token ids (compressed postings, exhaustive and MaxScore top-k). "
              "Private: use retrieval.native / retrieval.keyword.";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const CorruptIndex& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        }
    });

    py::class_<PyAccumulator>(m, "PostingsAccumulator",
                              "Builds a BM25Index from documents added in batches, in memory that grows with "
                              "the compressed postings rather than with the token ids.")
        .def(py::init<>())
        .def("add_batch", &add_batch, py::arg("doc_offsets"), py::arg("tokens"),
             "Append documents: doc d of the batch has token ids tokens[doc_offsets[d]:doc_offsets[d+1]] "
             "(doc_offsets uint64 [n+1], tokens uint32); they are numbered after those already added. "
             "Any id is allowed: the vocabulary grows to the largest. A rejected batch adds nothing.")
        .def("finish", &finish, py::arg("vocab_size"), py::arg("variant") = "lucene", py::arg("k1") = 1.5,
             py::arg("b") = 0.75, py::arg("epsilon") = 0.25, py::arg("n_threads") = 1,
             "The BM25Index of every document added, identical to BM25Index.build over them; vocab_size "
             "must exceed every id. Empties the accumulator: using it again raises RuntimeError.")
        .def_property_readonly("n_docs", &counter<&PostingsAccumulator::n_docs>)
        .def_property_readonly("vocab_size", &counter<&PostingsAccumulator::vocab_size>,
                               "1 + the largest id added (0 before any).")
        .def_property_readonly("total_tokens", &counter<&PostingsAccumulator::total_tokens>)
        .def_property_readonly("stream_bytes", &counter<&PostingsAccumulator::stream_bytes>,
                               "Bytes of the encoded postings so far.")
        .def_property_readonly("arena_bytes", &counter<&PostingsAccumulator::arena_bytes>,
                               "Bytes of the arena segments holding them (headers and free room included).");

    py::class_<PyIndex>(m, "BM25Index",
                        "A BM25 index over token ids 0..vocab_size-1. Create it with build() or from_arrays().")
        .def_static("build", &build, py::arg("doc_offsets"), py::arg("tokens"), py::arg("vocab_size"),
                    py::arg("variant") = "lucene", py::arg("k1") = 1.5, py::arg("b") = 0.75,
                    py::arg("epsilon") = 0.25, py::arg("n_threads") = 1,
                    "Index documents: doc d's token ids are tokens[doc_offsets[d]:doc_offsets[d+1]] "
                    "(doc_offsets uint64 [n_docs+1], tokens uint32). variant: 'lucene' or 'okapi' "
                    "(rank_bm25.BM25Okapi). n_threads 0 = all cores.")
        .def_static("from_arrays", &from_arrays, py::arg("arrays"), py::arg("variant") = "lucene",
                    py::arg("k1") = 1.5, py::arg("b") = 0.75, py::arg("epsilon") = 0.25,
                    py::arg("stats") = py::none(),
                    "Reopen an index from arrays() output without copying (np.load(mmap_mode='r') works). "
                    "The arrays must not be modified afterwards. Raises ValueError on a corrupt set.\n\n"
                    "stats: None, or the statistics of a corpus this index is one segment of, "
                    "{'n_docs': int, 'total_tokens': int, 'df': 1-D uint32 array over the corpus's term "
                    "ids (len(df) >= vocab_size)}. The index then scores with N = n_docs, avgdl = "
                    "total_tokens / n_docs and idf from that whole df (then cut to vocab_size), so its "
                    "documents score exactly as in one index over the corpus; idf and block maxima are "
                    "recomputed (one pass over the postings). n_docs, total_tokens and df() still "
                    "describe the segment; avgdl is the corpus's. df is copied into the idf table, "
                    "not kept. ValueError on inconsistent stats.")
        .def("arrays", &arrays_of,
             "Read-only views of everything needed to reopen the index: name -> 1-D numpy array. "
             "On an index opened with stats, 'idf', 'block_max' and 'params' are the stats-dependent "
             "tables: save arrays only from an index opened without stats.")
        .def("topk", &topk, py::arg("query"), py::arg("k"), py::arg("strategy") = "auto",
             "(ids int64, scores float64), best first, ties by smaller id; only docs containing a "
             "query term; length min(k, matching docs). strategy: 'auto', 'exhaustive', 'maxscore' or 'bounded' (all exact).")
        .def("topk_batch", &topk_batch, py::arg("query_offsets"), py::arg("query_tokens"), py::arg("k"),
             py::arg("n_threads") = 0, py::arg("strategy") = "auto",
             "(ids [nq,k] padded with -1, scores [nq,k] padded with -inf, counts [nq]). "
             "n_threads 0 = all cores. Ctrl-C interrupts it.")
        .def("scores", &scores_of, py::arg("query"), "Dense float64 scores of every document (0 if no term matches).")
        .def("matching", &matching_of, py::arg("query"), "Sorted int64 ids of the documents containing any query term.")
        .def("df", [](const PyIndex& self, long long term) {
            if (term < 0) throw py::value_error("term id must be >= 0");
            return self.core->df(static_cast<std::uint64_t>(term));
        }, py::arg("term_id"), "Number of documents containing the term.")
        .def_property_readonly("n_docs", [](const PyIndex& s) { return s.core->n_docs(); })
        .def_property_readonly("vocab_size", [](const PyIndex& s) { return s.core->vocab_size(); })
        .def_property_readonly("total_postings", [](const PyIndex& s) { return s.core->total_postings(); })
        .def_property_readonly("total_tokens", [](const PyIndex& s) { return s.core->total_tokens(); })
        .def_property_readonly("avgdl", [](const PyIndex& s) { return s.core->avgdl(); },
                               "Average document length it scores with (the corpus's when opened with stats).")
        .def_property_readonly("has_stats", [](const PyIndex& s) { return s.core->has_stats(); },
                               "Whether it was opened with external corpus statistics (from_arrays(stats=...)).")
        .def_property_readonly("cache_bytes", [](const PyIndex& s) { return s.core->cache_bytes(); },
                               "Bytes held by the impact cache (decoded postings of queried terms).")
        .def_property("cache_limit", [](const PyIndex& s) { return s.core->cache_limit(); },
                      [](PyIndex& s, long long bytes) {
                          if (bytes < 0) throw py::value_error("cache_limit must be >= 0 bytes");
                          s.core->set_cache_limit(static_cast<std::size_t>(bytes));
                      },
                      "Budget of the exact impact cache in bytes (12 a posting); a change applies to later "
                      "fills. 0 turns caching off.")
        .def_property_readonly("bound_cache_bytes", [](const PyIndex& s) { return s.core->bound_cache_bytes(); },
                               "Bytes held by the bound cache (quantized postings MaxScore prunes with).")
        .def_property("bound_cache_limit", [](const PyIndex& s) { return s.core->bound_cache_limit(); },
                      [](PyIndex& s, long long bytes) {
                          if (bytes < 0) throw py::value_error("bound_cache_limit must be >= 0 bytes");
                          s.core->set_bound_cache_limit(static_cast<std::size_t>(bytes));
                      },
                      "Budget of the bound cache in bytes (6 a posting); a change applies to later "
                      "fills. 0 turns it off (MaxScore then decodes blocks exactly).")
        .def_property_readonly("variant",
                               [](const PyIndex& s) { return std::string(variant_name(s.core->params().variant)); })
        .def_property_readonly("k1", [](const PyIndex& s) { return s.core->params().k1; })
        .def_property_readonly("b", [](const PyIndex& s) { return s.core->params().b; })
        .def_property_readonly("epsilon", [](const PyIndex& s) { return s.core->params().epsilon; })
        .def("__repr__", [](const PyIndex& s) {
            return "<BM25Index variant=" + std::string(variant_name(s.core->params().variant)) +
                   " n_docs=" + std::to_string(s.core->n_docs()) + " vocab_size=" +
                   std::to_string(s.core->vocab_size()) + " postings=" + std::to_string(s.core->total_postings()) + ">";
        });
}

from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchParams(_message.Message):
    __slots__ = ("candidates", "fusion_method", "normalization", "dense_weight", "keyword_weight", "rrf_k", "ef_search", "nprobe", "k_factor", "exact_max")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    FUSION_METHOD_FIELD_NUMBER: _ClassVar[int]
    NORMALIZATION_FIELD_NUMBER: _ClassVar[int]
    DENSE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    RRF_K_FIELD_NUMBER: _ClassVar[int]
    EF_SEARCH_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    K_FACTOR_FIELD_NUMBER: _ClassVar[int]
    EXACT_MAX_FIELD_NUMBER: _ClassVar[int]
    candidates: int
    fusion_method: str
    normalization: str
    dense_weight: float
    keyword_weight: float
    rrf_k: int
    ef_search: int
    nprobe: int
    k_factor: float
    exact_max: int
    def __init__(self, candidates: _Optional[int] = ..., fusion_method: _Optional[str] = ..., normalization: _Optional[str] = ..., dense_weight: _Optional[float] = ..., keyword_weight: _Optional[float] = ..., rrf_k: _Optional[int] = ..., ef_search: _Optional[int] = ..., nprobe: _Optional[int] = ..., k_factor: _Optional[float] = ..., exact_max: _Optional[int] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("key", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("query", "k", "mode", "params", "filters")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    query: str
    k: int
    mode: str
    params: SearchParams
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    def __init__(self, query: _Optional[str] = ..., k: _Optional[int] = ..., mode: _Optional[str] = ..., params: _Optional[_Union[SearchParams, _Mapping]] = ..., filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("chunk_id", "document_id", "score", "text", "title")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    chunk_id: str
    document_id: str
    score: float
    text: str
    title: str
    def __init__(self, chunk_id: _Optional[str] = ..., document_id: _Optional[str] = ..., score: _Optional[float] = ..., text: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "timings_ms", "cached")
    class TimingsMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    HITS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_MS_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    timings_ms: _containers.ScalarMap[str, float]
    cached: bool
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., timings_ms: _Optional[_Mapping[str, float]] = ..., cached: _Optional[bool] = ...) -> None: ...

class SearchBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[SearchRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[SearchRequest, _Mapping]]] = ...) -> None: ...

class SearchBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[SearchResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[SearchResponse, _Mapping]]] = ...) -> None: ...

class AnswerRequest(_message.Message):
    __slots__ = ("question", "k", "mode", "budget_tokens", "max_tokens", "no_compress")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    NO_COMPRESS_FIELD_NUMBER: _ClassVar[int]
    question: str
    k: int
    mode: str
    budget_tokens: int
    max_tokens: int
    no_compress: bool
    def __init__(self, question: _Optional[str] = ..., k: _Optional[int] = ..., mode: _Optional[str] = ..., budget_tokens: _Optional[int] = ..., max_tokens: _Optional[int] = ..., no_compress: _Optional[bool] = ...) -> None: ...

class Source(_message.Message):
    __slots__ = ("number", "chunk_id", "document_id", "title")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    number: int
    chunk_id: str
    document_id: str
    title: str
    def __init__(self, number: _Optional[int] = ..., chunk_id: _Optional[str] = ..., document_id: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class AnswerDone(_message.Message):
    __slots__ = ("ttft_ms", "tokens_per_s", "prompt_tokens", "completion_tokens", "context_tokens_before", "context_tokens_after", "timings_ms", "sources", "finish_reason")
    class TimingsMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TOKENS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_TOKENS_AFTER_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_MS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    ttft_ms: float
    tokens_per_s: float
    prompt_tokens: int
    completion_tokens: int
    context_tokens_before: int
    context_tokens_after: int
    timings_ms: _containers.ScalarMap[str, float]
    sources: _containers.RepeatedCompositeFieldContainer[Source]
    finish_reason: str
    def __init__(self, ttft_ms: _Optional[float] = ..., tokens_per_s: _Optional[float] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., context_tokens_before: _Optional[int] = ..., context_tokens_after: _Optional[int] = ..., timings_ms: _Optional[_Mapping[str, float]] = ..., sources: _Optional[_Iterable[_Union[Source, _Mapping]]] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class AnswerEvent(_message.Message):
    __slots__ = ("token", "done")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    token: str
    done: AnswerDone
    def __init__(self, token: _Optional[str] = ..., done: _Optional[_Union[AnswerDone, _Mapping]] = ...) -> None: ...

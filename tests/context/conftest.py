"""Fixtures for the context stage: one small dense bundle with sentences, and the tokenizers."""

from __future__ import annotations

import pytest

from retrieval import Engine, IndexConfig
from retrieval.text import TokenCounter
from retrieval.types import Document

# Titled documents of several sentences each; "dup" repeats most of "cpu" (a near duplicate), and
# sentences start with digits, quotes and brackets so tokens can merge across boundaries.
DOCS = [
    Document("cpu", "The central processing unit executes instructions. It fetches, decodes and executes them in a "
             "cycle. Modern CPUs have several cores. Each core runs its own thread of instructions. \"Clock speed\" "
             "is measured in gigahertz. 3 GHz means three billion cycles per second.", "CPU"),
    Document("dup", "The central processing unit executes instructions. It fetches, decodes and executes them in a "
             "cycle. Modern CPUs have several cores. Each core runs its own thread of instructions.", "CPU (copy)"),
    Document("ram", "Random access memory holds data the processor is working on. It is volatile: its contents are "
             "lost without power. (Non-volatile memory keeps data.) DDR5 is a recent memory standard.", "Memory"),
    Document("disk", "A solid state drive stores data in flash memory. It has no moving parts. Hard disks use "
             "spinning platters. 7200 rpm is a common spindle speed. SSDs are faster at random reads.", "Storage"),
    Document("gpu", "A graphics processing unit renders images. GPUs run thousands of threads in parallel. They are "
             "also used to train neural networks. [Note] CUDA is NVIDIA's programming model.", "GPU"),
    Document("net", "A network interface card connects a computer to a network. Ethernet is the common wired "
             "standard. Wi-Fi is wireless. Latency is the delay before a transfer begins.", "Networking"),
    Document("os", "The operating system manages hardware resources. It schedules threads on CPU cores. It "
             "provides files, processes and memory protection. Linux and Windows are operating systems.",
             "Operating systems"),
    Document("py", "Python is a programming language. It has a large standard library. The json module parses "
             "JSON text. 42 is the answer in a famous novel.", "Python"),
]

QUERIES = [
    "how many cycles per second is 3 GHz",
    "what does the CPU do with instructions",
    "is memory volatile",
    "which drive has no moving parts",
    "what are GPUs used for",
    "who schedules threads on cores",
    "wireless network standard",
    "json parsing in python",
]


@pytest.fixture(scope="session")
def dense_engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("context-dense")
    Engine.build(DOCS, root / "bundle")
    return Engine.open(root / "bundle")


@pytest.fixture(scope="session")
def keyword_engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("context-keyword")
    return Engine.build(DOCS, root / "bundle", IndexConfig.from_dict({"dense": False}))


@pytest.fixture(scope="session")
def embedder_tokens() -> TokenCounter:
    return TokenCounter()


@pytest.fixture(scope="session")
def generator_tokens():
    """The generator's own tokenizer (SmolLM2 GGUF via llama.cpp), when that extra is installed."""
    from retrieval.generation.tokenizer import GeneratorTokenizer

    return GeneratorTokenizer()


@pytest.fixture(scope="session", params=["embedder", "generator"])
def tokenizer(request):
    """Each tokenizer the budget must be exact for."""
    name = "embedder_tokens" if request.param == "embedder" else "generator_tokens"
    return request.getfixturevalue(name)

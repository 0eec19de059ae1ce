"""Sentence splitting: hand cases and span invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.text import split_sentences


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One sentence. Another one.", ["One sentence.", "Another one."]),
        ("Really! Is it? Yes.", ["Really!", "Is it?", "Yes."]),
        ("Values rose 3.5 fold. Then fell.", ["Values rose 3.5 fold.", "Then fell."]),
        ("We used e.g. PCR and i.e. The rest.", ["We used e.g. PCR and i.e. The rest."]),
        ("As shown (Fig. 2) it works. Next.", ["As shown (Fig. 2) it works.", "Next."]),
        ("Smith et al. Reported it. Dr. Who agreed.", ["Smith et al. Reported it.", "Dr. Who agreed."]),
        ("J. Smith and the U.S. Army met. Done.", ["J. Smith and the U.S. Army met.", "Done."]),
        ("No split before lowercase. text goes on.", ["No split before lowercase. text goes on."]),
        ("Ends. 42 starts with a digit.", ["Ends.", "42 starts with a digit."]),
        ('He said "Stop." Then left.', ['He said "Stop."', "Then left."]),
        ("First. (Second in brackets.) Third.", ["First.", "(Second in brackets.)", "Third."]),
        ("Wait... What?", ["Wait...", "What?"]),
        ("line one\nline two", ["line one", "line two"]),
        ("  para one.\n\n  para two  ", ["para one.", "para two"]),
        ("no terminal punctuation", ["no terminal punctuation"]),
        ("Unicode: Ärger. Émile kam.", ["Unicode: Ärger.", "Émile kam."]),
        ("", []),
        (" \n\t ", []),
    ],
)
def test_hand_cases(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_spans_exclude_whitespace() -> None:
    text = "  A b.   C d.  "
    assert split_sentences(text) == [(2, 6), (9, 13)]


_PIECES = st.sampled_from(
    [
        "A", "b", "Cell", "word", "3.5", "e.g.", "Fig.", "Dr.", "J.", "U.S.", "et al.", ".", "!", "?",
        "...", '"', "'", "(", ")", "[", "]", " ", "  ", "\n", "\n\n", "\t", "\r\n", "\u00a0", "7",
        "Émile", "東京", "x.", "Y.",
    ]
)


@settings(derandomize=True, database=None, max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=60).map("".join))
def test_span_invariants(text: str) -> None:
    spans = split_sentences(text)
    prev_end = 0
    for s, e in spans:
        assert prev_end <= s < e <= len(text)
        assert text[prev_end:s].strip() == ""  # the gap is whitespace only
        assert not text[s].isspace() and not text[e - 1].isspace()
        assert "\n" not in text[s:e] and "\r" not in text[s:e]  # line breaks are hard breaks
        prev_end = e
    assert text[prev_end:].strip() == ""
    # Together the spans hold every non-whitespace character, in order.
    assert "".join("".join(text[s:e].split()) for s, e in spans) == "".join(text.split())

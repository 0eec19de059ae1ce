"""Rule-based sentence splitting into character spans.

A boundary is placed
- at every line break (``\\n``/``\\r``): lines are hard breaks, so hard-wrapped text and code
  come out a line at a time, and a blank line always ends a sentence;
- after a run of ``.``, ``!`` or ``?`` (plus closing quotes/brackets) that is followed by
  whitespace and then an uppercase letter, a digit, an opening quote or an opening bracket —
  unless the word ending in ``.`` is a known abbreviation ("e.g.", "Fig.", "et al.", "Dr."),
  a single capital initial ("J. Smith") or a dotted acronym ("U.S.").
Decimals such as 3.5 never split: no whitespace follows their dot.

Spans exclude surrounding whitespace, are in order and non-overlapping, and the text between
two spans (and before the first / after the last) is whitespace only.
"""

from __future__ import annotations

import re

# Lowercased, without the final dot. "etc" is deliberately absent: "etc." usually ends a
# sentence when an uppercase word follows.
ABBREVIATIONS = frozenset(
    """
    e.g i.e cf vs viz al approx ca fig figs eq eqs ref refs no nos vol vols pp ch sec
    dr mr mrs ms prof sr jr st mt gen col lt sgt jan feb mar apr jun jul aug sep sept oct
    nov dec inc ltd co corp dept univ est resp
    """.split()
)

_LINE = re.compile(r"[^\n\r]+")
# A terminal run and the first non-space character after the following whitespace.
_TERMINAL = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+(\S))")
_OPENERS = frozenset("\"'\u201c\u2018([{")
_INITIALISM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, e.g, i.e (final dot removed)
_LOOKBACK = 24
_STRIP_LEFT = "\"'\u201c\u2018([{"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, in order."""
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for m in _TERMINAL.finditer(text, line.start(), line.end()):
            if _is_boundary(text, line.start(), m):
                _add(text, start, m.end(), spans)
                start = m.end()
        _add(text, start, line.end(), spans)
    return spans


def _is_boundary(text: str, line_start: int, m: re.Match[str]) -> bool:
    nxt = m.group(1)
    if not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
        return False
    run = m.group(0).rstrip("\"'\u201d\u2019)]")
    if run != ".":  # "!", "?", "...": always a boundary
        return True
    # The word that the single dot ends (abbreviations are short: a bounded look-back suffices).
    before = text[max(line_start, m.start() - _LOOKBACK) : m.start()]
    if not before or before[-1].isspace():
        return True
    word = before.split()[-1].lstrip(_STRIP_LEFT)
    if len(word) == 1 and word.isupper():  # an initial: "J. Smith"
        return False
    if word.lower() in ABBREVIATIONS or _INITIALISM.fullmatch(word):
        return False
    return True


def _add(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Append the whitespace-trimmed span ``text[start:end]`` if it is not empty."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))

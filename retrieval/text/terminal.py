"""Corpus text made safe to print on a terminal.

A corpus can hold control characters (NUL, ESC sequences that move the cursor or recolour the
screen, C1 controls) and bidi overrides (U+202E turns the rest of the line around, so an id or a
title can read as something it is not). Human output shows each of them as a visible escape:
``\\x00``, ``\\x1b``, ``\\u202e``. JSON output keeps the text as it is: JSON escapes controls
itself, and a program reading it needs the exact characters.
"""

from __future__ import annotations

# C0 controls (tab and newline included: one hit stays on its own lines), DEL, C1 controls.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
# Bidi marks, embeddings, overrides and isolates (what "Trojan Source" uses).
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]

_ESCAPES = {cp: (f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}") for cp in (*_CONTROLS, *_BIDI)}


def printable(text: str) -> str:
    """``text`` with every control and bidi formatting character replaced by its escape."""
    return text.translate(_ESCAPES)

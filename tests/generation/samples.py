"""Prompts shared by the generator tests (SmolLM2-135M's greedy answers: a long story, a short fact)."""

from __future__ import annotations

from retrieval.generation import ChatPrompt

STORY = ChatPrompt("You are a storyteller.", "Write a long story about a cat who goes to the sea.")
CAPITAL = ChatPrompt("You are a concise assistant.", "What is the capital of France?", "Answer briefly.\n\n")

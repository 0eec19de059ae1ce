"""Benchmarks and evaluation: quality metrics, peer comparisons."""

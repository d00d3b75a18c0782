"""Benchmarks: run by hand, print tables; numbers go into issue notes, not into assertions."""

"""Exports and human-readable views of a report."""

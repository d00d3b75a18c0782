"""Analyzers and the one registry that says which exist and which can run here."""

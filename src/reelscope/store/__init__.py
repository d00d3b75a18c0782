"""Durable job state (SQLite, WAL) and report files written atomically."""

"""BulkLedger: where a bulk run stands, item by item, in the job store's SQLite file.

A run is identified by what it was asked (the input and the analysis spec), so running the same
command again resumes it. Each item moves ``pending -> running -> done | failed``; its summary row
is stored with the final state, so the run's JSONL/Parquet files can be rebuilt at any time and a
resumed run neither redoes finished videos nor writes their rows twice. An item found ``running``
belongs to a run that was killed: it is simply run again (the engine answers a finished job from
the store, so nothing is computed twice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reelscope.store.jobs import JobStore, _now

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


@dataclass(frozen=True)
class LedgerEntry:
    source: str
    position: int
    state: str
    job_id: str | None
    transient: bool  # failed in a way worth retrying (network, rate limit)
    tries: int
    row: dict[str, Any] | None


class BulkLedger:
    def __init__(self, store: JobStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    def open(self, input_name: str, spec: dict[str, Any]) -> bool:
        """Record the run (first time) and return True when it existed already (a resume)."""
        now = _now()
        existed = self.store._execute("SELECT 1 FROM bulk_runs WHERE run_id=?", (self.run_id,)).fetchone() is not None
        self.store._execute(
            "INSERT INTO bulk_runs (run_id, input, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id) DO UPDATE SET updated_at=excluded.updated_at",
            (self.run_id, input_name, json.dumps(spec, sort_keys=True, default=str), now, now),
        )
        return existed

    def entries(self) -> dict[str, LedgerEntry]:
        rows = self.store._execute("SELECT * FROM bulk_items WHERE run_id=?", (self.run_id,)).fetchall()
        return {
            r["source"]: LedgerEntry(
                r["source"], r["position"], r["state"], r["job_id"], bool(r["transient"]), r["tries"],
                json.loads(r["row"]) if r["row"] else None,
            )
            for r in rows
        }

    def add(self, source: str, position: int) -> None:
        """Register an item as pending (its position follows the input's current order)."""
        self.store._execute(
            "INSERT INTO bulk_items (run_id, source, position, state, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id, source) DO UPDATE SET position=excluded.position",
            (self.run_id, source, position, PENDING, _now()),
        )

    def start(self, source: str) -> None:
        self.store._execute(
            "UPDATE bulk_items SET state=?, tries=tries+1, updated_at=? WHERE run_id=? AND source=?",
            (RUNNING, _now(), self.run_id, source),
        )

    def finish(self, source: str, *, ok: bool, row: dict[str, Any], job_id: str | None, transient: bool = False) -> None:
        self.store._execute(
            "UPDATE bulk_items SET state=?, job_id=?, transient=?, row=?, updated_at=? WHERE run_id=? AND source=?",
            (DONE if ok else FAILED, job_id, int(transient), json.dumps(row, default=str), _now(), self.run_id, source),
        )

    def release(self, source: str) -> None:
        """Put an interrupted item back to pending (a Ctrl-C, not a failure)."""
        self.store._execute(
            "UPDATE bulk_items SET state=?, updated_at=? WHERE run_id=? AND source=? AND state=?",
            (PENDING, _now(), self.run_id, source, RUNNING),
        )

    def rows(self, sources: list[str] | None = None) -> list[dict[str, Any]]:
        """The stored rows of finished items, in input order (only ``sources`` when given)."""
        found = self.store._execute(
            "SELECT source, row FROM bulk_items WHERE run_id=? AND row IS NOT NULL AND state IN (?, ?) ORDER BY position",
            (self.run_id, DONE, FAILED),
        ).fetchall()
        wanted = None if sources is None else set(sources)
        return [json.loads(r["row"]) for r in found if wanted is None or r["source"] in wanted]

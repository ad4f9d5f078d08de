"""The writer a load hands its validated chunks to, one chunk at a time.

Nothing accumulates here: each chunk becomes an Arrow table in the contract's exact types
and goes straight to a sink (a COPY stream, a spool file, a DuckDB insert). Rows become
visible only when the enclosing transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from platform_assets.contracts import Contract
from platform_assets.warehouse.duplicates import Duplicates
from platform_assets.warehouse.sinks import Sink

if TYPE_CHECKING:
    from platform_assets.warehouse.records import ValidatedChunk
    from platform_assets.warehouse.sessions import LoadSession


@dataclass
class LoadStats:
    loaded: int = 0
    quarantined: int = 0
    chunks: int = 0
    collapsed: int = 0  # exact duplicates of a loaded row (same key, same values)

    @property
    def extracted(self) -> int:
        return self.loaded + self.quarantined + self.collapsed

    def resolved(self, duplicates: Duplicates) -> None:
        """Staged rows that a key's duplicates took out of the load (see ``duplicates``)."""
        self.loaded -= duplicates.collapsed + duplicates.conflicting
        self.collapsed += duplicates.collapsed
        self.quarantined += duplicates.conflicting


class PartitionWriter:
    """Appends validated chunks inside the replacing (or merging) transaction.

    ``session`` is that transaction: statements run on it commit with the rows or not at
    all (an incremental extraction's high-water mark belongs there).
    """

    def __init__(
        self,
        session: LoadSession,
        contract: Contract,
        asset: str,
        partition_key: str,
        run_id: str,
        rows: Sink,
        quarantine: Sink,
    ) -> None:
        self.session = session
        self.contract = contract
        self.asset = asset
        self._partition_key = partition_key
        self.run_id = run_id
        self._rows = rows
        self._quarantine = quarantine
        self.stats = LoadStats()

    def append(self, chunk: ValidatedChunk) -> None:
        # Arrow, pandas and numpy load with the first chunk, not with the code location.
        from platform_assets.warehouse.arrow import quarantine_table, to_arrow
        from platform_assets.warehouse.records import reasons_json, record_json

        if len(chunk.valid):
            self._rows.write(to_arrow(chunk.valid, self.contract))
        if chunk.quarantined:
            self._quarantine.write(
                quarantine_table(
                    self.asset,
                    self._partition_key,
                    self.run_id,
                    datetime.now(UTC),
                    [record_json(q["record"]) for q in chunk.quarantined],
                    [reasons_json(q["reasons"]) for q in chunk.quarantined],
                )
            )
        self.stats.loaded += len(chunk.valid)
        self.stats.quarantined += len(chunk.quarantined)
        self.stats.chunks += 1

    def finish(self) -> None:
        """Flush every sink into the transaction: the row stream first, then the quarantine."""
        self._rows.finish()
        self._quarantine.finish()

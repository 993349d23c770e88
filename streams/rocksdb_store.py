"""Faust's RocksDB table store, made to work with tables written outside stream iteration.

Faust's store files each write under the partition of the *current event*, and asserts there is
one. Earful's tables use `use_partitioner=True` (the changelog partition is the key's murmur2
partition, co-partitioned with the keyed input topic) and are also written from timers (closing
quiet windows, SLA clocks, notification retries), where there is no current event. This store
files a write under the key's murmur2 partition — the same partition the changelog record goes
to, so a restarted worker's local RocksDB and its changelog recovery agree.
"""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import murmur2
from faust.stores.rocksdb import Store as FaustRocksStore


class Store(FaustRocksStore):
    def _partition_for(self, key: bytes) -> int:
        partitions = int(self.table.partitions or self.app.conf.topic_partitions)
        return int(murmur2(key) & 0x7FFFFFFF) % partitions

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self._partition_for(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)

    def _del(self, key: bytes) -> None:
        for db in self._dbs_for_key(key):
            db.delete(key)
        self._key_index.pop(key, None)


def register() -> Any:
    """Make `rocksdb://` mean this store (Faust resolves store URLs by scheme)."""
    from faust.stores import STORES

    STORES.aliases["rocksdb"] = "streams.rocksdb_store:Store"
    return STORES

//! The RocksDB options every column family shares, and why each departs from the default
//! (most were measured with the sync benchmark, BENCHMARKS.md).

use rocksdb::Options;

use super::Table;

/// The one block cache every column family shares. Without it each of the ~30 column
/// families had RocksDB's default cache of 32 MiB (close to 1 GiB in all, never bounded as
/// one); shared, the tables read most get the room: serving a sync page reads records and
/// media items at random, and with this cache the holder of the sync benchmark spent 15%
/// less CPU (interleaved 100k runs) for about 5 MiB more at the receiver.
pub(super) const BLOCK_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// Whether the table's keys are hashes (record ids; a record id and a media item's
/// commitment) read one by one: such keys share no prefix worth delta-encoding.
pub(super) const fn keyed_by_hash(table: Table) -> bool {
    matches!(table, Table::Records | Table::MediaItems | Table::Withdrawn)
}

/// Options of the column family `name`, reading through the shared `cache`: bloom filters,
/// because ingest asks "is this record (or tombstone) already here?" for every record it
/// receives, and the answer is usually no; tables [`keyed_by_hash`] tuned for point lookups.
pub(super) fn table_options(cache: &rocksdb::Cache, name: &str) -> Options {
    let keyed_by_hash = Table::ALL
        .iter()
        .any(|&table| table.name() == name && keyed_by_hash(table));
    let mut block = rocksdb::BlockBasedOptions::default();
    block.set_block_cache(cache);
    block.set_bloom_filter(10.0, false);
    // A hash index inside each data block: point lookups (a record by id, a media item by
    // commitment) find their entry without a binary search over the block's restart points.
    block.set_data_block_index_type(rocksdb::DataBlockIndexType::BinaryAndHash);
    block.set_data_block_hash_ratio(0.75);
    if keyed_by_hash {
        // Every entry a restart point: the block's hash index then leads straight to the entry
        // instead of to a run of up to 16 entries decoded one by one, and nothing is lost, as
        // random keys share no prefix to delta-encode. The sync benchmark's holder, which
        // reads a record and its media items per report, spent 7-12% less CPU (interleaved
        // 100k runs). SST files written before keep their layout and read as before.
        block.set_block_restart_interval(1);
    }
    let mut options = Options::default();
    options.set_block_based_table_factory(&block);
    // A whole-key bloom filter in each memtable: most lookups miss the active and immutable
    // memtables (serving a page reads records and media items written long before; ingest
    // asks for records and tombstones that are not there), and without it every miss walks a
    // skip list (a quarter of the holder's time in the sync benchmark).
    options.set_memtable_prefix_bloom_ratio(0.05);
    options.set_memtable_whole_key_filtering(true);
    // Small memtables: records arrive under random ids, and inserts and lookups in a large
    // skip list miss the cache at every level (the sync benchmark: 8 MB against RocksDB's
    // default 64 MB, about 5% faster end to end and half the receiver's memory).
    options.set_write_buffer_size(8 * 1024 * 1024);
    // Flushed memtables (level 0) stay uncompressed: they are compacted soon after, and
    // compressing them on flush only to decompress them again in the compaction cost the
    // receiver of a sync about 4% of its time. Every level data settles in is LZ4-compressed.
    options.set_compression_per_level(&[
        rocksdb::DBCompressionType::None,
        rocksdb::DBCompressionType::Lz4,
        rocksdb::DBCompressionType::Lz4,
        rocksdb::DBCompressionType::Lz4,
        rocksdb::DBCompressionType::Lz4,
        rocksdb::DBCompressionType::Lz4,
        rocksdb::DBCompressionType::Lz4,
    ]);
    options
}

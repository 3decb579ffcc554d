//! A PDQ index for near-neighbour lookups by Hamming distance: multi-index hashing. The 256
//! bits are cut into `m` chunks, with one table per chunk from chunk value to the entries that
//! have it. Two hashes within distance `r` agree to within `r / m` bits on at least one chunk
//! (pigeonhole), so probing each chunk's value and its neighbours within `r / m` flips finds
//! every match; candidates are then checked on all 256 bits. Chunks are about as wide as
//! log2 of the entry count, so buckets hold a few entries each: 12 chunks of 21-22 bits at 10
//! million entries (distance 31: 2 flips, about 3,000 probes, some ten thousand candidates
//! instead of all entries), 16 of 16 bits for mid-sized lists, 32 of 8 for small ones.

/// Most flips probed per chunk.
const MAX_FLIPS: usize = 3;

/// The 256 bits of a PDQ hash as four words.
pub type Bits = [u64; 4];

/// Converts PDQ hash bytes (in PDQ's hex order) to words.
pub fn bits_of(bytes: &[u8; 32]) -> Bits {
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(chunk);
        *word = u64::from_be_bytes(eight);
    }
    words
}

/// Hamming distance of two hashes.
pub fn distance(a: &Bits, b: &Bits) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

/// The chunk layout for an index of `count` entries: `(start bit, width)` per chunk.
fn layout(count: usize) -> Vec<(usize, usize)> {
    let chunks: usize = match count {
        0..4_096 => 32,
        4_096..262_144 => 16,
        _ => 12,
    };
    let (base, wider) = (256 / chunks, 256 % chunks);
    let mut start = 0;
    (0..chunks)
        .map(|i| {
            let width = base + usize::from(i < wider);
            let chunk = (start, width);
            start += width;
            chunk
        })
        .collect()
}

/// The value of the chunk at `start` of `width` bits (bits may span two words).
fn chunk(bits: &Bits, (start, width): (usize, usize)) -> usize {
    let (word, shift) = (start / 64, start % 64);
    let mut value = bits[word] >> shift;
    if shift + width > 64 {
        value |= bits[word + 1] << (64 - shift);
    }
    (value & ((1u64 << width) - 1)) as usize
}

/// An immutable index over a set of hashes; entry numbers are positions in the input.
#[derive(Debug, Default)]
pub struct PdqIndex {
    hashes: Vec<Bits>,
    /// `(start bit, width)` of each chunk.
    layout: Vec<(usize, usize)>,
    /// Per chunk: `offsets[v]..offsets[v + 1]` are the positions in `entries` of chunk value v.
    offsets: Vec<Vec<u32>>,
    entries: Vec<Vec<u32>>,
}

impl PdqIndex {
    /// Builds the index (counting sort per chunk). At most `u32::MAX` entries.
    pub fn build(hashes: Vec<Bits>) -> Self {
        let count = hashes.len().min(u32::MAX as usize);
        let layout = layout(count);
        let mut offsets = Vec::with_capacity(layout.len());
        let mut entries = Vec::with_capacity(layout.len());
        for &c in &layout {
            let buckets = 1usize << c.1;
            let mut starts = vec![0u32; buckets + 1];
            for bits in &hashes[..count] {
                starts[chunk(bits, c) + 1] += 1;
            }
            for v in 0..buckets {
                starts[v + 1] += starts[v];
            }
            let mut fill = starts.clone();
            let mut table = vec![0u32; count];
            for (position, bits) in hashes[..count].iter().enumerate() {
                let bucket = chunk(bits, c);
                table[fill[bucket] as usize] = position as u32;
                fill[bucket] += 1;
            }
            offsets.push(starts);
            entries.push(table);
        }
        Self {
            hashes,
            layout,
            offsets,
            entries,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The hash of an entry.
    pub fn hash(&self, entry: u32) -> Option<&Bits> {
        self.hashes.get(entry as usize)
    }

    /// The largest distance [`PdqIndex::query`] answers exactly (larger ones are clamped).
    pub fn max_radius(&self) -> u32 {
        ((self.layout.len() * (MAX_FLIPS + 1)) - 1) as u32
    }

    /// Entries within `radius` (at most [`PdqIndex::max_radius`]) of `query`, as
    /// `(entry, distance)` sorted by distance then entry.
    pub fn query(&self, query: &Bits, radius: u32) -> Vec<(u32, u32)> {
        let radius = radius.min(self.max_radius());
        let flips = (radius as usize) / self.layout.len().max(1);
        let mut found = Vec::new();
        for (c, &layout) in self.layout.iter().enumerate() {
            let value = chunk(query, layout);
            for probe in neighbours(value, layout.1, flips) {
                let (start, end) = (self.offsets[c][probe], self.offsets[c][probe + 1]);
                for &entry in &self.entries[c][start as usize..end as usize] {
                    let d = distance(&self.hashes[entry as usize], query);
                    if d <= radius {
                        found.push((entry, d));
                    }
                }
            }
        }
        found.sort_unstable_by_key(|&(entry, d)| (d, entry));
        found.dedup();
        found
    }

    /// The same answer by checking every entry: the baseline the index must agree with and
    /// beat.
    pub fn scan(&self, query: &Bits, radius: u32) -> Vec<(u32, u32)> {
        let mut found: Vec<(u32, u32)> = self
            .hashes
            .iter()
            .enumerate()
            .filter_map(|(entry, bits)| {
                let d = distance(bits, query);
                (d <= radius).then_some((entry as u32, d))
            })
            .collect();
        found.sort_unstable_by_key(|&(entry, d)| (d, entry));
        found
    }
}

/// `value` and every `width`-bit value within `flips` (at most [`MAX_FLIPS`]) bit flips of it.
fn neighbours(value: usize, width: usize, flips: usize) -> Vec<usize> {
    let mut out = vec![value];
    for a in 0..width {
        if flips < 1 {
            break;
        }
        out.push(value ^ (1 << a));
        for b in a + 1..width {
            if flips < 2 {
                break;
            }
            out.push(value ^ (1 << a) ^ (1 << b));
            for c in b + 1..width {
                if flips < 3 {
                    break;
                }
                out.push(value ^ (1 << a) ^ (1 << b) ^ (1 << c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(seed: u64, count: usize) -> Vec<Bits> {
        safeport_tests::fixtures::random_pdq_bits(seed, count)
    }

    fn flip(bits: &Bits, positions: &[usize]) -> Bits {
        let mut out = *bits;
        for &p in positions {
            out[p / 64] ^= 1 << (p % 64);
        }
        out
    }

    #[test]
    fn bytes_and_chunks_cover_every_bit() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0x80;
        bytes[31] = 0x01;
        let bits = bits_of(&bytes);
        assert_eq!(distance(&bits, &[0; 4]), 2);
        for count in [10, 10_000, 10_000_000] {
            let layout = layout(count);
            let all: u32 = layout
                .iter()
                .map(|&c| chunk(&[u64::MAX; 4], c).count_ones())
                .sum();
            assert_eq!(all, 256);
            // Each single bit lands in exactly one chunk.
            for bit in 0..256 {
                let one = flip(&[0; 4], &[bit]);
                let hits = layout.iter().filter(|&&c| chunk(&one, c) != 0).count();
                assert_eq!(hits, 1, "bit {bit}");
            }
        }
        assert_eq!(neighbours(0, 21, 1).len(), 22);
        assert_eq!(neighbours(0, 21, 2).len(), 1 + 21 + 210);
        assert_eq!(neighbours(0, 21, 3).len(), 1 + 21 + 210 + 1330);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// Planted near neighbours at every distance up to the radius, among random entries:
        /// the index answers exactly what a full scan answers.
        #[test]
        fn index_agrees_with_a_full_scan(
            seed in any::<u64>(),
            plant in prop::collection::vec((0usize..20_000, prop::collection::vec(0usize..256, 0..40)), 1..40),
            radius in prop_oneof![Just(31u32), 0u32..=63],
        ) {
            // Small, mid-sized and large lists get different chunk layouts.
            let count = [1_000, 20_000, 300_000][(seed % 3) as usize];
            let mut hashes = words(seed, count);
            let queries = words(seed ^ 1, plant.len());
            for ((target, flips), query) in plant.iter().zip(&queries) {
                hashes[*target % count] = flip(query, flips);
            }
            let index = PdqIndex::build(hashes);
            let radius = radius.min(index.max_radius());
            for query in &queries {
                prop_assert_eq!(index.query(query, radius), index.scan(query, radius));
            }
        }
    }
}

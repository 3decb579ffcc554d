//! Spreading a page's CPU work over the cores: consecutive chunks on scoped threads, results
//! back in order. Used by ingest (signature checks) and by serving pulls (reads and
//! `authorize()` per record).

/// At most this many threads work on one page.
const MAX_THREADS: usize = 4;

/// Runs `work` over consecutive chunks of `items` and concatenates the results in order.
/// Small inputs (fewer than `min_items`) and one-core machines run on the calling thread. A
/// chunk whose worker panicked yields `failed()` for each of its items, so a caller never
/// mistakes it for success.
pub(crate) fn map_chunks<T: Sync, R: Send>(
    items: &[T],
    min_items: usize,
    work: impl Fn(&[T]) -> Vec<R> + Sync,
    failed: impl Fn() -> R,
) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS);
    if threads < 2 || items.len() < min_items {
        return work(items);
    }
    let chunk = items.len().div_ceil(threads);
    let work = &work;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| (part.len(), scope.spawn(move || work(part))))
            .collect();
        workers
            .into_iter()
            .flat_map(|(len, worker)| {
                worker
                    .join()
                    .unwrap_or_else(|_| (0..len).map(|_| failed()).collect())
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_order_and_a_panic_fails_only_its_chunk() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = map_chunks(
            &items,
            10,
            |part| part.iter().map(|x| Some(x * 2)).collect(),
            || None,
        );
        assert_eq!(
            doubled,
            items.iter().map(|x| Some(x * 2)).collect::<Vec<_>>()
        );
        let out = map_chunks(
            &items,
            10,
            |part| {
                assert!(!part.contains(&0), "worker fails");
                part.iter().map(|x| Some(*x)).collect()
            },
            || None,
        );
        assert_eq!(out.len(), 1000);
        assert_eq!(out[0], None);
        if std::thread::available_parallelism().map_or(1, usize::from) > 1 {
            assert_eq!(out[999], Some(999));
        }
    }
}

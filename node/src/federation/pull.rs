//! Pulling this node's outbox at a peer: a pipeline of three stages joined by bounded
//! channels, so none waits for another while there is work. A fetcher requests page after
//! page (the next as soon as the previous arrived, at most [`PAGES_AHEAD`] waiting); a checker
//! checks each (signatures, on all cores) ahead of the writer; the writer stores pages strictly
//! in order, one after the other, each in one synced batch, and the cursor only ever advances
//! with what was stored. A page checked ahead is judged again at write time if the agreements
//! changed meanwhile, and withdrawals are looked up again under the write lock
//! (`app/ingest.rs`). When a stage fails, the pages fetched or checked ahead are dropped and
//! the next pull starts again from the stored cursor.

use std::sync::Arc;

use safeport_protocol::AgencyId;
use safeport_protocol::sync::{MAX_PAGE_ITEMS, SyncPage, SyncRequest, SyncResponse};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::FederationHandle;
use crate::app::{App, CheckedPage};
use crate::net::NetHandle;

/// Most pages pulled from one peer in one pull before yielding to other work.
const MAX_PAGES_PER_PULL: usize = 10_000;

/// Pages fetched and waiting to be checked. Each is bounded by the protocol's page limits
/// (about 2 MiB of records), so the pipeline holds a few pages at most: these, the one being
/// checked and the one being written. Two keep the holder busy while this node checks and
/// writes (one alone left it idle for a third of the sync benchmark).
const PAGES_AHEAD: usize = 2;

/// Pages checked and waiting to be written: one, so the cores check the next page while the
/// writer waits for its synced write, and at most one checked page waits in memory.
const PAGES_CHECKED_AHEAD: usize = 1;

/// A page as the fetcher hands it on.
struct Fetched {
    page: SyncPage,
    /// Whether another page follows in this pull.
    more: bool,
}

/// A page as the checker hands it on.
struct Checked {
    page: Arc<SyncPage>,
    check: CheckedPage,
    /// Whether another page follows in this pull.
    more: bool,
    /// How long the checker waited for this page to arrive.
    wait_ms: u64,
}

/// Requests one page of this node's outbox at `peer`, after `after`.
async fn fetch_page(
    net: &NetHandle,
    me: &AgencyId,
    peer: &AgencyId,
    after: u64,
) -> Result<SyncPage, String> {
    let request = SyncRequest::Pull {
        recipient: me.clone(),
        after,
        limit: MAX_PAGE_ITEMS,
    };
    let body = request.encode().map_err(|e| e.to_string())?;
    let bytes = net.request(peer, body).await.map_err(|e| e.to_string())?;
    let page = match SyncResponse::decode(&bytes).map_err(|e| format!("bad response: {e}"))? {
        SyncResponse::Page(page) => page,
        SyncResponse::Refused(reason) => return Err(format!("peer refused the pull: {reason}")),
        SyncResponse::Ack | SyncResponse::Blob(_) => {
            return Err("peer answered a pull with something else".into());
        }
    };
    if page.next_cursor < after || page.items.iter().any(|item| item.position <= after) {
        return Err("peer sent a page behind our cursor".into());
    }
    Ok(page)
}

/// The fetching stage: requests pages after `cursor` one after the other and hands them on,
/// until the last page of the pull, an error (handed on too), or the consumer is gone.
async fn fetch_pages(
    net: NetHandle,
    me: AgencyId,
    peer: AgencyId,
    cursor: u64,
    pages: mpsc::Sender<Result<Fetched, String>>,
) {
    let mut after = cursor;
    let mut fetched = 0;
    loop {
        let result = fetch_page(&net, &me, &peer, after).await.map(|page| {
            fetched += 1;
            // Only a page that advanced may lead to another (no endless "more" without
            // progress).
            let more = page.more && page.next_cursor > after && fetched < MAX_PAGES_PER_PULL;
            after = page.next_cursor;
            Fetched { page, more }
        });
        let go_on = matches!(&result, Ok(fetched) if fetched.more);
        if pages.send(result).await.is_err() || !go_on {
            return;
        }
    }
}

/// The checking stage: checks each fetched page (signatures on all cores) and hands it on with
/// its check, until the last page of the pull, an error (handed on too), or the writer is gone.
/// It runs ahead of the writer by [`PAGES_CHECKED_AHEAD`], so the cores check the next page
/// while the writer waits for its synced write.
async fn check_pages(
    app: Arc<App>,
    peer: AgencyId,
    mut fetched: mpsc::Receiver<Result<Fetched, String>>,
    checked: mpsc::Sender<Result<Checked, String>>,
) {
    loop {
        let waited = std::time::Instant::now();
        let Some(next) = fetched.recv().await else {
            return;
        };
        let wait_ms = waited.elapsed().as_millis() as u64;
        let result = match next {
            Err(error) => Err(error),
            Ok(Fetched { page, more }) => {
                let page = Arc::new(page);
                let (app, peer, to_check) = (Arc::clone(&app), peer.clone(), Arc::clone(&page));
                tokio::task::spawn_blocking(move || app.check_page(&peer, &to_check))
                    .await
                    .map(|check| Checked {
                        page,
                        check,
                        more,
                        wait_ms,
                    })
                    .map_err(|e| e.to_string())
            }
        };
        let go_on = matches!(&result, Ok(checked) if checked.more);
        if checked.send(result).await.is_err() || !go_on {
            return;
        }
    }
}

/// Pulls every page waiting for this node at `peer`, storing each in one synced batch.
pub(super) async fn pull_from(
    app: &Arc<App>,
    handle: &FederationHandle,
    peer: &AgencyId,
) -> Result<(), String> {
    let cursor = {
        let app = Arc::clone(app);
        let peer = peer.clone();
        tokio::task::spawn_blocking(move || app.store().cursor(&peer))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let (fetched_sender, fetched) = mpsc::channel(PAGES_AHEAD);
    let (checked_sender, mut checked) = mpsc::channel(PAGES_CHECKED_AHEAD);
    // Dropped (and so aborted) with this function, whichever way it returns.
    let mut stages = JoinSet::new();
    stages.spawn(fetch_pages(
        handle.net.clone(),
        app.me().clone(),
        peer.clone(),
        cursor,
        fetched_sender,
    ));
    stages.spawn(check_pages(
        Arc::clone(app),
        peer.clone(),
        fetched,
        checked_sender,
    ));
    // The writing stage: pages strictly in order, one after the other.
    while let Some(next) = checked.recv().await {
        let Checked {
            page,
            check,
            more,
            wait_ms,
        } = next?;
        let started = std::time::Instant::now();
        let ingested = {
            let (app, peer) = (Arc::clone(app), peer.clone());
            tokio::task::spawn_blocking(move || app.store_page(&peer, &page, check))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
        };
        tracing::info!(
            peer = %peer,
            stored = ingested.stored,
            duplicates = ingested.duplicates,
            rejected = ingested.rejected,
            cursor = ingested.cursor,
            more,
            wait_ms,
            ingest_ms = ingested.check_ms + started.elapsed().as_millis() as u64,
            check_ms = ingested.check_ms,
            build_ms = ingested.build_ms,
            write_ms = ingested.write_ms,
            "ingested a page"
        );
        handle.metrics.ingested(&ingested);
        handle.record(peer, |p| {
            p.received += ingested.stored as u64;
            p.refused += ingested.rejected as u64;
            p.last_error = None;
            // The holder serves nothing beyond its head: the cursor is a head it had.
            p.peer_head = p.peer_head.max(Some(ingested.cursor));
        });
        handle.committed(ingested.committed).await;
        if !more {
            return Ok(());
        }
    }
    Err("the pull stopped before its last page".into())
}

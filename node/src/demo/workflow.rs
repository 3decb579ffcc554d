//! The demo's casework, through the domain calls the admin API and portal make (each followed
//! by the federation nudge, as the handlers do): the hotlines take in tips that their real
//! crawler fetches from the demo websites, analysts classify some items (each a new signed
//! revision that flows as the agreements allow), INTERPOL publishes the baseline items it
//! received into ICSE as its baseline hash list (which then classifies a picture the DE
//! hotline crawls), and an IWOL suggestion is made, confirmed by a second agency and
//! accepted. The step ends once everything arrived at every node it should reach.
//!
//! IWOL suggestions must name a domain, and the crawler only visits the demo websites by IP
//! address (it resolves names with its own resolver and the demo cannot give `.test` names
//! an address). The IWOL evidence is therefore one synthetic report per suggesting hotline on
//! `site-1.example.test`, made of generated pictures, stored and shared through
//! [`RunningNode::submit_report`]: signed and synced like every report, only not crawled.

use safeport_protocol::hashlist::formats::{self, ImportOptions, ListFormat};
use safeport_protocol::hashlist::{HashCategory, ListName};
use safeport_protocol::iwol::{Criterion, Domain};
use safeport_protocol::report::{Assessment, Assessor, Hosting, IntakeChannel, MediaItem, Report};
use safeport_protocol::{Classification, Country, RecordId};
use sha2::{Digest, Sha256};

use super::setup::{INTERPOL, NL_POLICE};
use super::site::{Site, picture, picture_path};
use super::{Demo, DemoError, app_error, blocking, hotlines, node, wait_for};
use crate::RunningNode;
use crate::app::AppError;
use crate::app::hashlists::{PublishMode, PublishRequest};
use crate::app::hotline::Intake;
use crate::app::iwol::{Review, SuggestRequest, SuggestionStatus};
use crate::app::received::IcseQuery;
use crate::store::hotline::CrawlStatus;

/// The hash list INTERPOL publishes in the demo.
pub const HASH_LIST: &str = "interpol/baseline";
/// The domain the demo puts on the IWOL.
pub const IWOL_DOMAIN: &str = "site-1.example.test";
/// The analyst reference on the demo's classifications (the hotlines' portal account).
const ANALYST: &str = "analyst";
/// Validity of the published hash list and IWOL version, in days (the longest allowed, so a
/// reused demo stays current for a year).
const VALID_DAYS: u64 = 365;

fn sha256_of(seed: u32) -> Result<[u8; 32], DemoError> {
    Ok(Sha256::digest(picture(seed)?.0).into())
}

fn site(demo: &Demo, index: usize) -> Result<&Site, DemoError> {
    demo.sites
        .get(index)
        .ok_or_else(|| DemoError::Unexpected(format!("no demo website {index}")))
}

/// Runs the casework (see the module documentation).
pub(super) async fn run(demo: &Demo) -> Result<(), DemoError> {
    let (nl, de) = hotlines(demo)?;
    let interpol = node(demo, INTERPOL)?;
    let police = node(demo, NL_POLICE)?;
    let (nl_site, de_site) = (site(demo, 0)?, site(demo, 1)?);

    // The NL hotline: a gallery hosted in NL (for the NL police and ICSE) and one hosted in
    // DE (forwarded to the DE hotline, and ICSE); one item of the second stays unassessed.
    let nl_gallery = intake_and_crawl(nl, &nl_site.url("/gallery")).await?;
    let de_gallery = intake_and_crawl(nl, &de_site.url("/gallery")).await?;
    use Classification::{Baseline, NationallyIllegal, NotIllegal};
    classify(
        nl,
        &nl_gallery,
        nl_site,
        &[(1, Baseline), (2, NationallyIllegal), (3, NotIllegal)],
    )
    .await?;
    classify(
        nl,
        &de_gallery,
        de_site,
        &[(4, Baseline), (5, NationallyIllegal)],
    )
    .await?;

    // INTERPOL lists the baseline items contributed to ICSE; every subscriber receives it.
    let listed = [sha256_of(1)?, sha256_of(4)?];
    wait_for(interpol, "the baseline items in ICSE", |app| {
        for sha256 in listed {
            let query = IcseQuery {
                sha256: Some(sha256),
                limit: 1,
                ..IcseQuery::default()
            };
            if app.icse(&query).map_err(app_error(app, "ICSE"))?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await?;
    publish_baseline(interpol).await?;
    for demo_node in demo.nodes() {
        wait_for(&demo_node.node, "INTERPOL's hash list", |app| {
            let lists = app.hash_lists().map_err(app_error(app, "hash lists"))?;
            Ok(lists.iter().any(|l| l.list == HASH_LIST && l.version >= 1))
        })
        .await?;
    }

    // The DE hotline crawls an album hosted in NL: picture 1 is on INTERPOL's list now, so the
    // crawler classifies it; the analyst classifies the other (forwarded to NL, and ICSE).
    let album = intake_and_crawl(de, &nl_site.url("/album")).await?;
    let matched = sha256_of(1)?;
    let crawled = blocking(de, "reading a report", move |app| {
        app.hotline_report(&album)
    })
    .await?
    .items;
    if !crawled.iter().any(|item| {
        item.sha256 == matched
            && matches!(item.assessment.assessor, Some(Assessor::HashList { .. }))
    }) {
        return Err(DemoError::Unexpected(
            "the DE hotline's crawl was not classified by INTERPOL's hash list".into(),
        ));
    }
    classify(de, &album, nl_site, &[(7, NationallyIllegal)]).await?;

    let (nl_evidence, de_evidence) = iwol(demo).await?;

    // Everything reaches where its agreements take it.
    use Content::{All, HashesOnly, Illegal};
    wait_report(
        nl,
        &nl_gallery,
        &[(interpol, Illegal), (police, HashesOnly)],
    )
    .await?;
    wait_report(nl, &de_gallery, &[(de, All), (interpol, Illegal)]).await?;
    wait_report(de, &album, &[(nl, All), (interpol, Illegal)]).await?;
    wait_report(
        nl,
        &nl_evidence,
        &[(interpol, Illegal), (police, HashesOnly)],
    )
    .await?;
    wait_report(de, &de_evidence, &[(nl, All), (interpol, Illegal)]).await?;
    for demo_node in demo.nodes() {
        wait_for(&demo_node.node, "the IWOL version", listed_on_iwol).await?;
    }
    tracing::info!("demo casework done");
    Ok(())
}

/// Takes in a tip for `url` at a hotline and waits until its crawl is done.
async fn intake_and_crawl(hotline: &RunningNode, url: &str) -> Result<[u8; 16], DemoError> {
    tracing::info!(agency = %hotline.app().me(), url, "demo intake");
    let intake = Intake {
        url: url.to_owned(),
        channel: IntakeChannel::PublicForm,
        received_at: None,
        remarks: Some("Synthetic demo tip: a gallery of generated pictures.".into()),
    };
    let (key, committed) =
        blocking(hotline, "taking in a tip", move |app| app.intake(intake)).await?;
    hotline.federation().committed(committed).await;
    wait_for(hotline, &format!("the crawl of {url}"), |app| {
        let local = app
            .store()
            .local_report(&key)
            .map_err(|e| app_error(app, "reading a report")(AppError::Store(e)))?;
        match local.map(|l| l.crawl) {
            Some(CrawlStatus::Done { .. }) => Ok(true),
            Some(CrawlStatus::Failed { reason, .. }) => Err(DemoError::Crawl {
                url: url.to_owned(),
                reason,
            }),
            _ => Ok(false),
        }
    })
    .await?;
    Ok(key)
}

/// An analyst's verdicts on a crawled report's pictures (by seed), one revision each.
async fn classify(
    hotline: &RunningNode,
    key: &[u8; 16],
    site: &Site,
    verdicts: &[(u32, Classification)],
) -> Result<(), DemoError> {
    let key = *key;
    let report = blocking(hotline, "reading a report", move |app| {
        app.hotline_report(&key)
    })
    .await?;
    for (seed, classification) in verdicts {
        let url = site.url(&picture_path(*seed));
        let sha256 = report
            .items
            .iter()
            .find(|item| item.source_url == url)
            .map(|item| item.sha256)
            .ok_or_else(|| DemoError::Unexpected(format!("the crawl found no {url}")))?;
        let classification = *classification;
        let committed = blocking(hotline, "classifying an item", move |app| {
            app.classify(&key, &sha256, classification, ANALYST)
        })
        .await?;
        hotline.federation().committed(committed).await;
    }
    Ok(())
}

/// INTERPOL publishes version 1 of its baseline list: the SHA-256, MD5 and PDQ of every
/// baseline item in its ICSE collection, imported from CSV as `hashes publish` does.
async fn publish_baseline(interpol: &RunningNode) -> Result<(), DemoError> {
    let (published, committed) = blocking(interpol, "publishing the baseline list", |app| {
        let query = IcseQuery {
            classification: Some(Classification::Baseline),
            limit: 1000,
            ..IcseQuery::default()
        };
        let mut lines = std::collections::BTreeSet::new();
        for entry in app.icse(&query)? {
            let item = &entry.item;
            lines.insert(format!("sha256,{},baseline", hex::encode(item.sha256)));
            lines.insert(format!("md5,{},baseline", hex::encode(item.md5)));
            if let Some(pdq) = item.pdq {
                lines.insert(format!("pdq,{},baseline", hex::encode(pdq.bits())));
            }
        }
        let csv = std::iter::once(formats::CSV_HEADER.to_owned())
            .chain(lines)
            .collect::<Vec<_>>()
            .join("\n");
        let options = ImportOptions {
            category: HashCategory::Baseline,
            added_at: app.now(),
        };
        let entries = formats::import(ListFormat::Csv, &csv, &options)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let name: ListName =
            "baseline"
                .parse()
                .map_err(|e: safeport_protocol::hashlist::ListIdError| {
                    AppError::Invalid(e.to_string())
                })?;
        app.publish_hash_list_committed(PublishRequest {
            name,
            national: None,
            entries,
            valid_for_secs: VALID_DAYS * 24 * 3600,
            snapshot: false,
            mode: PublishMode::Replace,
        })
    })
    .await?;
    interpol.federation().committed(committed).await;
    tracing::info!(list = %published.list, version = published.version, entries = published.entry_count, "demo hash list published");
    Ok(())
}

/// Whether the IWOL held at the node lists [`IWOL_DOMAIN`].
fn listed_on_iwol(app: &crate::app::App) -> Result<bool, DemoError> {
    let domain = Domain::normalise(IWOL_DOMAIN)
        .map_err(|e| DemoError::Unexpected(format!("{IWOL_DOMAIN}: {e}")))?;
    let list = app.iwol_list().map_err(app_error(app, "the IWOL"))?;
    Ok(list.is_some_and(|l| l.entry(&domain).is_some()))
}

/// Whether the node holds suggestion `id` (and, with `acceptable`, may accept it now).
fn holds_suggestion(
    app: &crate::app::App,
    id: &RecordId,
    acceptable: bool,
) -> Result<bool, DemoError> {
    match app.iwol_suggestion(id) {
        Ok(view) => Ok(view.suggestion.is_some() && (!acceptable || view.acceptable)),
        Err(AppError::NotFound) => Ok(false),
        Err(e) => Err(app_error(app, "an IWOL suggestion")(e)),
    }
}

/// The NL hotline suggests [`IWOL_DOMAIN`], the DE hotline confirms it with evidence of its
/// own, INTERPOL accepts it: version 1 of the IWOL. Returns the keys of the two evidence
/// reports.
async fn iwol(demo: &Demo) -> Result<([u8; 16], [u8; 16]), DemoError> {
    let (nl, de) = hotlines(demo)?;
    let interpol = node(demo, INTERPOL)?;
    let (nl_evidence, evidence) = evidence_report(nl, "/gallery", &[11, 12]).await?;
    let request = SuggestRequest {
        domain: Some(IWOL_DOMAIN.to_owned()),
        criteria: Criterion::ALL.to_vec(),
        reports: vec![evidence],
        media: Vec::new(),
        note: Some("Demo suggestion: synthetic evidence only.".into()),
    };
    let (id, committed) = blocking(nl, "suggesting a domain", move |app| {
        app.suggest_iwol(request, None)
    })
    .await?;
    nl.federation().committed(committed).await;
    tracing::info!(suggestion = %id, "demo IWOL suggestion");
    // INTERPOL passes the suggestion on to its other subscribers, the DE hotline among them.
    wait_for(de, "the IWOL suggestion", |app| {
        holds_suggestion(app, &id, false)
    })
    .await?;

    let (de_evidence, evidence) = evidence_report(de, "/more", &[13]).await?;
    let request = SuggestRequest {
        domain: None,
        criteria: Criterion::ALL.to_vec(),
        reports: vec![evidence],
        media: Vec::new(),
        note: None,
    };
    let (_, committed) = blocking(de, "confirming a suggestion", move |app| {
        app.suggest_iwol(request, Some(id))
    })
    .await?;
    de.federation().committed(committed).await;
    wait_for(interpol, "the confirmed IWOL suggestion", |app| {
        holds_suggestion(app, &id, true)
    })
    .await?;
    let (_, committed) = blocking(interpol, "accepting a suggestion", move |app| {
        app.review_iwol(
            &id,
            Review::Accept,
            "Demo: criteria confirmed by two agencies.",
            Some(VALID_DAYS),
        )
    })
    .await?;
    interpol.federation().committed(committed).await;
    for suggester in [nl, de] {
        wait_for(suggester, "INTERPOL's decision", |app| {
            Ok(app
                .iwol_suggestion(&id)
                .is_ok_and(|v| v.status == SuggestionStatus::Accepted))
        })
        .await?;
    }
    Ok((nl_evidence, de_evidence))
}

/// A synthetic report of `hotline` on `https://<IWOL_DOMAIN><path>` showing the given
/// generated pictures, classified baseline by the analyst and hosted in NL; the pictures are
/// stored in the node's blob store as the crawler stores what it fetches, so peers the
/// agreements entitle to content receive it. Returns its key and record id.
async fn evidence_report(
    hotline: &RunningNode,
    path: &str,
    seeds: &[u32],
) -> Result<([u8; 16], RecordId), DemoError> {
    let now = hotline.app().now();
    let mut items = Vec::with_capacity(seeds.len());
    for seed in seeds {
        let (bytes, _) = picture(*seed)?;
        let blobs = hotline.blobs().clone();
        let hashes = tokio::task::spawn_blocking(move || {
            blobs
                .put(&bytes)
                .map(|_| crate::media::hash_media(&bytes))
                .map_err(|e| DemoError::Unexpected(format!("storing a demo picture: {e}")))
        })
        .await??;
        items.push(MediaItem {
            salt: random()?,
            md5: hashes.md5,
            sha1: hashes.sha1,
            sha256: hashes.sha256,
            pdq: hashes.pdq,
            mime_type: hashes.mime_type,
            size: hashes.size,
            dimensions: hashes.dimensions,
            source_url: format!("https://{IWOL_DOMAIN}{}", picture_path(*seed)),
            assessment: Assessment {
                classification: Classification::Baseline,
                assessor: Some(Assessor::Analyst(ANALYST.into())),
                assessed_at: Some(now),
            },
        });
    }
    let media = items
        .iter()
        .map(MediaItem::commitment)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| DemoError::Unexpected(format!("committing a demo item: {e}")))?;
    let report_key = random()?;
    let report = Report {
        report_key,
        revision: 1,
        reported_url: format!("https://{IWOL_DOMAIN}{path}"),
        intake: IntakeChannel::Hotline,
        received_at: now,
        redirects: Vec::new(),
        hosting: Hosting {
            ip: None,
            country: Country::new("NL").ok(),
        },
        page: None,
        media,
    };
    let id = hotline
        .submit_report(report, items)
        .await
        .map_err(app_error(hotline.app(), "storing an evidence report"))?;
    Ok((report_key, id))
}

fn random<const N: usize>() -> Result<[u8; N], DemoError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| DemoError::Pki(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// What content of a report a receiver's agreement grants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// Every item's (forwarding).
    All,
    /// The baseline and nationally illegal items' (ICSE).
    Illegal,
    /// None: hashes only (national access).
    HashesOnly,
}

/// Waits until each receiver holds the latest revision of `origin`'s report `key` and the
/// content its agreement grants (content follows the records that grant it).
async fn wait_report(
    origin: &RunningNode,
    key: &[u8; 16],
    receivers: &[(&RunningNode, Content)],
) -> Result<(), DemoError> {
    let agency = origin.app().me().clone();
    let head = origin
        .store()
        .report_head(&agency, key)
        .map_err(|e| app_error(origin.app(), "reading a report")(AppError::Store(e)))?
        .ok_or_else(|| DemoError::Unexpected("a demo report has no head".into()))?;
    for (receiver, content) in receivers {
        let what = format!(
            "revision {} of {agency}'s report {} and its content",
            head.0,
            hex::encode(key)
        );
        let blobs = receiver.blobs();
        wait_for(receiver, &what, |app| {
            let held = app
                .received_reports(Some(&agency), crate::store::MAX_PAGE)
                .map_err(app_error(app, "reading received reports"))?
                .into_iter()
                .find(|held| &held.report.report_key == key);
            let Some(held) = held.filter(|h| h.report.revision >= head.0) else {
                return Ok(false);
            };
            Ok(held.items.iter().all(|item| {
                let granted = match content {
                    Content::All => true,
                    Content::Illegal => item.classification().is_illegal(),
                    Content::HashesOnly => false,
                };
                !granted || blobs.contains(&item.sha256)
            }))
        })
        .await?;
    }
    Ok(())
}

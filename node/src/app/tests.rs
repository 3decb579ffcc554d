//! Scoped sync between four agencies, exercised through the domain layer with real stores:
//! pages go from `serve_pull` to `ingest_page` directly (the network is tested separately), so
//! every authorization decision on both sides is the real one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use safeport_protocol::agreement::{AgreementTerms, templates};
use safeport_protocol::report::{MediaItem, Report};
use safeport_protocol::{Classification, Country, NodeKey, Role, Timestamp};

use super::agreements::AgreementState;
use super::test_support::{Agency, admit, agency, agree, item, now, pull, report, test_root};

struct World {
    nl: Agency,
    de: Agency,
    interpol: Agency,
    police: Agency,
}

fn world() -> World {
    let (root_key, root_pem) = test_root(200);
    let w = World {
        nl: agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 1),
        de: agency(&root_key, &root_pem, "de-hotline", Role::Hotline, "DE", 2),
        interpol: agency(&root_key, &root_pem, "interpol", Role::Interpol, "FR", 3),
        police: agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 4),
    };
    for other in [&w.de, &w.interpol, &w.police] {
        admit(&w.nl, other);
    }
    agree(
        &w.nl,
        &w.de,
        templates::forwarding(Country::new("DE").unwrap()).scope,
        1,
    );
    agree(&w.nl, &w.interpol, templates::icse_contribution().scope, 2);
    agree(
        &w.nl,
        &w.police,
        templates::national_access(Country::new("NL").unwrap(), vec![Classification::Baseline])
            .scope,
        3,
    );
    w
}

fn submit(from: &Agency, key: u8, country: &str, items: &[MediaItem]) {
    from.app
        .submit_report(report(key, country, items), items)
        .unwrap();
}

/// Report keys and the media sha256 first bytes each agency holds.
fn holdings(agency: &Agency) -> Vec<(u8, Vec<u8>)> {
    let store = agency.app.store();
    let ids = store
        .records_of_type(safeport_protocol::RecordType::Report, None, 1000)
        .unwrap();
    let mut out: Vec<(u8, Vec<u8>)> = ids
        .iter()
        .map(|id| {
            let raw = store.record(id).unwrap().unwrap();
            let report = raw.into_typed::<Report>().unwrap();
            let mut items: Vec<u8> = agency
                .app
                .report_items(id, report.body())
                .unwrap()
                .iter()
                .map(|i| i.sha256[0])
                .collect();
            items.sort();
            (report.body().report_key[0], items)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn each_agency_receives_exactly_what_its_agreement_allows() {
    let w = world();
    let de_items = [
        item(10, Classification::Baseline),
        item(11, Classification::NationallyIllegal),
        item(12, Classification::NotIllegal),
    ];
    submit(&w.nl, 1, "DE", &de_items);
    let nl_items = [
        item(20, Classification::Baseline),
        item(21, Classification::NationallyIllegal),
    ];
    submit(&w.nl, 2, "NL", &nl_items);
    submit(&w.nl, 3, "FR", &[item(30, Classification::NotIllegal)]);
    // The sentinel, sent last: once every agency has it, nothing else is in flight.
    submit(&w.nl, 9, "NL", &[item(90, Classification::Baseline)]);
    for recipient in [&w.de, &w.interpol, &w.police] {
        let got = pull(&w.nl, recipient);
        assert_eq!(got.rejected, 0);
    }
    // DE: the DE-hosted report with its illegal items and the not-illegal one as context.
    assert_eq!(holdings(&w.de), vec![(1, vec![10, 11, 12])]);
    // INTERPOL: illegal items of every report, never the not-illegal ones.
    assert_eq!(
        holdings(&w.interpol),
        vec![(1, vec![10, 11]), (2, vec![20, 21]), (9, vec![90])]
    );
    // NL police: NL-hosted reports, baseline items only.
    assert_eq!(holdings(&w.police), vec![(2, vec![20]), (9, vec![90])]);
    // The hotline's own rejection log is empty; nothing was refused.
    assert!(w.police.app.store().rejections(10).unwrap().is_empty());
}

#[test]
fn replayed_pages_change_nothing() {
    let w = world();
    submit(&w.nl, 1, "NL", &[item(1, Classification::Baseline)]);
    let page = w.nl.app.serve_pull(w.police.app.me(), 0, 100).unwrap();
    let first = w.police.app.ingest_page(w.nl.app.me(), &page).unwrap();
    assert_eq!(first.stored, 1);
    let count = w.police.app.store().record_count().unwrap();
    let again = w.police.app.ingest_page(w.nl.app.me(), &page).unwrap();
    assert_eq!((again.stored, again.rejected), (0, 0));
    assert_eq!(again.duplicates, page.items.len());
    assert_eq!(w.police.app.store().record_count().unwrap(), count);
}

#[test]
fn a_revoked_agreement_stops_the_flow_at_once() {
    let w = world();
    submit(&w.nl, 1, "NL", &[item(1, Classification::Baseline)]);
    w.nl.app
        .revoke_agreement(&[3; 16], "case closed".into())
        .unwrap();
    // Already queued, but not served: the holder re-authorizes at serve time.
    let page = w.nl.app.serve_pull(w.police.app.me(), 0, 100).unwrap();
    let reports: Vec<_> = page
        .items
        .iter()
        .filter(|i| {
            safeport_protocol::RawRecord::decode(&i.record)
                .unwrap()
                .header()
                .record_type
                == safeport_protocol::RecordType::Report
        })
        .collect();
    assert!(reports.is_empty(), "a report was served after revocation");
    // The revocation itself reaches the police, whose side then refuses such reports too.
    pull(&w.nl, &w.police);
    assert!(matches!(
        w.police.app.agreements().get(&[3; 16]).unwrap().state,
        AgreementState::Revoked { .. }
    ));
}

#[test]
fn records_outside_the_receivers_agreements_are_refused_and_logged() {
    let w = world();
    // DE pulls NL's page meant for INTERPOL (as if NL sent the wrong outbox): DE's own
    // agreement with NL does not cover NL-hosted reports, so DE refuses them.
    submit(&w.nl, 2, "NL", &[item(20, Classification::Baseline)]);
    let page = w.nl.app.serve_pull(w.interpol.app.me(), 0, 100).unwrap();
    let reports_in_page = page.items.len();
    let outcome = w.de.app.ingest_page(w.nl.app.me(), &page).unwrap();
    assert!(outcome.rejected >= 1, "{outcome:?} of {reports_in_page}");
    let rejections = w.de.app.store().rejections(10).unwrap();
    assert!(
        rejections
            .iter()
            .any(|r| r.reason.contains("no active agreement")),
        "{rejections:?}"
    );
    assert!(holdings(&w.de).is_empty());
}

#[test]
fn a_new_agreement_backfills_existing_reports() {
    let w = world();
    submit(&w.nl, 5, "BE", &[item(50, Classification::Baseline)]);
    // No BE agreement yet: DE holds nothing; INTERPOL gets it via ICSE.
    pull(&w.nl, &w.de);
    assert!(holdings(&w.de).is_empty());
    agree(
        &w.nl,
        &w.de,
        templates::forwarding(Country::new("BE").unwrap()).scope,
        7,
    );
    pull(&w.nl, &w.de);
    assert_eq!(holdings(&w.de), vec![(5, vec![50])]);
}

#[test]
fn forged_agreements_never_become_active_and_each_refusal_is_logged() {
    use safeport_protocol::agreement::Agreement;
    use safeport_protocol::sync::{SyncItem, SyncPage};
    use safeport_protocol::{Signature, Signed};

    let w = world();
    let hotline_key = NodeKey::from_seed([1; 32]);
    let police_key = NodeKey::from_seed([4; 32]);
    let terms = |id: u8| AgreementTerms {
        agreement_id: [id; 16],
        provider: w.nl.app.me().clone(),
        recipient: w.police.app.me().clone(),
        scope: templates::national_access(
            Country::new("NL").unwrap(),
            vec![Classification::Baseline],
        )
        .scope,
        valid_from: Timestamp::from_secs(1_790_000_000),
        valid_until: Timestamp::from_secs(1_900_000_000),
    };
    let both = |terms: AgreementTerms, provider: &NodeKey, recipient: &NodeKey| Agreement {
        provider_signature: Some(terms.sign(provider).unwrap()),
        recipient_signature: Some(terms.sign(recipient).unwrap()),
        terms,
    };
    // 1. One signature only: a proposal, which waits and never becomes active by itself.
    let one_sided = Agreement {
        recipient_signature: Some(terms(41).sign(&police_key).unwrap()),
        provider_signature: None,
        terms: terms(41),
    };
    // 2. Wrong roles: the police as provider of reports.
    let mut reversed = terms(42);
    std::mem::swap(&mut reversed.provider, &mut reversed.recipient);
    let wrong_roles = both(reversed, &police_key, &hotline_key);
    // 3. Expired.
    let mut old = terms(43);
    old.valid_from = Timestamp::from_secs(1_700_000_000);
    old.valid_until = Timestamp::from_secs(1_750_000_000);
    let expired = both(old, &hotline_key, &police_key);
    // 4. Scope altered after both signed.
    let mut altered = both(terms(44), &hotline_key, &police_key);
    altered
        .terms
        .scope
        .classifications
        .push(Classification::NationallyIllegal);
    // 5. The hotline's signature lifted from one of its report records.
    let (report_id, _) = w.nl.app.submit_report(report(7, "NL", &[]), &[]).unwrap();
    let report_bytes =
        w.nl.app
            .store()
            .record(&report_id)
            .unwrap()
            .unwrap()
            .bytes()
            .to_vec();
    let lifted_signature = Signature(report_bytes[report_bytes.len() - 64..].try_into().unwrap());
    let mut lifted = both(terms(45), &hotline_key, &police_key);
    lifted.provider_signature = Some(lifted_signature);

    let forged = [one_sided, wrong_roles, expired, altered, lifted];
    let first_sequence = w.police.app.store().next_sequence("nl-police").unwrap();
    let items: Vec<SyncItem> = forged
        .iter()
        .enumerate()
        .map(|(i, agreement)| SyncItem {
            position: 1000 + i as u64,
            record: Signed::sign(
                &police_key,
                w.police.app.me().clone(),
                first_sequence + i as u64,
                now(),
                agreement.clone(),
            )
            .unwrap()
            .bytes()
            .to_vec(),
            media: vec![],
        })
        .collect();
    let page = SyncPage {
        items,
        certificates: vec![w.police.app.identity().certificate_pem.clone()],
        next_cursor: 1004,
        more: false,
    };
    let outcome = w.nl.app.ingest_page(w.police.app.me(), &page).unwrap();
    assert_eq!((outcome.stored, outcome.rejected), (1, 4), "{outcome:?}");
    let reasons: Vec<String> =
        w.nl.app
            .store()
            .rejections(10)
            .unwrap()
            .into_iter()
            .map(|r| r.reason)
            .collect();
    for expected in [
        "may not provide",
        "validity has already ended",
        "does not verify",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "{expected:?} not in {reasons:?}"
        );
    }
    // Altered scope and lifted signature: both fail signature verification.
    assert_eq!(
        reasons
            .iter()
            .filter(|r| r.contains("does not verify"))
            .count(),
        2
    );
    let book = w.nl.app.agreements();
    for id in 41..=45u8 {
        let state = book.get(&[id; 16]).map(|entry| entry.state.clone());
        assert_ne!(
            state,
            Some(AgreementState::Active),
            "forged agreement {id} became active"
        );
    }
    assert_eq!(
        book.get(&[41; 16]).unwrap().state,
        AgreementState::Pending {
            awaiting: w.nl.app.me().clone()
        }
    );
}

#[test]
fn a_withdrawal_removes_the_record_wherever_it_went_and_refuses_late_copies() {
    let w = world();
    let items = [item(60, Classification::Baseline)];
    let (id, _) =
        w.nl.app
            .submit_report(report(6, "NL", &items), &items)
            .unwrap();
    // Police (NL-hosted, baseline) and INTERPOL receive it; DE does not.
    let old_page =
        w.nl.app
            .serve_pull(
                w.police.app.me(),
                w.police.app.store().cursor(w.nl.app.me()).unwrap(),
                100,
            )
            .unwrap();
    pull(&w.nl, &w.police);
    pull(&w.nl, &w.interpol);
    pull(&w.nl, &w.de);
    assert_eq!(holdings(&w.police), vec![(6, vec![60])]);
    let de_head = w.nl.app.store().outbox_head(w.de.app.me()).unwrap();

    w.nl.app.withdraw(&id, "reported in error".into()).unwrap();
    assert!(w.nl.app.store().record(&id).unwrap().is_none());
    assert!(
        w.nl.app
            .store()
            .media_item(&id, &items[0].commitment().unwrap())
            .unwrap()
            .is_none()
    );
    for holder in [&w.police, &w.interpol] {
        pull(&w.nl, holder);
        assert!(holdings(holder).is_empty());
        assert!(holder.app.store().tombstone(&id).unwrap().is_some());
    }
    // The withdrawal goes only where the record went.
    assert_eq!(
        w.nl.app.store().outbox_head(w.de.app.me()).unwrap(),
        de_head
    );

    // A late copy of the withdrawn record (a replayed page) is refused and logged.
    let replay = w.police.app.ingest_page(w.nl.app.me(), &old_page).unwrap();
    assert_eq!(replay.stored, 0);
    assert!(replay.rejected >= 1);
    assert!(holdings(&w.police).is_empty());
    let reasons: Vec<String> = w
        .police
        .app
        .store()
        .rejections(10)
        .unwrap()
        .into_iter()
        .map(|r| r.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("withdrawn")),
        "{reasons:?}"
    );

    // Only the originator may withdraw.
    assert!(w.police.app.withdraw(&id, "not mine".into()).is_err());
}

#[test]
fn an_acceptance_and_the_records_it_allows_can_arrive_in_one_page() {
    let w = world();
    let items = [item(70, Classification::NationallyIllegal)];
    submit(&w.nl, 7, "NL", &items);
    // The police asks for nationally illegal items too; the hotline accepts.
    let terms = AgreementTerms {
        agreement_id: [50; 16],
        provider: w.nl.app.me().clone(),
        recipient: w.police.app.me().clone(),
        scope: templates::national_access(
            Country::new("NL").unwrap(),
            vec![Classification::NationallyIllegal],
        )
        .scope,
        valid_from: Timestamp::from_secs(1_790_000_000),
        valid_until: Timestamp::from_secs(1_900_000_000),
    };
    w.police.app.propose_agreement(terms).unwrap();
    pull(&w.police, &w.nl);
    w.nl.app.accept_agreement(&[50; 16]).unwrap();
    // One page now holds the acceptance and the back-filled report, in that order.
    let cursor = w.police.app.store().cursor(w.nl.app.me()).unwrap();
    let page = w.nl.app.serve_pull(w.police.app.me(), cursor, 100).unwrap();
    assert_eq!(page.items.len(), 2);
    let outcome = w.police.app.ingest_page(w.nl.app.me(), &page).unwrap();
    assert_eq!((outcome.stored, outcome.rejected), (2, 0), "{outcome:?}");
    assert_eq!(holdings(&w.police), vec![(7, vec![70])]);
}

#[test]
fn records_skipped_under_a_revoked_agreement_flow_again_under_a_new_one() {
    let w = world();
    submit(&w.nl, 4, "NL", &[item(40, Classification::Baseline)]);
    w.nl.app
        .revoke_agreement(&[3; 16], "paused".into())
        .unwrap();
    // The police pulls while no agreement covers the report: it is skipped, the cursor moves on.
    pull(&w.nl, &w.police);
    assert!(holdings(&w.police).is_empty());
    agree(
        &w.nl,
        &w.police,
        templates::national_access(Country::new("NL").unwrap(), vec![Classification::Baseline])
            .scope,
        9,
    );
    pull(&w.nl, &w.police);
    assert_eq!(holdings(&w.police), vec![(4, vec![40])]);
}

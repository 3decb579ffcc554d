//! The certificates a node keeps across key rotations, through the real stores: a page from a
//! hotline that rotated its key is judged record by record under the certificate valid when
//! each record was made (a retired certificate only before its retirement, a key never
//! certified not at all), and an agency's certificates are kept canonical, bounded, with the
//! newest valid one current.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use safeport_protocol::agreement::templates;
use safeport_protocol::pki::{
    self, AgencySubject, Crl, Revocation, RevocationReason, TrustAnchor, Validity,
};
use safeport_protocol::report::MediaItem;
use safeport_protocol::sync::{SyncItem, SyncPage};
use safeport_protocol::{AgencyId, Classification, Country, NodeKey, Role, Signed, Timestamp};

use super::test_support::{Agency, admit, agency, agree, item, report, test_root};

const ROOT_SEED: u8 = 210;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

/// A certificate of nl-hotline for `key`, valid for `days` from `start`.
fn hotline_certificate(key: &NodeKey, start: Timestamp, days: u32, serial: u8) -> String {
    let (root_key, root_pem) = test_root(ROOT_SEED);
    pki::issue_agency_certificate(
        &root_key,
        &root_pem,
        &AgencySubject {
            agency: AgencyId::new("nl-hotline").unwrap(),
            role: Role::Hotline,
            country: Country::new("NL").unwrap(),
            organisation: "Test nl-hotline".into(),
        },
        &key.public(),
        Validity::days_from(start, days),
        [serial; 16],
    )
    .unwrap()
}

fn item_of(key: &NodeKey, n: u8, made: Timestamp) -> SyncItem {
    let items: Vec<MediaItem> = vec![item(n, Classification::Baseline)];
    SyncItem {
        position: u64::from(n),
        record: Signed::sign(
            key,
            AgencyId::new("nl-hotline").unwrap(),
            u64::from(n),
            made,
            report(n, "NL", &items),
        )
        .unwrap()
        .bytes()
        .to_vec(),
        media: items,
    }
}

fn hotline_and_police() -> (Agency, Agency) {
    let (root_key, root_pem) = test_root(ROOT_SEED);
    let hotline = agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 1);
    let police = agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 4);
    admit(&hotline, &police);
    agree(
        &hotline,
        &police,
        templates::national_access(Country::new("NL").unwrap(), vec![Classification::Baseline])
            .scope,
        1,
    );
    (hotline, police)
}

#[test]
fn each_record_counts_under_the_certificate_valid_when_it_was_made() {
    let (hotline, police) = hotline_and_police();
    let first_key = NodeKey::from_seed([1; 32]);
    let next_key = NodeKey::from_seed([9; 32]);
    // The hotline's first certificate (the harness's, from 1_790_000_000) and the rotated
    // key's, from 1_799_000_000; `now()` is 1_800_000_000.
    let first_pem = hotline.app.identity().certificate_pem.clone();
    let next_pem = hotline_certificate(&next_key, at(1_799_000_000), 365, 91);
    // The authority retired the first certificate at 1_799_500_000.
    let (root_key, root_pem) = test_root(ROOT_SEED);
    let crl_pem = pki::create_crl(
        &root_key,
        &root_pem,
        &[Revocation {
            serial: pki::certificate_facts(&first_pem).unwrap().serial,
            revoked_at: at(1_799_500_000),
            reason: RevocationReason::Superseded,
        }],
        1,
        at(1_799_500_000),
        at(1_801_000_000),
    )
    .unwrap();
    let anchor = TrustAnchor::from_pem(&root_pem).unwrap();
    police
        .app
        .update_crl(Crl::from_pem(&crl_pem, &[anchor]).unwrap())
        .unwrap();

    let page = SyncPage {
        items: vec![
            // Under the first key, before its retirement: counts.
            item_of(&first_key, 11, at(1_799_400_000)),
            // Under the next key, after its certificate began: counts.
            item_of(&next_key, 12, at(1_799_600_000)),
            // Under the first key, after its retirement: refused.
            item_of(&first_key, 13, at(1_799_600_000)),
            // Under the next key, before its certificate began: refused.
            item_of(&next_key, 14, at(1_798_000_000)),
            // Under a key never certified: refused.
            item_of(&NodeKey::from_seed([77; 32]), 15, at(1_799_600_000)),
        ],
        // Padded certificate text is the same certificate.
        certificates: vec![first_pem.clone(), format!("{next_pem}\n\n\n")],
        next_cursor: 15,
        more: false,
    };
    let outcome = police.app.ingest_page(hotline.app.me(), &page).unwrap();
    assert_eq!((outcome.stored, outcome.rejected), (2, 3), "{outcome:?}");
    let reasons: Vec<String> = police
        .app
        .store()
        .rejections(10)
        .unwrap()
        .into_iter()
        .map(|r| r.reason)
        .collect();
    assert_eq!(reasons.len(), 3);
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("valid when the record was made")),
        "{reasons:?}"
    );
    // Both certificates are kept, canonical; the new one is current.
    let nl = AgencyId::new("nl-hotline").unwrap();
    let held = police.app.store().agency_certificates(&nl).unwrap();
    assert_eq!(held.len(), 2);
    assert!(held.contains(&pki::canonical_pem(&next_pem).unwrap()));
    assert_eq!(
        police.app.store().certificate(&nl).unwrap(),
        Some(pki::canonical_pem(&next_pem).unwrap())
    );
    // The agreement the hotline signed with its first key is still active at the police.
    assert_eq!(
        police.app.agreements().get(&[1; 16]).unwrap().state,
        super::agreements::AgreementState::Active
    );
}

#[test]
fn an_agencys_certificates_stay_bounded_with_the_newest_valid_one_current() {
    let (hotline, police) = hotline_and_police();
    let nl = AgencyId::new("nl-hotline").unwrap();
    let limit = pki::MAX_AGENCY_CERTIFICATES;
    // Rotations, one certificate each, all valid now.
    let rotations: Vec<String> = (0..limit)
        .map(|i| {
            let key = NodeKey::from_seed([100 + i as u8; 32]);
            hotline_certificate(
                &key,
                at(1_795_000_000 + i as u64 * 1000),
                3650,
                100 + i as u8,
            )
        })
        .collect();
    let keep = |pem: &str| {
        let signer = police.app.verify_signer(pem).unwrap();
        let mut batch = police.app.store.batch();
        police
            .app
            .keep_certificates(&mut batch, &[(signer, pem.to_owned())])
            .unwrap();
        batch.commit().unwrap();
    };
    for pem in &rotations {
        keep(pem);
    }
    let held = police.app.store().agency_certificates(&nl).unwrap();
    assert_eq!(held.len(), limit);
    // The harness's first certificate (the oldest) made room for the newest.
    assert!(!held.contains(&pki::canonical_pem(&hotline.app.identity().certificate_pem).unwrap()));
    let newest = pki::canonical_pem(rotations.last().unwrap()).unwrap();
    assert_eq!(
        police.app.store().certificate(&nl).unwrap(),
        Some(newest.clone())
    );
    // One issued ahead of time (valid only from tomorrow) is kept but not current yet.
    let ahead = hotline_certificate(&NodeKey::from_seed([250; 32]), at(1_800_086_400), 365, 250);
    keep(&ahead);
    assert!(
        police
            .app
            .store()
            .agency_certificates(&nl)
            .unwrap()
            .contains(&pki::canonical_pem(&ahead).unwrap())
    );
    assert_eq!(police.app.store().certificate(&nl).unwrap(), Some(newest));
    // An older certificate than all held does not push a newer one out.
    let older = hotline_certificate(&NodeKey::from_seed([251; 32]), at(1_791_000_000), 3650, 251);
    keep(&older);
    let held = police.app.store().agency_certificates(&nl).unwrap();
    assert_eq!(held.len(), limit);
    assert!(!held.contains(&pki::canonical_pem(&older).unwrap()));
}

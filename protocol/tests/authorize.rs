//! `authorize()` and agreement verification: default deny, scope by country, classification,
//! media access and context, and agreements that are forged in each of the ways a peer might.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::*;
use safeport_protocol::agreement::{AgreementError, MediaAccess, VerifiedAgreement};
use safeport_protocol::report::{CommittedItem, MediaItem, Report};
use safeport_protocol::{
    AgencyId, Classification, Decision, DenyReason, Request, Role, Subject, Timestamp, authorize,
};

const NOW: u64 = 1_800_000_000;

struct World {
    hotline: AgencyId,
    police: AgencyId,
    agreement: VerifiedAgreement,
}

fn world(configure: impl FnOnce(&mut safeport_protocol::agreement::Scope)) -> World {
    let mut scope = scope(&[Classification::Baseline], Some(&["NL"]));
    configure(&mut scope);
    let agreement = signed_agreement(terms("nl-hotline", "nl-police", scope), &key(1), &key(2))
        .verify(
            &party("nl-hotline", Role::Hotline, &key(1)),
            &party("nl-police", Role::Lea, &key(2)),
        )
        .unwrap();
    World {
        hotline: agency("nl-hotline"),
        police: agency("nl-police"),
        agreement,
    }
}

fn request<'a>(w: &'a World, now: u64) -> Request<'a> {
    Request {
        holder: &w.hotline,
        recipient: &w.police,
        now: Timestamp::from_secs(now),
    }
}

fn report_decision(w: &World, report: &Report, items: &[MediaItem]) -> Decision {
    authorize(
        std::slice::from_ref(&w.agreement),
        request(w, NOW),
        Subject::Report { report, items },
    )
}

fn item_decision(
    w: &World,
    report: &Report,
    items: &[MediaItem],
    item: &MediaItem,
    content: bool,
) -> Decision {
    let item = &CommittedItem::new(item.clone()).unwrap();
    let subject = if content {
        Subject::MediaContent {
            report,
            items,
            item,
        }
    } else {
        Subject::MediaItem {
            report,
            items,
            item,
        }
    };
    authorize(std::slice::from_ref(&w.agreement), request(w, NOW), subject)
}

#[test]
fn default_deny_without_agreements() {
    let w = world(|_| {});
    let items = [item(1, Classification::Baseline)];
    let report = report(Some("NL"), &items);
    let decision = authorize(
        &[],
        request(&w, NOW),
        Subject::Report {
            report: &report,
            items: &items,
        },
    );
    assert_eq!(decision, Decision::Deny(DenyReason::NoAgreement));
    // An agreement in the other direction grants nothing.
    let reverse = Request {
        holder: &w.police,
        recipient: &w.hotline,
        now: Timestamp::from_secs(NOW),
    };
    let decision = authorize(
        std::slice::from_ref(&w.agreement),
        reverse,
        Subject::Report {
            report: &report,
            items: &items,
        },
    );
    assert_eq!(decision, Decision::Deny(DenyReason::NoAgreement));
}

#[test]
fn reports_are_scoped_by_country_classification_and_time() {
    let w = world(|_| {});
    let baseline = [item(1, Classification::Baseline)];
    let not_illegal = [item(2, Classification::NotIllegal)];
    assert!(report_decision(&w, &report(Some("NL"), &baseline), &baseline).is_allowed());
    assert_eq!(
        report_decision(&w, &report(Some("DE"), &baseline), &baseline),
        Decision::Deny(DenyReason::CountryNotCovered)
    );
    assert_eq!(
        report_decision(&w, &report(None, &baseline), &baseline),
        Decision::Deny(DenyReason::CountryNotCovered)
    );
    assert_eq!(
        report_decision(&w, &report(Some("NL"), &not_illegal), &not_illegal),
        Decision::Deny(DenyReason::ClassificationNotCovered)
    );
    let report = report(Some("NL"), &baseline);
    let expired = authorize(
        std::slice::from_ref(&w.agreement),
        request(&w, 1_950_000_000),
        Subject::Report {
            report: &report,
            items: &baseline,
        },
    );
    assert_eq!(expired, Decision::Deny(DenyReason::NotValidNow));
}

#[test]
fn items_need_scope_media_access_and_membership() {
    let w = world(|_| {});
    let items = [
        item(1, Classification::Baseline),
        item(2, Classification::NotIllegal),
    ];
    let report = report(Some("NL"), &items);
    assert!(item_decision(&w, &report, &items, &items[0], false).is_allowed());
    assert_eq!(
        item_decision(&w, &report, &items, &items[0], true),
        Decision::Deny(DenyReason::MediaNotGranted)
    );
    assert_eq!(
        item_decision(&w, &report, &items, &items[1], false),
        Decision::Deny(DenyReason::ClassificationNotCovered)
    );
    let stranger = item(9, Classification::Baseline);
    assert_eq!(
        item_decision(&w, &report, &items, &stranger, false),
        Decision::Deny(DenyReason::NotInReport)
    );
}

#[test]
fn context_items_travel_only_with_a_covered_report() {
    let w = world(|scope| {
        scope.include_context = true;
        scope.media = MediaAccess::Content;
    });
    let items = [
        item(1, Classification::Baseline),
        item(2, Classification::NotIllegal),
    ];
    let report_with_baseline = report(Some("NL"), &items);
    assert!(item_decision(&w, &report_with_baseline, &items, &items[1], true).is_allowed());

    let only_context = [item(2, Classification::NotIllegal)];
    let report_without = report(Some("NL"), &only_context);
    assert_eq!(
        item_decision(&w, &report_without, &only_context, &only_context[0], false),
        Decision::Deny(DenyReason::ClassificationNotCovered)
    );
    // Nationally illegal items are never "context".
    let national = [
        item(1, Classification::Baseline),
        item(3, Classification::NationallyIllegal),
    ];
    let report = report(Some("NL"), &national);
    assert_eq!(
        item_decision(&w, &report, &national, &national[1], false),
        Decision::Deny(DenyReason::ClassificationNotCovered)
    );
}

#[test]
fn agreements_go_only_to_their_parties() {
    let w = world(|_| {});
    let interpol = agency("interpol");
    let subject = Subject::Agreement {
        provider: &w.hotline,
        recipient: &w.police,
    };
    assert!(authorize(&[], request(&w, NOW), subject).is_allowed());
    let to_outsider = Request {
        holder: &w.hotline,
        recipient: &interpol,
        now: Timestamp::from_secs(NOW),
    };
    assert_eq!(
        authorize(&[], to_outsider, subject),
        Decision::Deny(DenyReason::NotAParty)
    );
}

#[test]
fn forged_agreements_never_verify() {
    let hotline = party("nl-hotline", Role::Hotline, &key(1));
    let police = party("nl-police", Role::Lea, &key(2));
    let good = signed_agreement(
        terms(
            "nl-hotline",
            "nl-police",
            scope(&[Classification::Baseline], None),
        ),
        &key(1),
        &key(2),
    );
    assert!(good.verify(&hotline, &police).is_ok());

    // One signature only.
    let mut one_sided = good.clone();
    one_sided.recipient_signature = None;
    assert_eq!(
        one_sided.verify(&hotline, &police),
        Err(AgreementError::Unsigned("recipient"))
    );

    // Both "signatures" by the provider (self-issued).
    let mut self_issued = good.clone();
    self_issued.recipient_signature = Some(good.terms.sign(&key(1)).unwrap());
    assert_eq!(
        self_issued.verify(&hotline, &police),
        Err(AgreementError::BadSignature("recipient"))
    );

    // Scope altered after signing.
    let mut altered = good.clone();
    altered
        .terms
        .scope
        .classifications
        .push(Classification::NotIllegal);
    assert_eq!(
        altered.verify(&hotline, &police),
        Err(AgreementError::BadSignature("provider"))
    );

    // Wrong roles: police cannot provide reports to a hotline.
    let reversed = signed_agreement(
        terms(
            "nl-police",
            "nl-hotline",
            scope(&[Classification::Baseline], None),
        ),
        &key(2),
        &key(1),
    );
    assert!(matches!(
        reversed.verify(&police, &hotline),
        Err(AgreementError::RoleNotAllowed { .. })
    ));

    // A certificate of another agency presented for a party.
    let stranger = party("de-hotline", Role::Hotline, &key(1));
    assert!(matches!(
        good.verify(&stranger, &police),
        Err(AgreementError::PartyMismatch { .. })
    ));

    // A signature lifted from a record (another domain) over the same bytes never verifies.
    let record = safeport_protocol::Signed::sign(
        &key(1),
        agency("nl-hotline"),
        1,
        Timestamp(0),
        report(Some("NL"), &[]),
    )
    .unwrap();
    let lifted = record.bytes()[record.bytes().len() - 64..]
        .try_into()
        .unwrap();
    let mut transplanted = good.clone();
    transplanted.provider_signature = Some(safeport_protocol::Signature(lifted));
    assert_eq!(
        transplanted.verify(&hotline, &police),
        Err(AgreementError::BadSignature("provider"))
    );

    // Expired: verifies, but authorizes nothing outside its window.
    let mut old_terms = terms(
        "nl-hotline",
        "nl-police",
        scope(&[Classification::Baseline], None),
    );
    old_terms.valid_until = Timestamp::from_secs(1_750_000_000);
    let expired = signed_agreement(old_terms, &key(1), &key(2))
        .verify(&hotline, &police)
        .unwrap();
    let items = [item(1, Classification::Baseline)];
    let report = report(Some("NL"), &items);
    let decision = authorize(
        &[expired],
        Request {
            holder: &hotline.agency,
            recipient: &police.agency,
            now: Timestamp::from_secs(NOW),
        },
        Subject::Report {
            report: &report,
            items: &items,
        },
    );
    assert_eq!(decision, Decision::Deny(DenyReason::NotValidNow));
}

#[test]
fn subscriptions_cover_exactly_their_lists() {
    use safeport_protocol::agreement::templates;
    let interpol = party("interpol", Role::Interpol, &key(3));
    let hotline = party("nl-hotline", Role::Hotline, &key(1));
    let police = party("nl-police", Role::Lea, &key(2));
    let verified = |template: templates::Template,
                    recipient: &safeport_protocol::agreement::Party| {
        signed_agreement(
            terms("interpol", recipient.agency.as_str(), template.scope),
            &key(3),
            &key(if recipient.role == Role::Lea { 2 } else { 1 }),
        )
        .verify(&interpol, recipient)
        .unwrap()
    };
    let baseline_only = verified(templates::hash_list_subscription(Vec::new()), &hotline);
    let with_nl = verified(
        templates::hash_list_subscription(vec![country("NL"), country("NL")]),
        &police,
    );
    let iwol = verified(templates::iwol_subscription(), &hotline);
    fn from_interpol<'a>(interpol: &'a AgencyId, recipient: &'a AgencyId) -> Request<'a> {
        Request {
            holder: interpol,
            recipient,
            now: Timestamp::from_secs(NOW),
        }
    }
    let at = |recipient: &'static str| match recipient {
        "nl-hotline" => from_interpol(&interpol.agency, &hotline.agency),
        _ => from_interpol(&interpol.agency, &police.agency),
    };
    let baseline = Subject::HashList {
        national_list: None,
    };
    let national = |c: &str| Subject::HashList {
        national_list: Some(country(c)),
    };
    let hotline_has = std::slice::from_ref(&baseline_only);
    assert!(authorize(hotline_has, at("nl-hotline"), baseline).is_allowed());
    assert_eq!(
        authorize(hotline_has, at("nl-hotline"), national("NL")),
        Decision::Deny(DenyReason::ClassificationNotCovered)
    );
    assert_eq!(
        authorize(hotline_has, at("nl-hotline"), Subject::Iwol),
        Decision::Deny(DenyReason::RecordTypeNotCovered)
    );
    let police_has = std::slice::from_ref(&with_nl);
    assert!(authorize(police_has, at("nl-police"), baseline).is_allowed());
    assert!(authorize(police_has, at("nl-police"), national("NL")).is_allowed());
    assert_eq!(
        authorize(police_has, at("nl-police"), national("DE")),
        Decision::Deny(DenyReason::CountryNotCovered)
    );
    // A subscription of one agency gives nothing to another.
    assert_eq!(
        authorize(police_has, at("nl-hotline"), baseline),
        Decision::Deny(DenyReason::NoAgreement)
    );
    assert!(authorize(std::slice::from_ref(&iwol), at("nl-hotline"), Subject::Iwol).is_allowed());

    // A hotline may offer its national list to its police (which list it may publish is
    // checked per list), but only INTERPOL offers the IWOL.
    let from_hotline = signed_agreement(
        terms(
            "nl-hotline",
            "nl-police",
            templates::hash_list_subscription(vec![country("NL")]).scope,
        ),
        &key(1),
        &key(2),
    );
    assert!(from_hotline.verify(&hotline, &police).is_ok());
    let iwol_from_hotline = signed_agreement(
        terms(
            "nl-hotline",
            "nl-police",
            templates::iwol_subscription().scope,
        ),
        &key(1),
        &key(2),
    );
    assert!(matches!(
        iwol_from_hotline.verify(&hotline, &police),
        Err(AgreementError::RoleNotAllowed { .. })
    ));
    let report_items = [item(1, Classification::Baseline)];
    let some_report = report(Some("NL"), &report_items);
    assert_eq!(
        authorize(
            police_has,
            at("nl-police"),
            Subject::Report {
                report: &some_report,
                items: &report_items
            }
        ),
        Decision::Deny(DenyReason::RecordTypeNotCovered)
    );
}

#[test]
fn report_status_goes_back_only_to_the_originator_under_its_agreement() {
    // The world's agreement: nl-hotline provides reports to nl-police.
    let w = world(|_| {});
    let back = |recipient: &AgencyId, now: u64| {
        authorize(
            std::slice::from_ref(&w.agreement),
            Request {
                holder: &w.police,
                recipient,
                now: Timestamp::from_secs(now),
            },
            Subject::ReportStatus {
                report_origin: &w.hotline,
            },
        )
    };
    assert!(back(&w.hotline, NOW).is_allowed());
    assert_eq!(
        back(&agency("interpol"), NOW),
        Decision::Deny(DenyReason::NotAParty)
    );
    assert_eq!(
        back(&w.hotline, 1_000),
        Decision::Deny(DenyReason::NotValidNow)
    );
    // No agreement the other way round: the hotline cannot send statuses to the police.
    let reverse = authorize(
        std::slice::from_ref(&w.agreement),
        Request {
            holder: &w.hotline,
            recipient: &w.police,
            now: Timestamp::from_secs(NOW),
        },
        Subject::ReportStatus {
            report_origin: &w.police,
        },
    );
    assert_eq!(reverse, Decision::Deny(DenyReason::NoAgreement));
}

#[test]
fn iwol_suggestions_go_to_interpol_and_on_to_subscribers_and_decisions_come_back() {
    use safeport_protocol::agreement::templates;
    let interpol = party("interpol", Role::Interpol, &key(3));
    let nl = party("nl-hotline", Role::Hotline, &key(1));
    let police = party("nl-police", Role::Lea, &key(2));
    let agree = |provider: &safeport_protocol::agreement::Party,
                 recipient: &safeport_protocol::agreement::Party,
                 template: templates::Template,
                 provider_key: u8,
                 recipient_key: u8| {
        signed_agreement(
            terms(
                provider.agency.as_str(),
                recipient.agency.as_str(),
                template.scope,
            ),
            &key(provider_key),
            &key(recipient_key),
        )
        .verify(provider, recipient)
    };
    let contribution = agree(&nl, &interpol, templates::iwol_contribution(), 1, 3).unwrap();
    let subscription = agree(&interpol, &nl, templates::iwol_subscription(), 3, 1).unwrap();
    // Police contribute too; but nobody offers suggestions to a hotline or police directly,
    // and only INTERPOL publishes decisions.
    assert!(agree(&police, &interpol, templates::iwol_contribution(), 2, 3).is_ok());
    assert!(matches!(
        agree(&nl, &police, templates::iwol_contribution(), 1, 2),
        Err(AgreementError::RoleNotAllowed { .. })
    ));
    let mut decisions_only = templates::iwol_subscription();
    decisions_only.scope.record_types = vec![safeport_protocol::RecordType::IwolDecision];
    assert!(matches!(
        agree(&nl, &interpol, decisions_only, 1, 3),
        Err(AgreementError::RoleNotAllowed { .. })
    ));

    let request = |holder: &'static str, recipient: &'static str| {
        let pick = |name: &str| match name {
            "interpol" => &interpol.agency,
            "nl-hotline" => &nl.agency,
            _ => &police.agency,
        };
        Request {
            holder: pick(holder),
            recipient: pick(recipient),
            now: Timestamp::from_secs(NOW),
        }
    };
    let both = [contribution.clone(), subscription.clone()];
    assert!(
        authorize(
            &both,
            request("nl-hotline", "interpol"),
            Subject::IwolSuggestion
        )
        .is_allowed()
    );
    assert!(
        authorize(
            &both,
            request("interpol", "nl-hotline"),
            Subject::IwolSuggestion
        )
        .is_allowed()
    );
    assert_eq!(
        authorize(
            &both,
            request("interpol", "nl-police"),
            Subject::IwolSuggestion
        ),
        Decision::Deny(DenyReason::NoAgreement)
    );
    let suggesters = [nl.agency.clone()];
    let decision = Subject::IwolDecision {
        suggesters: &suggesters,
    };
    assert!(authorize(&both, request("interpol", "nl-hotline"), decision).is_allowed());
    // A suggester without a subscription still hears back, by the way its suggestion came...
    let contribution_only = std::slice::from_ref(&contribution);
    assert!(
        authorize(
            contribution_only,
            request("interpol", "nl-hotline"),
            decision
        )
        .is_allowed()
    );
    // ...but not about a suggestion of others, nor a contribution list the other way.
    let others = [police.agency.clone()];
    assert_eq!(
        authorize(
            contribution_only,
            request("interpol", "nl-hotline"),
            Subject::IwolDecision {
                suggesters: &others
            }
        ),
        Decision::Deny(DenyReason::NoAgreement)
    );
    assert_eq!(
        authorize(
            contribution_only,
            request("interpol", "nl-hotline"),
            Subject::Iwol
        ),
        Decision::Deny(DenyReason::NoAgreement)
    );
    let expired = Request {
        now: Timestamp::from_secs(1_000),
        ..request("interpol", "nl-hotline")
    };
    assert_eq!(
        authorize(contribution_only, expired, decision),
        Decision::Deny(DenyReason::NotValidNow)
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arb_items() -> impl Strategy<Value = Vec<MediaItem>> {
        prop::collection::vec(arb_item(), 0..5).prop_map(|mut items| {
            // Distinct salts keep commitments distinct, as real intake does.
            for (i, item) in items.iter_mut().enumerate() {
                item.salt[0] = i as u8;
            }
            items
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Whatever the scope: an item is never disclosed without its report, content never
        /// without item metadata, and a one-sided agreement never verifies.
        #[test]
        fn item_decisions_imply_report_decisions(
            agreement in arb_agreement(),
            items in arb_items(),
            country in prop::sample::select(vec!["NL", "DE", "FR"]),
            offset in 0u64..2_000_000,
        ) {
            let hotline = party("nl-hotline", Role::Hotline, &key(1));
            let police = party("nl-police", Role::Lea, &key(2));
            let verified = match agreement.verify(&hotline, &police) {
                Ok(verified) => verified,
                Err(_) => {
                    prop_assert!(agreement.recipient_signature.is_none());
                    return Ok(());
                }
            };
            let report = report(Some(country), &items);
            let request = Request {
                holder: &hotline.agency,
                recipient: &police.agency,
                now: Timestamp::from_secs(1_700_000_000 - 1_000 + offset),
            };
            let grants = std::slice::from_ref(&verified);
            let report_ok = authorize(grants, request, Subject::Report { report: &report, items: &items }).is_allowed();
            for item in &items {
                let item = &CommittedItem::new(item.clone()).unwrap();
                let meta = authorize(grants, request, Subject::MediaItem { report: &report, items: &items, item }).is_allowed();
                let content = authorize(grants, request, Subject::MediaContent { report: &report, items: &items, item }).is_allowed();
                prop_assert!(!meta || report_ok);
                prop_assert!(!content || meta);
            }
            prop_assert_eq!(
                authorize(&[], request, Subject::Report { report: &report, items: &items }),
                Decision::Deny(DenyReason::NoAgreement)
            );
        }
    }
}

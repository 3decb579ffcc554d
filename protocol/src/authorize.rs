//! `authorize()`: the one gate that decides whether a record, a media item's metadata or a media
//! item's bytes may go from the node that holds it to a recipient.
//!
//! Every egress path of a node (sync, blob transfer, API, web UI, exports, packages) asks this
//! function, per record and per media item; a receiving node asks it from its side too. The
//! default is deny: a subject is allowed only when one verified agreement from the holder to the
//! recipient, valid at `now`, covers it.

use crate::agreement::{MediaAccess, Scope, VerifiedAgreement};
use crate::ids::{AgencyId, Classification, Country, Timestamp};
use crate::report::{CommittedItem, MediaItem, Report};
use crate::signed::RecordType;

/// What is about to leave the holder.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A report record. `items` are the report's media items the holder knows; a report is
    /// disclosed only when at least one of them is in scope (or it has none and the scope
    /// covers unassessed items).
    Report {
        /// The report.
        report: &'a Report,
        /// Its media items.
        items: &'a [MediaItem],
    },
    /// A media item's metadata and hashes. `items` are all the report's items the holder
    /// knows: an item goes only with a report that is itself disclosed.
    MediaItem {
        /// The report the item belongs to.
        report: &'a Report,
        /// All the report's media items.
        items: &'a [MediaItem],
        /// The item, with its commitment.
        item: &'a CommittedItem,
    },
    /// A media item's bytes; same rules as `MediaItem`, and the agreement must grant content.
    MediaContent {
        /// The report the item belongs to.
        report: &'a Report,
        /// All the report's media items.
        items: &'a [MediaItem],
        /// The item, with its commitment.
        item: &'a CommittedItem,
    },
    /// A withdrawal: it goes exactly where the withdrawn record went.
    Withdrawal {
        /// Whether the recipient was given the withdrawn record by the holder.
        recipient_received_record: bool,
    },
    /// A version of a hash list: the baseline list (`national_list: None`) or one country's
    /// national list.
    HashList {
        /// The country whose national list this is; `None` for the baseline list.
        national_list: Option<Country>,
    },
    /// A version of the IWOL.
    Iwol,
    /// A domain suggested for the IWOL (or a confirmation of one).
    IwolSuggestion,
    /// INTERPOL's decision on a suggestion: it goes to subscribers whose agreement covers
    /// decisions, and back to the suggesters under the agreement their suggestions came by.
    IwolDecision {
        /// The agencies that suggested or confirmed the domain.
        suggesters: &'a [AgencyId],
    },
    /// A status of a forwarded report: it goes back only to the report's originator, and only
    /// under an agreement by which that originator provides reports to the holder.
    ReportStatus {
        /// The report's originator.
        report_origin: &'a AgencyId,
    },
    /// An agreement record: it goes only to its own two parties.
    Agreement {
        /// The agreement's provider.
        provider: &'a AgencyId,
        /// The agreement's recipient.
        recipient: &'a AgencyId,
    },
}

/// Who is asking, on whose behalf, and when.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The agency that holds the data and would disclose it.
    pub holder: &'a AgencyId,
    /// The agency that would receive it.
    pub recipient: &'a AgencyId,
    /// The time of the decision.
    pub now: Timestamp,
}

/// Why a subject may not go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DenyReason {
    /// No verified agreement from the holder to the recipient.
    NoAgreement,
    /// Agreements exist but none is valid now.
    NotValidNow,
    /// No valid agreement covers this record type.
    RecordTypeNotCovered,
    /// No valid agreement covers the hosting country.
    CountryNotCovered,
    /// No valid agreement covers the classification(s).
    ClassificationNotCovered,
    /// The covering agreement grants less media access than needed.
    MediaNotGranted,
    /// The item does not belong to the report (commitment mismatch).
    NotInReport,
    /// An agreement record asked for by someone who is not a party to it.
    NotAParty,
    /// A withdrawal for an agency that never received the withdrawn record.
    NotARecipient,
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; names the agreement that allows it (none for an agreement sent to its party).
    Allow {
        /// The id of the covering agreement.
        agreement: Option<[u8; 16]>,
    },
    /// Denied, with the most specific reason found.
    Deny(DenyReason),
}

impl Decision {
    /// Whether the subject may go.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// Decides whether `subject` may go from `request.holder` to `request.recipient` under
/// `agreements`. Pure and total: every input gets a decision, default deny.
pub fn authorize(
    agreements: &[VerifiedAgreement],
    request: Request<'_>,
    subject: Subject<'_>,
) -> Decision {
    if let Subject::Agreement {
        provider,
        recipient,
    } = subject
    {
        let holder_is_party = request.holder == provider || request.holder == recipient;
        let recipient_is_party = request.recipient == provider || request.recipient == recipient;
        return if holder_is_party && recipient_is_party {
            Decision::Allow { agreement: None }
        } else {
            Decision::Deny(DenyReason::NotAParty)
        };
    }
    if let Subject::Withdrawal {
        recipient_received_record,
    } = subject
    {
        return if recipient_received_record {
            Decision::Allow { agreement: None }
        } else {
            Decision::Deny(DenyReason::NotARecipient)
        };
    }
    if let Subject::ReportStatus { report_origin } = subject {
        return status_goes_back(agreements, request, report_origin, RecordType::Report);
    }
    let mut best = DenyReason::NoAgreement;
    for agreement in agreements {
        let terms = agreement.terms();
        if &terms.provider != request.holder || &terms.recipient != request.recipient {
            continue;
        }
        match covers(agreement, request.now, subject) {
            Ok(()) => {
                return Decision::Allow {
                    agreement: Some(terms.agreement_id),
                };
            }
            Err(reason) => best = best.max(reason),
        }
    }
    // A decision also goes back to a suggester that is not subscribed, the way its
    // suggestion came.
    if let Subject::IwolDecision { suggesters } = subject
        && suggesters.contains(request.recipient)
    {
        return status_goes_back(
            agreements,
            request,
            request.recipient,
            RecordType::IwolSuggestion,
        );
    }
    Decision::Deny(best)
}

fn covers(
    agreement: &VerifiedAgreement,
    now: Timestamp,
    subject: Subject<'_>,
) -> Result<(), DenyReason> {
    let terms = agreement.terms();
    let scope = &terms.scope;
    if !terms.is_valid_at(now) {
        return Err(DenyReason::NotValidNow);
    }
    let (report, items, item, needed_media) = match subject {
        Subject::Report { report, items } => (report, items, None, MediaAccess::Nothing),
        Subject::MediaItem {
            report,
            items,
            item,
        } => (report, items, Some(item), MediaAccess::Hashes),
        Subject::MediaContent {
            report,
            items,
            item,
        } => (report, items, Some(item), MediaAccess::Content),
        Subject::HashList { national_list } => return covers_hash_list(scope, national_list),
        Subject::Iwol => return covers_type(scope, RecordType::Iwol),
        Subject::IwolSuggestion => return covers_type(scope, RecordType::IwolSuggestion),
        Subject::IwolDecision { .. } => return covers_type(scope, RecordType::IwolDecision),
        Subject::Agreement { .. } | Subject::Withdrawal { .. } | Subject::ReportStatus { .. } => {
            return Err(DenyReason::NotAParty);
        }
    };
    if !scope.record_types.contains(&RecordType::Report) {
        return Err(DenyReason::RecordTypeNotCovered);
    }
    if !scope.hosting_countries.covers(report.hosting.country) {
        return Err(DenyReason::CountryNotCovered);
    }
    let in_scope = |c: Classification| scope.classifications.contains(&c);
    // The report goes when one of its items is in scope (or it has none yet and unassessed
    // items are in scope); context items never carry a report on their own.
    let report_covered = if items.is_empty() {
        in_scope(Classification::Unassessed)
    } else {
        items.iter().any(|item| in_scope(item.classification()))
    };
    if !report_covered {
        return Err(DenyReason::ClassificationNotCovered);
    }
    let Some(item) = item else {
        return Ok(());
    };
    if !report.lists(item) {
        return Err(DenyReason::NotInReport);
    }
    let class = item.item().classification();
    let as_context = scope.include_context && !class.is_illegal();
    if !(in_scope(class) || as_context) {
        return Err(DenyReason::ClassificationNotCovered);
    }
    if scope.media < needed_media {
        return Err(DenyReason::MediaNotGranted);
    }
    Ok(())
}

/// Record types whose every record a scope covers or not as a whole.
fn covers_type(scope: &Scope, record_type: RecordType) -> Result<(), DenyReason> {
    if scope.record_types.contains(&record_type) {
        Ok(())
    } else {
        Err(DenyReason::RecordTypeNotCovered)
    }
}

/// A hash-list subscription covers the baseline list when its classifications include
/// baseline, and a national list when they include nationally illegal and its countries
/// include the list's country.
fn covers_hash_list(scope: &Scope, national_list: Option<Country>) -> Result<(), DenyReason> {
    if !scope.record_types.contains(&RecordType::HashList) {
        return Err(DenyReason::RecordTypeNotCovered);
    }
    let needed = match national_list {
        None => Classification::Baseline,
        Some(_) => Classification::NationallyIllegal,
    };
    if !scope.classifications.contains(&needed) {
        return Err(DenyReason::ClassificationNotCovered);
    }
    if national_list.is_some() && !scope.hosting_countries.covers(national_list) {
        return Err(DenyReason::CountryNotCovered);
    }
    Ok(())
}

/// A status goes from the holder back to the originator of what it is about (a report, an
/// IWOL suggestion) when the originator provides records of `came_as` to the holder under an
/// agreement valid now (the way the report or suggestion came).
fn status_goes_back(
    agreements: &[VerifiedAgreement],
    request: Request<'_>,
    report_origin: &AgencyId,
    came_as: RecordType,
) -> Decision {
    if request.recipient != report_origin {
        return Decision::Deny(DenyReason::NotAParty);
    }
    let mut best = DenyReason::NoAgreement;
    for agreement in agreements {
        let terms = agreement.terms();
        if &terms.provider != report_origin || &terms.recipient != request.holder {
            continue;
        }
        if !terms.is_valid_at(request.now) {
            best = best.max(DenyReason::NotValidNow);
        } else if !terms.scope.record_types.contains(&came_as) {
            best = best.max(DenyReason::RecordTypeNotCovered);
        } else {
            return Decision::Allow {
                agreement: Some(terms.agreement_id),
            };
        }
    }
    Decision::Deny(best)
}

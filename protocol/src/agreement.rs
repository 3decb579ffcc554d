//! Agreements: what one agency (the provider) lets another (the recipient) receive.
//!
//! An agreement's [`AgreementTerms`] are signed by both parties over a domain-separated
//! pre-image; the whole [`Agreement`] then travels as a record of type
//! [`RecordType::Agreement`]. Only [`Agreement::verify`] makes a [`VerifiedAgreement`], and
//! `authorize()` accepts nothing else, so an unsigned, one-sided or altered agreement can never
//! grant anything.

use serde::{Deserialize, Serialize};

use crate::encoding::{self, EncodingError};
use crate::ids::{AgencyId, Classification, Country, Role, Timestamp};
use crate::keys::{KeyError, NodeKey, PublicKey, Signature};
use crate::signed::{RecordBody, RecordType};

/// Domain-separation string of agreement-terms signatures.
pub const AGREEMENT_SIGNATURE_DOMAIN: &str = "safeport/agreement-terms/v1";

/// Most countries listed in one scope.
pub const MAX_SCOPE_COUNTRIES: usize = 300;

/// How much of a media item travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MediaAccess {
    /// No media items at all (report metadata only).
    Nothing,
    /// Item metadata and hashes, never the bytes.
    Hashes,
    /// Metadata, hashes and the media bytes.
    Content,
}

/// Which hosting countries a scope covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CountryScope {
    /// Every hosting country, including unknown ones.
    Any,
    /// Only these (sorted, unique); a report whose hosting country is unknown is not covered.
    Only(Vec<Country>),
}

impl CountryScope {
    /// Whether a report hosted in `country` is covered.
    pub fn covers(&self, country: Option<Country>) -> bool {
        match (self, country) {
            (CountryScope::Any, _) => true,
            (CountryScope::Only(list), Some(country)) => list.binary_search(&country).is_ok(),
            (CountryScope::Only(_), None) => false,
        }
    }
}

/// What an agreement covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Record types that may flow (sorted, unique, never `Agreement`).
    pub record_types: Vec<RecordType>,
    /// Item classifications that may flow (sorted, unique).
    pub classifications: Vec<Classification>,
    /// Hosting countries covered.
    pub hosting_countries: CountryScope,
    /// How much of each covered media item travels.
    pub media: MediaAccess,
    /// Whether not-illegal and unassessed items of a covered report travel too, as context.
    pub include_context: bool,
}

/// The terms both parties sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementTerms {
    /// Random id, so two agreements with equal terms stay distinct.
    pub agreement_id: [u8; 16],
    /// The agency whose data flows.
    pub provider: AgencyId,
    /// The agency that receives it.
    pub recipient: AgencyId,
    /// What flows.
    pub scope: Scope,
    /// Start of validity (inclusive).
    pub valid_from: Timestamp,
    /// End of validity (exclusive).
    pub valid_until: Timestamp,
}

fn strictly_sorted<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|pair| pair[0] < pair[1])
}

impl AgreementTerms {
    /// Checks the terms' own consistency (no keys involved).
    pub fn validate(&self) -> Result<(), String> {
        if self.provider == self.recipient {
            return Err("provider and recipient are the same agency".into());
        }
        if self.valid_until <= self.valid_from {
            return Err("validity ends before it starts".into());
        }
        let scope = &self.scope;
        if scope.record_types.is_empty() || !strictly_sorted(&scope.record_types) {
            return Err("record types must be non-empty, sorted and unique".into());
        }
        if scope.record_types.iter().any(|t| {
            !matches!(
                t,
                RecordType::Report
                    | RecordType::HashList
                    | RecordType::Iwol
                    | RecordType::IwolSuggestion
                    | RecordType::IwolDecision
            )
        }) {
            return Err("agreements are exchanged between their parties, not scoped".into());
        }
        if !strictly_sorted(&scope.classifications) {
            return Err("classifications must be sorted and unique".into());
        }
        if let CountryScope::Only(countries) = &scope.hosting_countries
            && (countries.len() > MAX_SCOPE_COUNTRIES || !strictly_sorted(countries))
        {
            return Err("hosting countries must be sorted, unique and bounded".into());
        }
        Ok(())
    }

    fn signing_preimage(&self) -> Result<Vec<u8>, EncodingError> {
        encoding::encode(&(AGREEMENT_SIGNATURE_DOMAIN, self))
    }

    /// Signs the terms as one party (provider or recipient).
    pub fn sign(&self, key: &NodeKey) -> Result<Signature, EncodingError> {
        Ok(key.sign(&self.signing_preimage()?))
    }

    /// Checks one party's signature over the terms.
    pub fn verify_signature(
        &self,
        key: &PublicKey,
        signature: &Signature,
    ) -> Result<(), AgreementError> {
        key.verify(&self.signing_preimage()?, signature)
            .map_err(|_: KeyError| AgreementError::BadSignature("signer"))
    }

    /// Whether `at` lies within the validity window.
    pub fn is_valid_at(&self, at: Timestamp) -> bool {
        self.valid_from <= at && at < self.valid_until
    }
}

/// Terms with the parties' signatures: a proposal has the proposer's only, an agreement in force
/// has both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// The signed terms.
    pub terms: AgreementTerms,
    /// The provider's signature over the terms.
    pub provider_signature: Option<Signature>,
    /// The recipient's signature over the terms.
    pub recipient_signature: Option<Signature>,
}

/// Why an agreement does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgreementError {
    /// The terms are inconsistent.
    #[error("invalid agreement terms: {0}")]
    Invalid(String),
    /// A party has not signed.
    #[error("agreement is not signed by the {0}")]
    Unsigned(&'static str),
    /// A party's signature does not verify.
    #[error("the {0}'s signature over the agreement terms does not verify")]
    BadSignature(&'static str),
    /// The certificate given for a party names another agency.
    #[error("the certificate given for the {party} names {found}, not {expected}")]
    PartyMismatch {
        /// Which party.
        party: &'static str,
        /// The agency in the terms.
        expected: AgencyId,
        /// The agency in the certificate.
        found: AgencyId,
    },
    /// The parties' roles do not allow a record type in the scope.
    #[error("a {provider} may not provide {record_type:?} records to a {recipient}")]
    RoleNotAllowed {
        /// The provider's certified role.
        provider: Role,
        /// The recipient's certified role.
        recipient: Role,
        /// The record type that is not allowed between them.
        record_type: RecordType,
    },
    /// The terms could not be encoded.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
}

/// A certified party: agency, role and key, as taken from a verified certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// The agency.
    pub agency: AgencyId,
    /// Its certified role.
    pub role: Role,
    /// Its certified node key.
    pub key: PublicKey,
}

/// Whether a provider of `provider` role may send `record_type` records to a `recipient`.
pub fn roles_allow(provider: Role, recipient: Role, record_type: RecordType) -> bool {
    match record_type {
        // Reports originate at hotlines and go to hotlines, police and INTERPOL.
        RecordType::Report => {
            provider == Role::Hotline
                && matches!(recipient, Role::Hotline | Role::Lea | Role::Interpol)
        }
        // INTERPOL publishes the baseline list (and national lists) to hotlines and police;
        // hotlines and police publish their country's national list to each other and to
        // INTERPOL (which list an agency may publish: `hashlist::may_publish`).
        RecordType::HashList => match provider {
            Role::Interpol => matches!(recipient, Role::Hotline | Role::Lea),
            Role::Hotline | Role::Lea => {
                matches!(recipient, Role::Hotline | Role::Lea | Role::Interpol)
            }
            Role::Authority => false,
        },
        // INTERPOL publishes the IWOL, and its decisions on suggestions, to hotlines and police.
        RecordType::Iwol | RecordType::IwolDecision => {
            provider == Role::Interpol && matches!(recipient, Role::Hotline | Role::Lea)
        }
        // Hotlines and police suggest domains to INTERPOL, which passes suggestions on to the
        // other subscribers so that a second agency can confirm them.
        RecordType::IwolSuggestion => match provider {
            Role::Hotline | Role::Lea => recipient == Role::Interpol,
            Role::Interpol => matches!(recipient, Role::Hotline | Role::Lea),
            Role::Authority => false,
        },
        // Agreements and their revocations go to their parties; no scope carries them.
        // Withdrawals follow the record they withdraw; report statuses go back to the report's
        // originator under the agreement the report came by.
        RecordType::Agreement
        | RecordType::AgreementRevocation
        | RecordType::Withdrawal
        | RecordType::ReportStatus => false,
    }
}

impl Agreement {
    /// Verifies both signatures against the parties' certified keys and the roles against the
    /// scope. Validity in time is checked per decision by `authorize()`, not here.
    pub fn verify(
        &self,
        provider: &Party,
        recipient: &Party,
    ) -> Result<VerifiedAgreement, AgreementError> {
        let terms = &self.terms;
        terms.validate().map_err(AgreementError::Invalid)?;
        for (name, expected, party) in [
            ("provider", &terms.provider, provider),
            ("recipient", &terms.recipient, recipient),
        ] {
            if &party.agency != expected {
                return Err(AgreementError::PartyMismatch {
                    party: name,
                    expected: expected.clone(),
                    found: party.agency.clone(),
                });
            }
        }
        let preimage = terms.signing_preimage()?;
        for (name, signature, party) in [
            ("provider", &self.provider_signature, provider),
            ("recipient", &self.recipient_signature, recipient),
        ] {
            let signature = signature.as_ref().ok_or(AgreementError::Unsigned(name))?;
            party
                .key
                .verify(&preimage, signature)
                .map_err(|_: KeyError| AgreementError::BadSignature(name))?;
        }
        for &record_type in &terms.scope.record_types {
            if !roles_allow(provider.role, recipient.role, record_type) {
                return Err(AgreementError::RoleNotAllowed {
                    provider: provider.role,
                    recipient: recipient.role,
                    record_type,
                });
            }
        }
        Ok(VerifiedAgreement {
            terms: terms.clone(),
        })
    }
}

impl RecordBody for Agreement {
    const RECORD_TYPE: RecordType = RecordType::Agreement;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        if self.provider_signature.is_none() && self.recipient_signature.is_none() {
            return Err("an agreement record carries at least one party's signature".into());
        }
        self.terms.validate()
    }
}

/// An agreement whose signatures and roles have been verified. Only [`Agreement::verify`] makes
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAgreement {
    terms: AgreementTerms,
}

impl VerifiedAgreement {
    /// The verified terms.
    pub fn terms(&self) -> &AgreementTerms {
        &self.terms
    }
}

/// Longest revocation reason.
pub const MAX_REASON_LEN: usize = 1024;

/// One party ends an agreement. Signed as a record by that party; from then on the agreement
/// authorizes nothing, at both parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementRevocation {
    /// The agreement ended.
    pub agreement_id: [u8; 16],
    /// Why, in words for the other party.
    pub reason: String,
}

impl RecordBody for AgreementRevocation {
    const RECORD_TYPE: RecordType = RecordType::AgreementRevocation;
    const SCHEMA_VERSION: u16 = 1;

    fn validate(&self) -> Result<(), String> {
        if self.reason.len() > MAX_REASON_LEN || self.reason.chars().any(char::is_control) {
            return Err(format!(
                "a revocation reason is at most {MAX_REASON_LEN} bytes of text"
            ));
        }
        Ok(())
    }
}

/// Scopes of the standard flows between agencies.
pub mod templates {
    use super::{CountryScope, MediaAccess, Scope};
    use crate::ids::{Classification, Country, Role};
    use crate::signed::RecordType;

    /// A standard flow: which roles it connects and what it covers.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Template {
        /// Short name used by the CLI and API.
        pub name: &'static str,
        /// The provider's role.
        pub provider_role: Role,
        /// The recipient's role.
        pub recipient_role: Role,
        /// The scope.
        pub scope: Scope,
    }

    fn illegal() -> Vec<Classification> {
        vec![Classification::Baseline, Classification::NationallyIllegal]
    }

    /// Hotline -> hotline of the hosting country: reports hosted in `hosting_country` with
    /// illegal items, their content, and the report's other items as context (the receiving
    /// hotline issues the notice and needs the whole picture).
    pub fn forwarding(hosting_country: Country) -> Template {
        Template {
            name: "forwarding",
            provider_role: Role::Hotline,
            recipient_role: Role::Hotline,
            scope: Scope {
                record_types: vec![RecordType::Report],
                classifications: illegal(),
                hosting_countries: CountryScope::Only(vec![hosting_country]),
                media: MediaAccess::Content,
                include_context: true,
            },
        }
    }

    /// Hotline -> INTERPOL: baseline and nationally illegal media, with content, from reports
    /// hosted anywhere (ICSE contribution). Not-illegal items stay at the hotline.
    pub fn icse_contribution() -> Template {
        Template {
            name: "icse-contribution",
            provider_role: Role::Hotline,
            recipient_role: Role::Interpol,
            scope: Scope {
                record_types: vec![RecordType::Report],
                classifications: illegal(),
                hosting_countries: CountryScope::Any,
                media: MediaAccess::Content,
                include_context: false,
            },
        }
    }

    /// INTERPOL -> hotline or police: the baseline hash list, and the national lists of
    /// `national_lists` (sorted and deduplicated here; empty for baseline only).
    pub fn hash_list_subscription(mut national_lists: Vec<Country>) -> Template {
        national_lists.sort();
        national_lists.dedup();
        let (classifications, hosting_countries) = if national_lists.is_empty() {
            (
                vec![Classification::Baseline],
                CountryScope::Only(Vec::new()),
            )
        } else {
            (illegal(), CountryScope::Only(national_lists))
        };
        Template {
            name: "hash-list-subscription",
            provider_role: Role::Interpol,
            recipient_role: Role::Hotline,
            scope: Scope {
                record_types: vec![RecordType::HashList],
                classifications,
                hosting_countries,
                media: MediaAccess::Hashes,
                include_context: false,
            },
        }
    }

    /// INTERPOL -> hotline or police: every published version of the IWOL, the open
    /// suggestions of other agencies (to confirm) and INTERPOL's decisions on suggestions.
    pub fn iwol_subscription() -> Template {
        Template {
            name: "iwol-subscription",
            provider_role: Role::Interpol,
            recipient_role: Role::Hotline,
            scope: Scope {
                record_types: vec![
                    RecordType::Iwol,
                    RecordType::IwolSuggestion,
                    RecordType::IwolDecision,
                ],
                classifications: Vec::new(),
                hosting_countries: CountryScope::Any,
                media: MediaAccess::Nothing,
                include_context: false,
            },
        }
    }

    /// Hotline or police -> INTERPOL: this agency's IWOL suggestions and confirmations.
    pub fn iwol_contribution() -> Template {
        Template {
            name: "iwol-contribution",
            provider_role: Role::Hotline,
            recipient_role: Role::Interpol,
            scope: Scope {
                record_types: vec![RecordType::IwolSuggestion],
                classifications: Vec::new(),
                hosting_countries: CountryScope::Any,
                media: MediaAccess::Nothing,
                include_context: false,
            },
        }
    }

    /// Hotline -> national police: reports hosted in the police's jurisdiction with items of the
    /// agreed classifications (sorted and deduplicated here), hashes only.
    pub fn national_access(
        jurisdiction: Country,
        mut classifications: Vec<Classification>,
    ) -> Template {
        classifications.sort();
        classifications.dedup();
        Template {
            name: "national-access",
            provider_role: Role::Hotline,
            recipient_role: Role::Lea,
            scope: Scope {
                record_types: vec![RecordType::Report],
                classifications,
                hosting_countries: CountryScope::Only(vec![jurisdiction]),
                media: MediaAccess::Hashes,
                include_context: false,
            },
        }
    }
}

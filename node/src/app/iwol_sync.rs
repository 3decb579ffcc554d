//! IWOL records between nodes: what a receiver admits (suggestions from a hotline or police,
//! decisions and list versions from INTERPOL, each under an agreement it signed, a list only
//! newer than the one held), how admitted and own records are indexed, what `authorize()` is
//! asked before an IWOL record leaves, and the back-fill of a new counterparty.

use safeport_protocol::iwol::{IwolDecision, IwolList, IwolSuggestion, VersionPlan, plan_version};
use safeport_protocol::{
    AgencyId, Decision, RawRecord, RecordBody, RecordId, RecordType, Request, Role, Subject,
    authorize,
};

use super::{App, AppError};
use crate::store::iwol::{HeldIwol, SuggestionPart};
use crate::store::{Committed, StoreBatch};

/// The IWOL version a page has admitted so far (it is not in the store until the page's
/// batch commits), so a later record of the same page cannot roll it back.
#[derive(Debug, Default)]
pub(crate) struct PageIwol {
    admitted: Option<(u64, RecordId)>,
}

impl App {
    /// The certified role of `agency`, from the certificate held for it.
    fn certified_role(&self, agency: &AgencyId) -> Result<Role, String> {
        let pem = self
            .store
            .certificate(agency)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no certificate of {agency} is held"))?;
        Ok(self.verify_certificate(&pem)?.subject.role)
    }

    /// The `authorize()` decision for receiving an IWOL record from `from`.
    fn receive_decision(&self, from: &AgencyId, subject: Subject<'_>) -> Decision {
        let request = Request {
            holder: from,
            recipient: self.me(),
            now: self.now(),
        };
        authorize(self.agreements().active(), request, subject)
    }

    /// Admits an IWOL record of any of the three types from `from`.
    pub(crate) fn admit_iwol(&self, from: &AgencyId, raw: &RawRecord) -> Result<(), String> {
        let origin = &raw.header().origin;
        let role = self.certified_role(origin)?;
        match raw.header().record_type {
            RecordType::IwolSuggestion => {
                let typed = raw
                    .clone()
                    .into_typed::<IwolSuggestion>()
                    .map_err(|e| e.to_string())?;
                if !matches!(role, Role::Hotline | Role::Lea) {
                    return Err("IWOL suggestions come from hotlines and police only".into());
                }
                if let Some(first) = typed.body().confirms
                    && let Some(original) = self.iwol_suggestion_record(&first)?
                {
                    if &original.header().origin == origin {
                        return Err("an agency cannot confirm its own suggestion".into());
                    }
                    let original = original
                        .into_typed::<IwolSuggestion>()
                        .map_err(|e| e.to_string())?;
                    if original.body().domain != typed.body().domain {
                        return Err(
                            "a confirmation names another domain than its suggestion".into()
                        );
                    }
                }
                match self.receive_decision(from, Subject::IwolSuggestion) {
                    Decision::Deny(reason) => Err(format!(
                        "no agreement covers this IWOL suggestion ({reason:?})"
                    )),
                    Decision::Allow { .. } => Ok(()),
                }
            }
            RecordType::IwolDecision => {
                let typed = raw
                    .clone()
                    .into_typed::<IwolDecision>()
                    .map_err(|e| e.to_string())?;
                if role != Role::Interpol || origin != from {
                    return Err("IWOL decisions come from INTERPOL's node only".into());
                }
                let subject = Subject::IwolDecision {
                    suggesters: &typed.body().suggesters,
                };
                match self.receive_decision(from, subject) {
                    Decision::Deny(reason) => Err(format!(
                        "no agreement covers this IWOL decision ({reason:?})"
                    )),
                    Decision::Allow { .. } => Ok(()),
                }
            }
            RecordType::Iwol => {
                let typed = raw
                    .clone()
                    .into_typed::<IwolList>()
                    .map_err(|e| e.to_string())?;
                if role != Role::Interpol || origin != from {
                    return Err("the IWOL is published by INTERPOL's node only".into());
                }
                // A replayed version already stored is a duplicate, not a rollback.
                if self
                    .store
                    .record(&raw.id())
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    return Ok(());
                }
                if let Decision::Deny(reason) = self.receive_decision(from, Subject::Iwol) {
                    return Err(format!("no subscription covers the IWOL ({reason:?})"));
                }
                let held = self
                    .store
                    .held_iwol()
                    .map_err(|e| e.to_string())?
                    .map(|h| (h.version, h.record));
                plan_version(held, (typed.body().version, raw.id()))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            other => Err(format!("{} is not an IWOL record", other.as_str())),
        }
    }

    /// Within one page: an admitted list version must also be newer than any admitted earlier
    /// in the page.
    pub(crate) fn admit_iwol_in_page(
        &self,
        raw: &RawRecord,
        page: &mut PageIwol,
    ) -> Result<(), String> {
        if raw.header().record_type != RecordType::Iwol {
            return Ok(());
        }
        let list = raw
            .clone()
            .into_typed::<IwolList>()
            .map_err(|e| e.to_string())?;
        let offered = (list.body().version, raw.id());
        if plan_version(page.admitted, offered).map_err(|e| e.to_string())? == VersionPlan::Apply {
            page.admitted = Some(offered);
        }
        Ok(())
    }

    /// Writes what a stored IWOL record changes: a list version becomes the list held (when
    /// newer), a suggestion, confirmation or decision joins its suggestion's index.
    pub(crate) fn index_iwol_record(
        &self,
        batch: &mut StoreBatch<'_>,
        raw: &RawRecord,
    ) -> Result<(), AppError> {
        match raw.header().record_type {
            RecordType::Iwol => {
                let typed = raw.clone().into_typed::<IwolList>()?;
                let list = typed.body();
                let newer = self
                    .store
                    .held_iwol()?
                    .is_none_or(|held| list.version > held.version);
                if newer {
                    batch.set_iwol(&HeldIwol {
                        version: list.version,
                        record: raw.id(),
                        published_at: list.published_at,
                        expires_at: list.expires_at,
                        domains: list.entries.len() as u32,
                    })?;
                }
            }
            RecordType::IwolSuggestion => {
                let typed = raw.clone().into_typed::<IwolSuggestion>()?;
                let (first, part) = match typed.body().confirms {
                    Some(first) => (first, SuggestionPart::Confirmation),
                    None => (raw.id(), SuggestionPart::Suggestion),
                };
                batch.index_iwol(&first, part, &raw.id())?;
            }
            RecordType::IwolDecision => {
                let typed = raw.clone().into_typed::<IwolDecision>()?;
                batch.index_iwol(
                    &typed.body().suggestion,
                    SuggestionPart::Decision,
                    &raw.id(),
                )?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The stored record of suggestion `id`, if it is one.
    pub(crate) fn iwol_suggestion_record(
        &self,
        id: &RecordId,
    ) -> Result<Option<RawRecord>, String> {
        let raw = self.store.record(id).map_err(|e| e.to_string())?;
        Ok(raw.filter(|r| r.header().record_type == RecordType::IwolSuggestion))
    }

    /// Whether an IWOL record may go to `recipient` now.
    pub(crate) fn iwol_disclosed(
        &self,
        record: &RawRecord,
        recipient: &AgencyId,
    ) -> Result<bool, AppError> {
        let request = Request {
            holder: self.me(),
            recipient,
            now: self.now(),
        };
        let agreements = self.agreements();
        let decide = |subject| authorize(agreements.active(), request, subject).is_allowed();
        Ok(match record.header().record_type {
            RecordType::Iwol => {
                // A version older than the one held never goes out: a subscriber has no use
                // for it (and would refuse it). The version being published is not held yet.
                let version = record.clone().into_typed::<IwolList>()?.body().version;
                let held = self.store.held_iwol()?;
                held.is_none_or(|h| version >= h.version) && decide(Subject::Iwol)
            }
            // Agencies send INTERPOL their own suggestions; only INTERPOL passes on those of
            // others (so a relayed suggestion never echoes back to INTERPOL).
            RecordType::IwolSuggestion => {
                (self.my_role() == Role::Interpol || &record.header().origin == self.me())
                    && decide(Subject::IwolSuggestion)
            }
            RecordType::IwolDecision => {
                let typed = record.clone().into_typed::<IwolDecision>()?;
                decide(Subject::IwolDecision {
                    suggesters: &typed.body().suggesters,
                })
            }
            _ => false,
        })
    }

    /// After an agreement with `recipient` became active: the list held, and every suggestion
    /// and decision it may receive.
    pub(crate) fn backfill_iwol(&self, recipient: &AgencyId) -> Result<Committed, AppError> {
        let mut committed = Committed::default();
        let mut batch = self.store.batch();
        if let Some(held) = self.store.held_iwol()?
            && let Some(raw) = self.store.record(&held.record)?
            && &raw.header().origin != recipient
            && self.iwol_disclosed(&raw, recipient)?
        {
            batch.requeue(recipient, &held.record)?;
        }
        committed.outbox_heads.extend(batch.commit()?.outbox_heads);
        for record_type in [RecordType::IwolSuggestion, RecordType::IwolDecision] {
            let requeued = self.requeue_of_type(record_type, recipient, |raw| {
                self.iwol_disclosed(raw, recipient)
            })?;
            committed.outbox_heads.extend(requeued.outbox_heads);
        }
        Ok(committed)
    }

    /// Signs an own IWOL record and stores it with its index entries and outbox entries,
    /// together with `extra` writes, in one batch.
    pub(crate) fn publish_iwol_record<T: RecordBody>(
        &self,
        body: T,
        extra: impl FnOnce(&mut StoreBatch<'_>) -> Result<(), AppError>,
    ) -> Result<(RecordId, Committed), AppError> {
        let (record, _guard) = self.sign_own(body)?;
        let raw = record.raw().clone();
        let committed = self.store_and_share_with(&raw, None, |batch| {
            extra(batch)?;
            self.index_iwol_record(batch, &raw)
        })?;
        Ok((raw.id(), committed))
    }
}

//! Withdrawals: the originator retracts one of its records. The record (with its media items)
//! is deleted at the originator and at every holder it reached, a tombstone refuses any later
//! copy, and the withdrawal follows the record's own path: it goes to exactly the agencies
//! whose outbox held the record.

use safeport_protocol::report::Report;
use safeport_protocol::withdrawal::Withdrawal;
use safeport_protocol::{RawRecord, RecordId, RecordType};

use super::{App, AppError};
use crate::store::{Committed, StoreBatch};

impl App {
    /// Withdraws one of this node's own records, everywhere it went.
    pub fn withdraw(
        &self,
        id: &RecordId,
        reason: String,
    ) -> Result<(RecordId, Committed), AppError> {
        let record = self.store.record(id)?.ok_or(AppError::NotFound)?;
        if &record.header().origin != self.me() {
            return Err(AppError::Invalid(
                "only a record's originator can withdraw it".into(),
            ));
        }
        let (withdrawal, _guard) = self.sign_own(Withdrawal {
            record: *id,
            reason,
        })?;
        let mut batch = self.store.batch();
        batch.insert_record(withdrawal.raw())?;
        self.apply_withdrawal(&mut batch, withdrawal.raw(), &[])?;
        self.fan_out(&mut batch, withdrawal.raw(), None)?;
        let committed = batch.commit()?;
        self.changed();
        Ok((withdrawal.id(), committed))
    }

    /// Checks a received withdrawal: a record may only be withdrawn by its own originator.
    pub(crate) fn admit_withdrawal(&self, raw: &RawRecord) -> Result<(), String> {
        let withdrawal = raw
            .clone()
            .into_typed::<Withdrawal>()
            .map_err(|e| e.to_string())?;
        let target = withdrawal.body().record;
        if let Some(held) = self.store.record(&target).map_err(|e| e.to_string())?
            && held.header().origin != raw.header().origin
        {
            return Err("a record can only be withdrawn by its originator".into());
        }
        Ok(())
    }

    /// Deletes the withdrawn record (held, or inserted earlier in this same batch from
    /// `same_batch`) and leaves a tombstone.
    pub(crate) fn apply_withdrawal(
        &self,
        batch: &mut StoreBatch<'_>,
        raw: &RawRecord,
        same_batch: &[RawRecord],
    ) -> Result<(), AppError> {
        let withdrawal = raw.clone().into_typed::<Withdrawal>()?;
        let target = withdrawal.body().record;
        let held = match self.store.record(&target)? {
            Some(record) => Some(record),
            None => same_batch.iter().find(|r| r.id() == target).cloned(),
        };
        if let Some(record) = held {
            let report = match record.header().record_type {
                RecordType::Report => Some(record.clone().into_typed::<Report>()?.body().clone()),
                _ => None,
            };
            batch.delete_record(&record, report.as_ref())?;
            if let Some(report) = &report {
                self.search_marks
                    .mark(&record.header().origin, &report.report_key);
            }
        }
        batch.put_tombstone(&target, &raw.header().origin, &raw.id())?;
        Ok(())
    }
}

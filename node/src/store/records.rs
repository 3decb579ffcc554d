//! Typed record access: the store keeps signed records exactly as received (their signed
//! bytes), keyed by record id and indexed by `(origin, sequence)`. Values read back are decoded
//! and their id re-checked, so a corrupted value is an error, never a wrong record.

use safeport_protocol::{RawRecord, RecordId};

use super::{Store, StoreError, Table};

impl Store {
    /// Stores a signed record (idempotent by id; `true` when it was new). The caller has
    /// verified it; the store does not judge records, it keeps them.
    pub fn insert_record(&self, record: &RawRecord) -> Result<bool, StoreError> {
        let mut batch = self.batch();
        let added = batch.insert_record(record)?;
        if added {
            batch.commit()?;
        }
        Ok(added)
    }

    /// The record with this id, if stored.
    pub fn record(&self, id: &RecordId) -> Result<Option<RawRecord>, StoreError> {
        let Some(bytes) = self.get_record(&id.0)? else {
            return Ok(None);
        };
        let corrupt = |what| StoreError::CorruptValue {
            table: Table::Records.name(),
            what,
        };
        let record =
            RawRecord::decode(&bytes).map_err(|_| corrupt("stored record does not decode"))?;
        if record.id() != *id {
            return Err(corrupt("stored record does not match its id"));
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use safeport_protocol::report::{Hosting, IntakeChannel, Report};
    use safeport_protocol::{AgencyId, NodeKey, Signed, Timestamp};

    use super::*;

    fn sample(sequence: u64) -> RawRecord {
        let report = Report {
            report_key: [1; 16],
            revision: 1,
            reported_url: "https://reported.example.test/".into(),
            intake: IntakeChannel::PublicForm,
            received_at: Timestamp(1),
            redirects: vec![],
            hosting: Hosting {
                ip: None,
                country: None,
            },
            page: None,
            media: vec![],
        };
        let origin = AgencyId::new("nl-hotline").unwrap();
        Signed::sign(
            &NodeKey::from_seed([3; 32]),
            origin,
            sequence,
            Timestamp(2),
            report,
        )
        .unwrap()
        .raw()
        .clone()
    }

    #[test]
    fn records_round_trip_through_rocksdb_and_are_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = sample(5);
        assert!(store.insert_record(&record).unwrap());
        assert!(!store.insert_record(&record).unwrap());
        assert_eq!(store.record(&record.id()).unwrap(), Some(record.clone()));
        assert_eq!(
            store.records_by_origin("nl-hotline", 0, 10).unwrap(),
            vec![(5, record.id().0)]
        );
        assert_eq!(store.record(&RecordId([0; 32])).unwrap(), None);
    }

    #[test]
    fn a_corrupted_value_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let record = sample(1);
        // Bytes stored under the id of another record.
        store
            .put_record(&record.id().0, "nl-hotline", 1, sample(2).bytes())
            .unwrap();
        assert!(matches!(
            store.record(&record.id()),
            Err(StoreError::CorruptValue { .. })
        ));
    }
}

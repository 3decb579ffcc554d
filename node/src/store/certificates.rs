//! Every certificate of each agency: `(agency, not_before secs, serial)` -> PEM, oldest first.
//! A node key rotation gives an agency a new certificate while its records signed under the
//! earlier key stay in circulation; receivers, restores and agreement checks need the
//! certificate that signed each of them. [`Table::Certificates`] keeps pointing at the newest
//! (the agency's current role, key and contact). Certificates come here only after they
//! verified; the schema 2 -> 3 migration fills the table from the certificates held then.

use rocksdb::{DB, IteratorMode, WriteBatch};
use safeport_protocol::AgencyId;
use safeport_protocol::pki::{self, MAX_AGENCY_CERTIFICATES};

use super::codec::KeyWriter;
use super::{Store, StoreBatch, StoreError, Table};

fn certificate_key(agency: &AgencyId, not_before_secs: u64, serial: &str) -> Vec<u8> {
    KeyWriter::new()
        .str(agency.as_str())
        .u64(not_before_secs)
        .str(serial)
        .finish()
}

/// The key of a certificate of `agency`, from what the certificate states.
fn key_of(agency: &AgencyId, pem: &str) -> Result<Vec<u8>, StoreError> {
    let facts = pki::certificate_facts(pem)
        .map_err(|_| StoreError::InvalidArgument("certificate does not parse"))?;
    Ok(certificate_key(
        agency,
        facts.validity.not_before.as_secs(),
        &facts.serial,
    ))
}

fn not_text() -> StoreError {
    StoreError::CorruptValue {
        table: Table::AgencyCertificates.name(),
        what: "certificate is not text",
    }
}

impl Store {
    /// The certificates held for `agency` (PEM), oldest first: the newest
    /// [`MAX_AGENCY_CERTIFICATES`] if there were ever more.
    pub fn agency_certificates(&self, agency: &AgencyId) -> Result<Vec<String>, StoreError> {
        let prefix = KeyWriter::new().str(agency.as_str()).finish();
        let mut out = Vec::new();
        for entry in self.scan_prefix(Table::AgencyCertificates, &prefix, None, true)? {
            if out.len() >= MAX_AGENCY_CERTIFICATES {
                break;
            }
            let (_, value) = entry.map_err(|e| self.db_err(e))?;
            out.push(String::from_utf8(value.to_vec()).map_err(|_| not_text())?);
        }
        out.reverse();
        Ok(out)
    }

    /// Whether this exact certificate is held for `agency`.
    pub fn holds_certificate(&self, agency: &AgencyId, pem: &str) -> Result<bool, StoreError> {
        let Ok(facts) = pki::certificate_facts(pem) else {
            return Ok(false);
        };
        let key = certificate_key(agency, facts.validity.not_before.as_secs(), &facts.serial);
        Ok(self
            .get(Table::AgencyCertificates, &key)?
            .is_some_and(|held| held == pem.as_bytes()))
    }
}

impl StoreBatch<'_> {
    /// Drops a certificate from the agency's certificates (to make room for a newer one).
    pub fn remove_agency_certificate(
        &mut self,
        agency: &AgencyId,
        pem: &str,
    ) -> Result<(), StoreError> {
        self.batch.delete_cf(
            self.store.cf(Table::AgencyCertificates)?,
            key_of(agency, pem)?,
        );
        Ok(())
    }

    /// Keeps a verified certificate among the agency's certificates. The caller decides
    /// whether it is also the agency's current one ([`StoreBatch::put_certificate`], which
    /// calls this too).
    pub fn add_agency_certificate(
        &mut self,
        agency: &AgencyId,
        pem: &str,
    ) -> Result<(), StoreError> {
        self.batch.put_cf(
            self.store.cf(Table::AgencyCertificates)?,
            key_of(agency, pem)?,
            pem.as_bytes(),
        );
        Ok(())
    }
}

/// Schema 2 -> 3: every agency's certificate held so far becomes its first entry among all its
/// certificates. A stored value that does not parse is left out (it was verified when stored;
/// the upgrade never fails on one bad value, and what reads it reports it).
pub(super) fn migrate_agency_certificates(
    db: &DB,
    batch: &mut WriteBatch,
) -> Result<(), StoreError> {
    let cf = |table: Table| super::migrations::cf(db, table);
    let db_err = super::migrations::db_err(db);
    let mut copied = 0u64;
    for entry in db.iterator_cf(cf(Table::Certificates)?, IteratorMode::Start) {
        let (key, value) = entry.map_err(&db_err)?;
        let Ok(pem) = std::str::from_utf8(&value) else {
            continue;
        };
        let Ok(facts) = pki::certificate_facts(pem) else {
            continue;
        };
        // The Certificates key is the agency id in the key codec; re-read it through the codec.
        let Ok(agency) = super::codec::KeyReader::new(&key).string() else {
            continue;
        };
        let Ok(agency) = AgencyId::new(&agency) else {
            continue;
        };
        batch.put_cf(
            cf(Table::AgencyCertificates)?,
            certificate_key(&agency, facts.validity.not_before.as_secs(), &facts.serial),
            &value,
        );
        copied += 1;
    }
    tracing::info!(
        copied,
        "schema 3: every agency certificate held is kept by serial"
    );
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use safeport_protocol::Timestamp;
    use safeport_protocol::keys::NodeKey;
    use safeport_protocol::pki::{AgencySubject, Validity, create_root, issue_agency_certificate};
    use safeport_protocol::{Country, Role};

    use super::*;

    /// A test agency certificate for `key`, valid for a year from `start_secs`.
    pub(crate) fn certificate(agency: &AgencyId, key: &NodeKey, start_secs: u64) -> String {
        let authority = NodeKey::from_seed([9; 32]);
        let start = Timestamp::from_secs(start_secs);
        let root = create_root(
            &authority,
            "Test Root",
            Validity::days_from(start, 3650),
            [1; 16],
        )
        .unwrap();
        issue_agency_certificate(
            &authority,
            &root,
            &AgencySubject {
                agency: agency.clone(),
                role: Role::Hotline,
                country: Country::new("NL").unwrap(),
                organisation: "Test Hotline".into(),
            },
            &key.public(),
            Validity::days_from(start, 365),
            [start_secs as u8; 16],
        )
        .unwrap()
    }

    #[test]
    fn keeps_every_certificate_of_an_agency_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let agency = AgencyId::new("nl-hotline").unwrap();
        let other = AgencyId::new("nl-hotline-2").unwrap();
        let old = certificate(&agency, &NodeKey::from_seed([1; 32]), 1_700_000_000);
        let new = certificate(&agency, &NodeKey::from_seed([2; 32]), 1_800_000_000);
        let unrelated = certificate(&other, &NodeKey::from_seed([3; 32]), 1_750_000_000);
        let mut batch = store.batch();
        batch.add_agency_certificate(&agency, &new).unwrap();
        batch.add_agency_certificate(&other, &unrelated).unwrap();
        batch.add_agency_certificate(&agency, &old).unwrap();
        // The same certificate twice is one entry.
        batch.add_agency_certificate(&agency, &old).unwrap();
        batch.commit().unwrap();
        assert_eq!(
            store.agency_certificates(&agency).unwrap(),
            vec![old.clone(), new]
        );
        assert_eq!(store.agency_certificates(&other).unwrap(), vec![unrelated]);
        assert!(store.holds_certificate(&agency, &old).unwrap());
        assert!(!store.holds_certificate(&other, &old).unwrap());
        let mut batch = store.batch();
        assert!(matches!(
            batch.add_agency_certificate(&agency, "not a certificate"),
            Err(StoreError::InvalidArgument(_))
        ));
    }

    #[test]
    fn the_migration_keeps_the_certificates_held_before_schema_3() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = Store::open(&path).unwrap();
        let agency = AgencyId::new("de-hotline").unwrap();
        let pem = certificate(&agency, &NodeKey::from_seed([4; 32]), 1_700_000_000);
        // As a schema 2 node stored it: only the newest certificate, nothing by serial.
        let mut batch = store.batch();
        let certificates = store.cf(Table::Certificates).unwrap();
        let key = |agency: &str| KeyWriter::new().str(agency).finish();
        batch
            .batch
            .put_cf(certificates, key(agency.as_str()), pem.as_bytes());
        batch.batch.put_cf(certificates, key("bad"), "garbage");
        batch.batch.put_cf(
            store.cf(Table::Meta).unwrap(),
            Store::internal_meta_key(super::super::META_SCHEMA_VERSION),
            2u64.to_be_bytes(),
        );
        batch.commit().unwrap();
        assert!(store.agency_certificates(&agency).unwrap().is_empty());
        drop(store);

        let store = Store::open(&path).unwrap();
        assert_eq!(store.agency_certificates(&agency).unwrap(), vec![pem]);
        // The value that does not parse was left out, and the upgrade went through.
        assert!(
            store
                .agency_certificates(&AgencyId::new("bad").unwrap())
                .unwrap()
                .is_empty()
        );
    }
}

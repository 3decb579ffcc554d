//! The keys a received page is checked with: the signer keys of the certificates the page
//! carried, used for batch verification (each record under the newest key that may have
//! signed it), and those held here, read once per originator and used only for records the
//! carried keys do not verify (see `certificates.rs` for which certificate may sign what).

use std::collections::BTreeMap;
use std::sync::Arc;

use safeport_protocol::keys::PreparedKey;
use safeport_protocol::pki::{AgencySigners, SignerCertificate};
use safeport_protocol::signed::verify_records_batch;
use safeport_protocol::{AgencyId, RawRecord};

use super::App;

/// Signatures verified in one batch; a bad one costs its batch a one-by-one re-check. About
/// half a page, what each core checks: the multiscalar multiplication costs less per
/// signature in larger batches (7% less checking time than batches of 128, BENCHMARKS.md).
const VERIFY_BATCH: usize = 256;

/// The signer keys a page is checked with: those of the certificates it carried, and those
/// held here, read once per originator (only for records the page's keys do not verify).
pub(super) struct PageKeys {
    carried: BTreeMap<AgencyId, AgencySigners>,
    held: std::sync::Mutex<BTreeMap<AgencyId, Arc<AgencySigners>>>,
}

impl PageKeys {
    /// The keys of the certificates a page carried (verified as signers).
    pub(super) fn carried<'a>(
        certificates: impl IntoIterator<Item = &'a SignerCertificate>,
    ) -> Self {
        Self {
            carried: super::certificates::signers_by_agency(certificates),
            held: Default::default(),
        }
    }

    /// Which of `decoded` have a signature verified by a batch that passed, for the records whose
    /// originator key is already prepared.
    pub(super) fn batch_verify(&self, decoded: &[Result<RawRecord, String>]) -> Vec<bool> {
        let mut verified = vec![false; decoded.len()];
        // Each record is tried under the newest key that may have signed it; after a key rotation
        // a record of the earlier key fails its batch and is verified one by one under each key.
        let candidates: Vec<(usize, &RawRecord, &PreparedKey)> = decoded
            .iter()
            .enumerate()
            .filter_map(|(index, raw)| {
                let raw = raw.as_ref().ok()?;
                let header = raw.header();
                let signer = self
                    .carried
                    .get(&header.origin)?
                    .signing_at(header.created_at)
                    .next()?;
                Some((index, raw, &signer.key))
            })
            .collect();
        for batch in candidates.chunks(VERIFY_BATCH) {
            let records: Vec<(&RawRecord, &PreparedKey)> =
                batch.iter().map(|&(_, raw, key)| (raw, key)).collect();
            if verify_records_batch(&records).is_ok() {
                for &(index, _, _) in batch {
                    verified[index] = true;
                }
            }
        }
        verified
    }
}

impl App {
    /// Checks that a decoded record's originator signed it, under a certificate of the
    /// originator that may sign a record made when this one was (see `certificates.rs`):
    /// those the page carried first, then those held here. Skipped when `signature_verified`
    /// says a batch already did. Pure CPU work plus reads, so a page's records are
    /// authenticated in parallel.
    pub(super) fn authenticate(
        &self,
        raw: &RawRecord,
        keys: &PageKeys,
        signature_verified: bool,
    ) -> Result<(), String> {
        if signature_verified {
            return Ok(());
        }
        let header = raw.header();
        let origin = &header.origin;
        let made = header.created_at;
        let signed_by = |signers: &AgencySigners| {
            signers
                .signing_at(made)
                .any(|signer| raw.verify_prepared(&signer.key).is_ok())
        };
        if keys.carried.get(origin).is_some_and(signed_by) {
            return Ok(());
        }
        let held = self.held_signers(keys, origin)?;
        if held.is_empty() && !keys.carried.contains_key(origin) {
            return Err(format!("no certificate for originator {origin}"));
        }
        if signed_by(&held) {
            return Ok(());
        }
        Err(format!(
            "the signature does not verify under any certificate of {origin} valid when the \
             record was made ({made})"
        ))
    }

    /// The signer keys held here for `origin`, read and verified once per page.
    fn held_signers(
        &self,
        keys: &PageKeys,
        origin: &AgencyId,
    ) -> Result<Arc<AgencySigners>, String> {
        // A panicking verifier only refuses its own records; the memo stays usable.
        let lock = || {
            keys.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(signers) = lock().get(origin) {
            return Ok(Arc::clone(signers));
        }
        let signers = Arc::new(self.stored_signers(origin).map_err(|e| e.to_string())?);
        lock().insert(origin.clone(), Arc::clone(&signers));
        Ok(signers)
    }
}

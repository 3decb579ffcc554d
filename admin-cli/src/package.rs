//! `package verify`: everything `unzip -t`, `sha256sum -c` and `openssl pkeyutl -verify` check
//! of an intelligence package, and what they cannot: that the signing node's certificate
//! chains to the federation root (and is not revoked), that it names the agency the manifest
//! says composed the package, that every file is listed with its digest in both the manifest
//! and `SHA256SUMS`, and that no file is there that is not listed. Offline, bounded.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use safeport_protocol::package::{
    CERTIFICATE, MANIFEST, PACKAGE_FORMAT, PackageManifest, SIGNATURE, SUMS, parse_sha256sums,
};
use safeport_protocol::pki::{self, CertPolicy};
use safeport_protocol::{Signature, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::AdminError;

/// Largest package file read.
pub const MAX_PACKAGE_FILE: u64 = 2 * 1024 * 1024 * 1024;
/// Most entries in a package.
pub const MAX_PACKAGE_ENTRIES: usize = 200_000;

/// A package that verified.
#[derive(Debug, Serialize)]
pub struct PackageCheck {
    /// Always true (failures are errors).
    pub valid: bool,
    /// The case reference.
    pub case_reference: String,
    /// The composing agency, as its certificate names it.
    pub composed_by: String,
    /// The person who composed it.
    pub actor: String,
    /// When.
    pub composed_at: String,
    /// Reports in it.
    pub reports: usize,
    /// Files checked against their digests.
    pub files: usize,
}

fn bad(path: &Path, reason: impl Into<String>) -> AdminError {
    AdminError::Invalid(format!("{}: {}", path.display(), reason.into()))
}

/// Reads every entry of the archive (bounded), by name.
fn entries(path: &Path) -> Result<Vec<(String, Vec<u8>)>, AdminError> {
    let size = std::fs::metadata(path)
        .map_err(|e| bad(path, e.to_string()))?
        .len();
    if size > MAX_PACKAGE_FILE {
        return Err(bad(path, format!("larger than {MAX_PACKAGE_FILE} bytes")));
    }
    let file = std::fs::File::open(path).map_err(|e| bad(path, e.to_string()))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(path, format!("not a zip archive: {e}")))?;
    if archive.len() > MAX_PACKAGE_ENTRIES {
        return Err(bad(path, "too many entries"));
    }
    let mut out = Vec::with_capacity(archive.len());
    let mut total = 0u64;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| bad(path, format!("entry {index}: {e}")))?;
        let name = entry.name().to_owned();
        if entry.enclosed_name().is_none() {
            return Err(bad(path, format!("entry {name:?} is not a relative path")));
        }
        // Directory entries (some zip tools add them) hold nothing to check.
        if entry.is_dir() {
            continue;
        }
        total = total.saturating_add(entry.size());
        if total > MAX_PACKAGE_FILE {
            return Err(bad(path, "the entries are larger than the limit"));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(path, format!("entry {name:?} does not read (CRC?): {e}")))?;
        if out.iter().any(|(n, _)| n == &name) {
            return Err(bad(path, format!("entry {name:?} appears twice")));
        }
        out.push((name, bytes));
    }
    Ok(out)
}

/// Verifies a package against the federation's roots and CRLs at `at`.
pub fn verify(
    path: &Path,
    roots: &[PathBuf],
    crls: &[PathBuf],
    at: Timestamp,
) -> Result<PackageCheck, AdminError> {
    let (anchors, crls) = crate::cert::load_trust(roots, crls)?;
    let entries = entries(path)?;
    let get = |name: &str| {
        entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
            .ok_or_else(|| bad(path, format!("{name} is missing")))
    };
    let manifest_bytes = get(MANIFEST)?;
    let manifest: PackageManifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| bad(path, format!("{MANIFEST} does not parse: {e}")))?;
    if manifest.format != PACKAGE_FORMAT {
        return Err(bad(path, format!("not a {PACKAGE_FORMAT} package")));
    }
    let pem = std::str::from_utf8(get(CERTIFICATE)?)
        .map_err(|_| bad(path, format!("{CERTIFICATE} is not text")))?;
    // The certificate must have been valid when the package was composed (a later key
    // rotation retires it as superseded, which keeps what it signed before), and must not be
    // revoked otherwise now.
    let composed_at = crate::parse_time(&manifest.composed_at)
        .map_err(|e| bad(path, format!("composed_at: {e}")))?;
    let signer =
        pki::verify_signer_certificate(pem, &anchors, &crls, at, &CertPolicy::default())
            .map_err(|reason| bad(path, format!("the signing node's certificate: {reason}")))?;
    if !signer.signs_at(composed_at) {
        return Err(bad(
            path,
            format!(
                "the signing node's certificate was not valid when the package was composed ({})",
                manifest.composed_at
            ),
        ));
    }
    let identity = signer.identity;
    let signature: [u8; 64] = get(SIGNATURE)?.try_into().map_err(|_| {
        bad(
            path,
            format!("{SIGNATURE} is not a 64-byte Ed25519 signature"),
        )
    })?;
    identity
        .key
        .verify(manifest_bytes, &Signature(signature))
        .map_err(|_| bad(path, format!("{SIGNATURE} does not verify over {MANIFEST}")))?;
    if manifest.composed_by.agency != identity.subject.agency.as_str() {
        return Err(bad(
            path,
            format!(
                "the manifest names {} but {} signed it",
                manifest.composed_by.agency, identity.subject.agency
            ),
        ));
    }
    let sums = std::str::from_utf8(get(SUMS)?)
        .map_err(|_| bad(path, format!("{SUMS} is not text")))
        .and_then(|text| parse_sha256sums(text).map_err(|e| bad(path, e)))?;
    for (name, bytes) in &entries {
        if name == SUMS || name == SIGNATURE {
            continue;
        }
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let listed = sums.iter().find(|(p, _)| p == name);
        match listed {
            Some((_, expected)) if *expected == digest => {}
            Some(_) => return Err(bad(path, format!("{name} does not match {SUMS}"))),
            None => return Err(bad(path, format!("{name} is not listed in {SUMS}"))),
        }
        if name != MANIFEST {
            let in_manifest = manifest
                .files
                .iter()
                .find(|f| &f.path == name)
                .ok_or_else(|| bad(path, format!("{name} is not listed in the manifest")))?;
            if in_manifest.sha256 != hex::encode(digest) {
                return Err(bad(path, format!("{name} does not match the manifest")));
            }
        }
    }
    for (name, _) in &sums {
        if !entries.iter().any(|(n, _)| n == name) {
            return Err(bad(path, format!("{name} is listed but missing")));
        }
    }
    for file in &manifest.files {
        if !entries.iter().any(|(n, _)| n == &file.path) {
            return Err(bad(
                path,
                format!("{} is in the manifest but missing", file.path),
            ));
        }
    }
    Ok(PackageCheck {
        valid: true,
        case_reference: manifest.case_reference,
        composed_by: identity.subject.agency.to_string(),
        actor: manifest.composed_by.actor,
        composed_at: manifest.composed_at,
        reports: manifest.reports.len(),
        files: entries.len().saturating_sub(2),
    })
}

//! Intelligence packages: what police take away for an investigation, in a form anyone can
//! check with standard tools.
//!
//! A package is a zip archive holding `manifest.json` ([`PackageManifest`]: what is in it, why,
//! for which case, who composed it, when, and the agreement that allowed each report and item),
//! the reports as JSON, `hashes.vics.json` (a VICS 2.0 hash set of the media), media content
//! only where the agreement grants content, the composing node's certificate, `SHA256SUMS`
//! over every other file (the manifest included) and `manifest.sig`: the node's raw Ed25519
//! signature over the bytes of `manifest.json`. The manifest begins with its format name, so
//! the signed bytes can never be taken for any other Safeport signature's pre-image.
//!
//! Checking it without Safeport: `unzip -t package.zip`, `sha256sum -c SHA256SUMS`, and
//! `openssl pkeyutl -verify -pubin -inkey node.pub.pem -rawin -in manifest.json -sigfile
//! manifest.sig` with the key from `openssl x509 -in node-certificate.pem -pubkey -noout`.

use serde::{Deserialize, Serialize};

use crate::hashlist::formats::{VICS_CONTEXT, VICS_ILLEGAL_CATEGORY, VICS_SAFEPORT_PROPERTY};
use crate::ids::Classification;
use crate::report::MediaItem;

/// The manifest's format name (its first field).
pub const PACKAGE_FORMAT: &str = "safeport-intelligence-package/1";
/// The manifest's name in the archive.
pub const MANIFEST: &str = "manifest.json";
/// The signature's name.
pub const SIGNATURE: &str = "manifest.sig";
/// The checksum list's name.
pub const SUMS: &str = "SHA256SUMS";
/// The composing node's certificate.
pub const CERTIFICATE: &str = "node-certificate.pem";
/// The VICS hash set.
pub const VICS: &str = "hashes.vics.json";
/// Most reports in one package.
pub const MAX_PACKAGE_REPORTS: usize = 10_000;
/// Longest case reference, purpose or recipient.
pub const MAX_PACKAGE_TEXT: usize = 512;

/// Who composed the package, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Composer {
    /// The person (user or admin-token holder).
    pub actor: String,
    /// The agency whose node signed the package.
    pub agency: String,
    /// Its role.
    pub role: String,
    /// Its country.
    pub country: String,
}

/// A media item in the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagedItem {
    /// SHA-256 (hex).
    pub sha256: String,
    /// Classification.
    pub classification: String,
    /// The agreement that allowed it (hex id), or `own` for the node's own records.
    pub agreement: String,
    /// The content's path in the archive, where the agreement grants content.
    pub content: Option<String>,
}

/// A report in the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagedReport {
    /// The report record (the revision packaged).
    pub record_id: String,
    /// The originating hotline.
    pub origin: String,
    /// The report's key (hex).
    pub report_key: String,
    /// Its revision.
    pub revision: u32,
    /// The agreement that allowed it, or `own`.
    pub agreement: String,
    /// Its JSON's path in the archive.
    pub file: String,
    /// The items disclosed.
    pub items: Vec<PackagedItem>,
}

/// A file of the archive and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagedFile {
    /// Path in the archive.
    pub path: String,
    /// SHA-256 (hex).
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageManifest {
    /// Always [`PACKAGE_FORMAT`] (first, see the module documentation).
    pub format: String,
    /// The investigation's case reference.
    pub case_reference: String,
    /// Why the package was composed.
    pub purpose: String,
    /// Who it is for, if it leaves the composing agency.
    pub recipient: Option<String>,
    /// Who composed it.
    pub composed_by: Composer,
    /// When (RFC 3339, UTC).
    pub composed_at: String,
    /// The reports.
    pub reports: Vec<PackagedReport>,
    /// Every file but the manifest, `SHA256SUMS` and the signature.
    pub files: Vec<PackagedFile>,
}

/// Checks a case reference, purpose or recipient.
pub fn check_package_text(what: &str, text: &str) -> Result<(), String> {
    if text.trim().is_empty() || text.len() > MAX_PACKAGE_TEXT || text.chars().any(char::is_control)
    {
        return Err(format!(
            "{what} is 1 to {MAX_PACKAGE_TEXT} bytes of text on one line"
        ));
    }
    Ok(())
}

/// `SHA256SUMS` in the form `sha256sum -c` reads: `<hex>  <path>` per line.
pub fn sha256sums(files: &[(String, [u8; 32])]) -> String {
    let mut out = String::new();
    for (path, digest) in files {
        out.push_str(&hex::encode(digest));
        out.push_str("  ");
        out.push_str(path);
        out.push('\n');
    }
    out
}

/// Parses `SHA256SUMS` back (for verification): `(path, digest)` per line.
pub fn parse_sha256sums(text: &str) -> Result<Vec<(String, [u8; 32])>, String> {
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let (digest, path) = line
                .split_once("  ")
                .ok_or_else(|| format!("{SUMS} line {}: not '<sha256>  <path>'", n + 1))?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(digest, &mut bytes)
                .map_err(|_| format!("{SUMS} line {}: not a SHA-256", n + 1))?;
            Ok((path.to_owned(), bytes))
        })
        .collect()
}

/// The VICS 2.0 hash set of the packaged media: one Media object per item with MD5, SHA-1,
/// SHA-256 and PDQ, filed as VICS category 1 with Safeport's classification beside it (the
/// same mapping as hash-list exports, so Safeport's importer reads it back).
pub fn vics_media_set(items: &[&MediaItem]) -> String {
    let media: Vec<serde_json::Value> = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let mut hashes = vec![serde_json::json!({
                "HashName": "SHA256", "HashValue": hex::encode(item.sha256)
            })];
            if let Some(pdq) = &item.pdq {
                hashes.push(serde_json::json!({
                    "HashName": "PDQ", "HashValue": hex::encode(pdq.bits())
                }));
            }
            let class = match item.classification() {
                Classification::Baseline => Some("baseline"),
                Classification::NationallyIllegal => Some("nationally-illegal"),
                _ => None,
            };
            let mut object = serde_json::json!({
                "MediaID": index + 1,
                "MD5": hex::encode(item.md5),
                "SHA1": hex::encode(item.sha1),
                "AlternativeHashes": hashes,
            });
            match class {
                Some(class) => {
                    object["Category"] = VICS_ILLEGAL_CATEGORY.into();
                    object["MediaMetadata"] = serde_json::json!([
                        { "PropertyName": VICS_SAFEPORT_PROPERTY, "PropertyValue": class }
                    ]);
                }
                // Context items: VICS category 0, not yet categorised.
                None => object["Category"] = 0.into(),
            }
            object
        })
        .collect();
    let document = serde_json::json!({ "@odata.context": VICS_CONTEXT, "value": media });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sums_round_trip_and_bad_lines_are_named() {
        let files = vec![
            ("manifest.json".to_owned(), [1u8; 32]),
            ("a b.json".into(), [2; 32]),
        ];
        let text = sha256sums(&files);
        assert!(text.starts_with(&format!("{}  manifest.json\n", "01".repeat(32))));
        assert_eq!(parse_sha256sums(&text).unwrap(), files);
        assert!(parse_sha256sums("zz  x\n").unwrap_err().contains("line 1"));
        assert!(check_package_text("the case reference", "").is_err());
        assert!(check_package_text("the case reference", "2026/NL/17").is_ok());
    }
}

//! Composing an intelligence package (see `safeport_protocol::package` for the format): the
//! selected reports as this node may show them (`access.rs`: every report and item through
//! `authorize()`, content only where an agreement grants content), their media's VICS hash
//! set, the content granted, checksums and the node's signature over the manifest, in a zip.
//! Composing is audited with its case reference; a report outside what this node may show is
//! "not found", like one it does not hold.

use std::io::Write as _;

use safeport_protocol::AgencyId;
use safeport_protocol::package::{
    self, CERTIFICATE, Composer, MANIFEST, MAX_PACKAGE_REPORTS, PACKAGE_FORMAT, PackageManifest,
    PackagedFile, PackagedItem, PackagedReport, SIGNATURE, SUMS, VICS, check_package_text,
};
use sha2::{Digest, Sha256};

use super::audit::{Actor, AuditAction};
use super::detail::report_json;
use super::{App, AppError};
use crate::blobs::BlobStore;

/// Most media content bytes in one package (it is built in memory).
pub const MAX_PACKAGE_CONTENT_BYTES: u64 = 512 * 1024 * 1024;

/// What to package.
#[derive(Debug, Clone)]
pub struct PackageRequest {
    /// The reports, by originator and report key (their latest revision is packaged).
    pub reports: Vec<(AgencyId, [u8; 16])>,
    /// The investigation's case reference.
    pub case_reference: String,
    /// Why.
    pub purpose: String,
    /// Who it is for, if it leaves this agency.
    pub recipient: Option<String>,
    /// Whether to include media content (only where an agreement grants it).
    pub include_content: bool,
    /// Also every report this saved search finds now.
    pub saved_search: Option<String>,
}

/// A composed package.
#[derive(Debug, Clone)]
pub struct Package {
    /// The zip archive.
    pub bytes: Vec<u8>,
    /// Its manifest.
    pub manifest: PackageManifest,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::Invalid(message.into())
}

fn extension(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        _ => "bin",
    }
}

impl App {
    /// Composes, signs and audits a package.
    pub fn compose_package(
        &self,
        actor: &Actor,
        request: &PackageRequest,
        blobs: &BlobStore,
    ) -> Result<Package, AppError> {
        check_package_text("the case reference", &request.case_reference).map_err(invalid)?;
        check_package_text("the purpose", &request.purpose).map_err(invalid)?;
        if let Some(recipient) = &request.recipient {
            check_package_text("the recipient", recipient).map_err(invalid)?;
        }
        let mut selected = request.reports.clone();
        if let Some(name) = &request.saved_search {
            selected.extend(self.saved_search_reports(name)?);
        }
        if selected.is_empty() || selected.len() > MAX_PACKAGE_REPORTS {
            return Err(invalid(format!(
                "a package holds 1 to {MAX_PACKAGE_REPORTS} reports"
            )));
        }
        let mut visible = Vec::with_capacity(selected.len());
        for (origin, key) in &selected {
            visible.push(self.visible_report(origin, key)?);
        }
        visible.sort_by_key(|r| r.record_id.0);
        visible.dedup_by(|a, b| a.record_id == b.record_id);

        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut reports = Vec::with_capacity(visible.len());
        let mut content_bytes = 0u64;
        for report in &visible {
            let file = format!("reports/{}.json", report.record_id.to_hex());
            let mut items = Vec::with_capacity(report.items.len());
            for v in &report.items {
                let sha = hex::encode(v.item.sha256);
                let mut content = None;
                if request.include_content
                    && v.content.is_some()
                    && let Some(bytes) = blobs
                        .get(&v.item.sha256)
                        .map_err(|e| invalid(format!("media content {sha}: {e}")))?
                {
                    content_bytes += bytes.len() as u64;
                    if content_bytes > MAX_PACKAGE_CONTENT_BYTES {
                        return Err(invalid(format!(
                            "the content exceeds {MAX_PACKAGE_CONTENT_BYTES} bytes; package \
                             fewer reports or hashes only"
                        )));
                    }
                    let path = format!("media/{sha}.{}", extension(&v.item.mime_type));
                    if !files.iter().any(|(p, _)| p == &path) {
                        files.push((path.clone(), bytes));
                    }
                    content = Some(path);
                }
                items.push(PackagedItem {
                    sha256: sha,
                    classification: v.item.classification().as_str().to_owned(),
                    agreement: v.grant.label(),
                    content,
                });
            }
            let json = serde_json::to_vec_pretty(&report_json(report))
                .map_err(|e| invalid(format!("report JSON: {e}")))?;
            files.push((file.clone(), json));
            reports.push(PackagedReport {
                record_id: report.record_id.to_hex(),
                origin: report.origin.to_string(),
                report_key: hex::encode(report.report.report_key),
                revision: report.report.revision,
                agreement: report.grant.label(),
                file,
                items,
            });
        }
        let media: Vec<_> = visible
            .iter()
            .flat_map(|r| r.items.iter().map(|v| &v.item))
            .collect();
        files.push((VICS.into(), package::vics_media_set(&media).into_bytes()));
        files.push((
            CERTIFICATE.into(),
            self.identity.certificate_pem.clone().into_bytes(),
        ));

        let digest = |bytes: &[u8]| -> [u8; 32] { Sha256::digest(bytes).into() };
        let subject = &self.identity.certificate.subject;
        let manifest = PackageManifest {
            format: PACKAGE_FORMAT.into(),
            case_reference: request.case_reference.trim().to_owned(),
            purpose: request.purpose.trim().to_owned(),
            recipient: request.recipient.clone(),
            composed_by: Composer {
                actor: actor.as_str().to_owned(),
                agency: subject.agency.to_string(),
                role: subject.role.to_string(),
                country: subject.country.to_string(),
            },
            composed_at: self.now().to_string(),
            reports,
            files: files
                .iter()
                .map(|(path, bytes)| PackagedFile {
                    path: path.clone(),
                    sha256: hex::encode(digest(bytes)),
                    bytes: bytes.len() as u64,
                })
                .collect(),
        };
        let manifest_bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| invalid(format!("manifest: {e}")))?;
        let signature = self.identity.key.sign(&manifest_bytes);
        let mut sums = vec![(MANIFEST.to_owned(), digest(&manifest_bytes))];
        sums.extend(files.iter().map(|(p, b)| (p.clone(), digest(b))));
        let sums = package::sha256sums(&sums);

        let target = format!(
            "package of {} reports{}: {}",
            manifest.reports.len(),
            request
                .saved_search
                .as_ref()
                .map(|name| format!(" (saved search {name:?})"))
                .unwrap_or_default(),
            manifest
                .reports
                .iter()
                .map(|r| r.record_id.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let purpose = format!("case {}: {}", manifest.case_reference, manifest.purpose);
        // Built but not yet handed out: recorded now, and not handed out if recording fails.
        self.audit(
            actor,
            AuditAction::Package,
            &target,
            Some(&purpose),
            request.recipient.as_deref(),
        )?;
        let bytes = write_zip(
            [
                (MANIFEST, manifest_bytes.as_slice()),
                (SIGNATURE, signature.0.as_slice()),
                (SUMS, sums.as_bytes()),
            ]
            .into_iter()
            .chain(files.iter().map(|(p, b)| (p.as_str(), b.as_slice()))),
        )?;
        Ok(Package { bytes, manifest })
    }
}

/// A zip archive of `files`, stored uncompressed (media does not compress, and any unzip reads
/// stored entries).
fn write_zip<'a>(files: impl Iterator<Item = (&'a str, &'a [u8])>) -> Result<Vec<u8>, AppError> {
    let zip_error = |e: zip::result::ZipError| invalid(format!("zip: {e}"));
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    for (path, bytes) in files {
        writer.start_file(path, options).map_err(zip_error)?;
        writer
            .write_all(bytes)
            .map_err(|e| invalid(format!("zip: {e}")))?;
    }
    Ok(writer.finish().map_err(zip_error)?.into_inner())
}

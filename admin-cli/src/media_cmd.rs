//! `safeport-admin media hash`: MD5, SHA-1, SHA-256 and PDQ of local files with the node's own
//! hashing, printed readably or as JSON; a terminal shows how many files are done.

use std::path::PathBuf;

use safeport_admin::progress::Progress;

/// Hashes `files` and prints the results (all of them, or the first error).
pub(crate) fn hash(files: &[PathBuf], json: bool, progress: Progress) -> anyhow::Result<()> {
    let hashed = {
        let bar = progress.count("hashing files", files.len() as u64);
        files
            .iter()
            .map(|file| {
                let hashed = safeport_admin::media::hash_file(file);
                bar.advance();
                hashed
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&hashed)?);
    } else {
        for h in &hashed {
            let pdq = match (&h.pdq, h.pdq_quality) {
                (Some(pdq), Some(quality)) => format!("{pdq} (quality {quality})"),
                _ => h.note.clone().unwrap_or_else(|| "-".into()),
            };
            println!(
                "{}\n  md5     {}\n  sha1    {}\n  sha256  {}\n  pdq     {pdq}\n  type    {} ({} bytes)",
                h.file.display(),
                h.md5,
                h.sha1,
                h.sha256,
                h.mime_type,
                h.size
            );
        }
    }
    Ok(())
}

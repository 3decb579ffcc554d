//! Media viewing that protects analysts. A picture is first shown only as a small, greyscale,
//! heavily blurred thumbnail made on the server (the browser never receives the picture
//! until it is revealed). Revealing is a deliberate POST, audited, and shows one item at a
//! time for a few minutes; items already classified baseline by a hash-list match show no
//! thumbnail at all unless revealed. Content comes only through the domain layer's
//! `authorize()`d view; anything else answers 404.

use std::io::Cursor;

use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect, Response};
use image::{ImageFormat, ImageReader, Limits};
use maud::{Markup, html};
use safeport_protocol::RecordId;
use serde_json::Value;

use super::reports::{READERS, report_ref};
use super::{Authed, PortalError, PortalState, blocking};
use crate::app::audit::AuditAction;

/// Thumbnail edge in pixels.
const THUMB_EDGE: u32 = 160;
/// Blur strength (Gaussian sigma, in thumbnail pixels): shapes, not content.
const THUMB_BLUR_SIGMA: f32 = 7.0;
/// Largest decoded picture for a thumbnail (pixels * 4 bytes), bounding memory per request.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

fn sha_of(text: &str) -> Result<[u8; 32], PortalError> {
    let mut sha256 = [0u8; 32];
    hex::decode_to_slice(text, &mut sha256)
        .map_err(|_| PortalError::BadRequest("a SHA-256 is 64 hex digits".into()))?;
    Ok(sha256)
}

/// Whether the item was classified baseline by a hash-list match (not shown by default).
fn known_baseline(item: &Value) -> bool {
    item["classification"] == "baseline"
        && item["classified_by"]
            .as_str()
            .is_some_and(|by| by.starts_with("hash-list:"))
}

/// One media item on a report's page: picture (blurred, revealed or withheld), hashes,
/// classification and who classified it, and the triage buttons where allowed.
pub fn item_card(
    authed: &Authed,
    origin: &str,
    key: &str,
    item: &Value,
    can_classify: bool,
) -> Markup {
    let sha = item["sha256"].as_str().unwrap_or_default();
    let base = format!("/media/{origin}/{key}/{sha}");
    let revealed = authed
        .session
        .revealed
        .is_some_and(|(s, _)| hex::encode(s) == sha);
    let granted = item["content_granted"].as_bool().unwrap_or(false);
    // A picture that did not decode (no dimensions) gets no preview, only its hashes.
    let is_image = item["mime_type"]
        .as_str()
        .is_some_and(|m| m.starts_with("image/"))
        && !item["dimensions"].is_null();
    let class = item["classification"].as_str().unwrap_or("unassessed");
    html! {
        div.item tabindex="0" id={"item-" (sha)} data-sha256=(sha) {
            @if !granted {
                div.placeholder { "Content not shared under the agreement" }
            } @else if revealed {
                @if is_image {
                    img.revealed src={(base) "/view"} alt="revealed media item";
                } @else {
                    a href={(base) "/view"} { "Open the revealed item" }
                }
            } @else if known_baseline(item) {
                div.placeholder { "Known baseline material (hash-list match): not shown" }
            } @else if is_image {
                img.thumb src={(base) "/thumb"} alt="blurred preview";
            } @else {
                div.placeholder { (item["mime_type"].as_str().unwrap_or("media")) }
            }
            @if granted && !revealed {
                form method="post" action={(base) "/reveal"} {
                    input type="hidden" name="csrf" value=(authed.session.csrf);
                    button.reveal type="submit" { "Reveal" }
                }
            }
            p { "Classification: " span.classification class={"class-" (class)} { (class) }
                @if let Some(by) = item["classified_by"].as_str() { " by " span.classified-by { (by) } } }
            @if can_classify {
                form.classify method="post" action={"/reports/" (origin) "/" (key) "/classify"} {
                    input type="hidden" name="csrf" value=(authed.session.csrf);
                    input type="hidden" name="sha256" value=(sha);
                    button type="submit" name="classification" value="baseline" { "Baseline (b)" }
                    button type="submit" name="classification" value="nationally-illegal" { "Nationally illegal (n)" }
                    button type="submit" name="classification" value="not-illegal" { "Not illegal (x)" }
                }
            }
            dl {
                dt { "SHA-256" } dd.hash { (sha) }
                dt { "MD5" } dd.hash { (item["md5"].as_str().unwrap_or("")) }
                dt { "SHA-1" } dd.hash { (item["sha1"].as_str().unwrap_or("")) }
                @if let Some(pdq) = item["pdq"].as_str() {
                    dt { "PDQ" } dd.hash { (pdq) " (quality " (item["pdq_quality"].to_string()) ")" }
                }
                dt { "Type" } dd { (item["mime_type"].as_str().unwrap_or("")) ", " (item["size"].to_string()) " bytes" }
                dt { "Source" } dd.hash { (item["source_url"].as_str().unwrap_or("")) }
            }
        }
    }
}

/// The blurred, greyscale PNG thumbnail of a picture.
fn blurred_thumbnail(bytes: &[u8]) -> Result<Vec<u8>, PortalError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| PortalError::NotFound)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let picture = reader.decode().map_err(|_| PortalError::NotFound)?;
    let small = picture
        .thumbnail(THUMB_EDGE, THUMB_EDGE)
        .grayscale()
        .blur(THUMB_BLUR_SIGMA);
    let mut out = Vec::new();
    small
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| PortalError::Internal(Box::new(e)))?;
    Ok(out)
}

/// The content of an item this node may show, and its report's record id (404 otherwise).
async fn granted(
    state: &PortalState,
    authed: &Authed,
    (origin, key, sha): (String, String, String),
) -> Result<(Vec<u8>, RecordId, [u8; 32]), PortalError> {
    authed.require(READERS)?;
    let (origin, report_key) = report_ref(&origin, &key)?;
    let sha256 = sha_of(&sha)?;
    let blobs = state.blobs.clone();
    let (bytes, record_id) = blocking(&state.app, move |app| {
        app.granted_content(&origin, &report_key, &sha256, &blobs)
    })
    .await?;
    Ok((bytes, record_id, sha256))
}

/// `GET /media/{origin}/{key}/{sha256}/thumb`: the blurred preview (not audited: it shows
/// shapes, not content).
pub async fn thumbnail(
    State(state): State<PortalState>,
    authed: Authed,
    Path(item): Path<(String, String, String)>,
) -> Result<Response, PortalError> {
    let (bytes, _, _) = granted(&state, &authed, item).await?;
    let png = tokio::task::spawn_blocking(move || blurred_thumbnail(&bytes)).await??;
    Ok(([(CONTENT_TYPE, "image/png")], png).into_response())
}

/// `POST /media/{origin}/{key}/{sha256}/reveal`: reveals one item in this session, audited.
pub async fn reveal(
    State(state): State<PortalState>,
    authed: Authed,
    Path(item): Path<(String, String, String)>,
) -> Result<Response, PortalError> {
    let (origin, key, sha) = item.clone();
    // Only what may be shown can be revealed; the entry is written before the reveal.
    let (_, record_id, sha256) = granted(&state, &authed, item).await?;
    let actor = authed.actor()?;
    blocking(&state.app, move |app| {
        let target = format!(
            "media {} of report {}",
            hex::encode(sha256),
            record_id.to_hex()
        );
        app.audit(
            &actor,
            AuditAction::RevealMedia,
            &target,
            Some("portal review"),
            None,
        )
    })
    .await?;
    if !state.sessions.reveal(&authed.token, sha256) {
        return Err(PortalError::LoginRequired);
    }
    Ok(Redirect::to(&format!("/reports/{origin}/{key}#item-{sha}")).into_response())
}

/// `GET /media/{origin}/{key}/{sha256}/view`: the revealed item itself, only while this
/// session's reveal of it lasts.
pub async fn view(
    State(state): State<PortalState>,
    authed: Authed,
    Path(item): Path<(String, String, String)>,
) -> Result<Response, PortalError> {
    let sha256 = sha_of(&item.2)?;
    if authed.session.revealed.is_none_or(|(s, _)| s != sha256) {
        return Err(PortalError::Forbidden);
    }
    let (bytes, _, _) = granted(&state, &authed, item).await?;
    // Only picture and video types are shown inline; anything else is a download.
    let sniffed = infer::get(&bytes).map(|k| k.mime_type()).unwrap_or("");
    if (sniffed.starts_with("image/") && !sniffed.contains("svg")) || sniffed.starts_with("video/")
    {
        Ok(([(CONTENT_TYPE, sniffed)], bytes).into_response())
    } else {
        Ok((
            [
                (CONTENT_TYPE, "application/octet-stream"),
                (CONTENT_DISPOSITION, "attachment"),
            ],
            bytes,
        )
            .into_response())
    }
}

//! A test website on loopback for crawler scenarios: generated images and a generated video,
//! a redirect into the gallery, a broken link, an oversized file, an endpoint that never
//! answers, an image that does not decode, and a page with thousands of media links. Nothing
//! here is real content: pictures are gradients and noise drawn by the test.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use image::{ImageFormat, Rgb, RgbImage};

/// Bytes larger than the crawler's media limit in the scenarios ([`crawl_locally`] sets 1 MiB).
pub const OVERSIZED_BYTES: usize = 2 * 1024 * 1024;
/// The crawler's fetch deadline in the scenarios.
pub const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Lets a node's crawler visit the test website: loopback allowed, a 1 MiB media limit, a
/// 2 s fetch deadline, and a CIDR table in `dir` that places loopback in `country`.
pub fn crawl_locally(
    config: &mut safeport_node::config::NodeConfig,
    dir: &std::path::Path,
    country: &str,
) -> anyhow::Result<()> {
    config.crawler.allow_private_addresses = true;
    config.crawler.max_media_bytes = 1024 * 1024;
    config.crawler.fetch_timeout = FETCH_TIMEOUT;
    let table = dir.join("geo.csv");
    std::fs::write(&table, format!("127.0.0.0/8,{country}\n"))?;
    config.hotline.geo_cidr_table = Some(table);
    Ok(())
}

/// A generated picture, distinct per `seed`, encoded as PNG or JPEG.
pub fn picture(seed: u32, format: ImageFormat) -> anyhow::Result<Vec<u8>> {
    let image = RgbImage::from_fn(320, 240, |x, y| {
        let v = x.wrapping_mul(seed + 3) ^ y.wrapping_mul(seed * 7 + 1);
        Rgb([
            (v % 251) as u8,
            ((x + seed * 13) % 256) as u8,
            ((y * 3 + seed) % 256) as u8,
        ])
    });
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format)?;
    Ok(bytes)
}

/// A small generated MP4 file (an `ftyp` box and an `mdat` of noise): enough to be a video
/// file by type, never a picture of anything.
pub fn video(seed: u8) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0, 0x18];
    bytes.extend_from_slice(b"ftypisom\0\0\x02\0isommp41");
    let payload: Vec<u8> = (0..4096u32)
        .map(|i| (i as u8).wrapping_mul(seed | 1))
        .collect();
    bytes.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
    bytes.extend_from_slice(b"mdat");
    bytes.extend_from_slice(&payload);
    bytes
}

/// The crawl state (`queued`, `fetching`, `done`, `failed`) of a hotline's report given by its
/// key in hex, as the node stores it; `None` for an unknown report.
pub fn crawl_state(node: &safeport_node::RunningNode, report_key: &str) -> Option<&'static str> {
    let mut key = [0u8; 16];
    hex::decode_to_slice(report_key, &mut key).ok()?;
    let local = node.store().local_report(&key).ok()??;
    Some(local.crawl.name())
}

/// The site's files by path, for the test to compare against what the crawler stored.
#[derive(Debug, Clone)]
pub struct Site {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Path -> bytes of every media file the gallery links to successfully.
    pub media: BTreeMap<String, Vec<u8>>,
}

impl Site {
    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

#[derive(Clone)]
struct Files(BTreeMap<String, (Vec<u8>, &'static str)>);

const GALLERY: &str = r#"<!doctype html><html><head><title>Test gallery</title>
<meta property="og:image" content="/img/cover.png"></head><body>
<img src="/img/one.png">
<img srcset="/img/two.jpg 1x, /img/one.png 2x">
<video src="/media/clip.mp4" poster="/img/three.png"></video>
<a href="/img/missing.png">broken</a>
<img src="/img/huge.png">
<img src="/img/slow.png">
<img src="/img/broken.png">
<a href="/about.html">about</a>
</body></html>"#;

async fn file(State(files): State<Files>, Path(path): Path<String>) -> Response {
    let key = format!("/{path}");
    match files.0.get(&key) {
        Some((bytes, mime)) => ([(header::CONTENT_TYPE, *mime)], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn many_links() -> impl IntoResponse {
    let mut html = String::from("<html><head><title>Many</title></head><body>");
    for i in 0..5000 {
        html.push_str(&format!("<img src=\"/img/n{i}.png\">"));
    }
    html.push_str("</body></html>");
    ([(header::CONTENT_TYPE, "text/html")], html)
}

/// Starts the site on `127.0.0.1:0`. It lives as long as the runtime.
pub async fn serve() -> anyhow::Result<Site> {
    let mut media = BTreeMap::new();
    media.insert("/img/cover.png".to_owned(), picture(1, ImageFormat::Png)?);
    media.insert("/img/one.png".to_owned(), picture(2, ImageFormat::Png)?);
    media.insert("/img/two.jpg".to_owned(), picture(3, ImageFormat::Jpeg)?);
    media.insert("/img/three.png".to_owned(), picture(4, ImageFormat::Png)?);
    media.insert("/media/clip.mp4".to_owned(), video(5));
    let mut broken = picture(6, ImageFormat::Png)?;
    broken.truncate(broken.len() / 3);
    media.insert("/img/broken.png".to_owned(), broken);

    let mut files: BTreeMap<String, (Vec<u8>, &'static str)> = media
        .iter()
        .map(|(path, bytes)| {
            let mime = if path.ends_with(".mp4") {
                "video/mp4"
            } else if path.ends_with(".jpg") {
                "image/jpeg"
            } else {
                "image/png"
            };
            (path.clone(), (bytes.clone(), mime))
        })
        .collect();
    files.insert(
        "/img/huge.png".into(),
        (vec![0x89; OVERSIZED_BYTES], "image/png"),
    );
    files.insert(
        "/gallery".into(),
        (GALLERY.as_bytes().to_vec(), "text/html; charset=utf-8"),
    );
    let app = Router::new()
        .route("/start", get(|| async { Redirect::temporary("/gallery") }))
        .route("/many", get(many_links))
        // Accepts the request and never answers: the crawler's deadline must end it.
        .route("/img/slow.png", get(std::future::pending::<&'static str>))
        .route("/never", get(std::future::pending::<&'static str>))
        .route("/{*path}", get(file))
        .with_state(Files(files));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Site { addr, media })
}

//! The demo's test websites: small galleries of generated, harmless pictures (gradients, rings
//! and noise drawn here from a seed), served with axum on loopback so the hotlines' real
//! crawler fetches, hashes and stores them. Two sites listen on different loopback addresses
//! (`127.0.0.2` and `127.0.0.3`; Linux routes all of 127/8 to loopback) so the demo's CIDR
//! table can place one in NL and the other in DE.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::net::{Ipv4Addr, SocketAddr};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use image::{ImageFormat, Rgb, RgbImage};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::DemoError;

/// Width and height of every generated picture: large enough for a PDQ hash.
const PICTURE_SIZE: (u32, u32) = (320, 240);

/// One gallery page of a site: its path, title and the pictures it shows (by seed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    /// The path, e.g. `/gallery`.
    pub(crate) path: &'static str,
    /// The page title.
    pub(crate) title: &'static str,
    /// The pictures, by seed; a seed is the same picture (same bytes) on every page and site.
    pub(crate) pictures: &'static [u32],
}

/// Where a site listens and what it serves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SiteSpec {
    /// The loopback address to listen on (the CIDR table places it in a country).
    pub(crate) ip: Ipv4Addr,
    /// The country the demo's CIDR table places the address in.
    pub(crate) country: &'static str,
    /// Its pages.
    pub(crate) pages: &'static [Page],
}

/// A running site.
#[derive(Debug)]
pub(crate) struct Site {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// The path of picture `seed` (PNG for odd seeds, JPEG for even ones, so both decoders run).
pub(crate) fn picture_path(seed: u32) -> String {
    if seed.is_multiple_of(2) {
        format!("/img/{seed}.jpg")
    } else {
        format!("/img/{seed}.png")
    }
}

/// A generated picture, distinct per `seed`: a colour gradient with concentric rings and a
/// little noise. Nothing in it depicts anything.
pub(crate) fn picture(seed: u32) -> Result<(Vec<u8>, &'static str), DemoError> {
    let (width, height) = PICTURE_SIZE;
    let (cx, cy) = (
        (seed.wrapping_mul(73) % width) as i64,
        (seed.wrapping_mul(41) % height) as i64,
    );
    let mut noise = seed.wrapping_mul(0x9e37_79b9) | 1;
    let image = RgbImage::from_fn(width, height, |x, y| {
        // xorshift32: cheap, deterministic per seed.
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let (dx, dy) = (i64::from(x) - cx, i64::from(y) - cy);
        let ring = ((dx * dx + dy * dy) as f64).sqrt() as u32 / (4 + seed % 9);
        let grain = noise % 24;
        Rgb([
            ((x * 255 / width + seed * 37 + grain) % 256) as u8,
            ((y * 255 / height + ring * 29) % 256) as u8,
            ((ring * 53 + seed * 11 + grain) % 256) as u8,
        ])
    });
    let (format, mime) = if seed.is_multiple_of(2) {
        (ImageFormat::Jpeg, "image/jpeg")
    } else {
        (ImageFormat::Png, "image/png")
    };
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), format)
        .map_err(|e| DemoError::Site(format!("cannot encode picture {seed}: {e}")))?;
    Ok((bytes, mime))
}

fn gallery_html(page: &Page) -> String {
    let mut html = format!(
        "<!doctype html><html><head><title>{}</title></head><body><h1>{}</h1>\n",
        page.title, page.title
    );
    for seed in page.pictures {
        html.push_str(&format!("<img src=\"{}\" alt=\"\">\n", picture_path(*seed)));
    }
    html.push_str("</body></html>\n");
    html
}

#[derive(Clone)]
struct Files(std::sync::Arc<BTreeMap<String, (Vec<u8>, &'static str)>>);

async fn file(State(files): State<Files>, Path(path): Path<String>) -> Response {
    match files.0.get(&format!("/{path}")) {
        Some((bytes, mime)) => ([(header::CONTENT_TYPE, *mime)], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl Site {
    /// Generates the site's pages and pictures and serves them on `spec.ip`: on `port` when
    /// given and free (the last run's, so crawled URLs stay valid), else on a new port.
    pub(crate) async fn serve(spec: &SiteSpec, port: Option<u16>) -> Result<Self, DemoError> {
        let mut files = BTreeMap::new();
        for page in spec.pages {
            files.insert(
                page.path.to_owned(),
                (gallery_html(page).into_bytes(), "text/html; charset=utf-8"),
            );
            for seed in page.pictures {
                if let std::collections::btree_map::Entry::Vacant(entry) =
                    files.entry(picture_path(*seed))
                {
                    entry.insert(picture(*seed)?);
                }
            }
        }
        let router = Router::new()
            .route("/{*path}", get(file))
            .with_state(Files(std::sync::Arc::new(files)));
        let listener = match port {
            Some(port) => match tokio::net::TcpListener::bind((spec.ip, port)).await {
                Ok(listener) => Some(listener),
                Err(error) => {
                    tracing::warn!(ip = %spec.ip, port, %error, "last run's website port is taken; using a new one");
                    None
                }
            },
            None => None,
        };
        let listener = match listener {
            Some(listener) => listener,
            None => tokio::net::TcpListener::bind((spec.ip, 0))
                .await
                .map_err(|e| DemoError::Site(format!("cannot listen on {}: {e}", spec.ip)))?,
        };
        let addr = listener
            .local_addr()
            .map_err(|e| DemoError::Site(e.to_string()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    // A dropped sender also means "stop".
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, country = spec.country, "demo website listening");
        Ok(Self {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// `http://addr/path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving; waits up to `drain` for open requests.
    pub(crate) async fn stop(mut self, drain: std::time::Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(drain, &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn pictures_are_distinct_deterministic_and_decodable() {
        let (one, mime) = picture(1).unwrap();
        assert_eq!(mime, "image/png");
        assert_eq!(picture(1).unwrap().0, one);
        assert_ne!(picture(3).unwrap().0, one);
        let hashes = crate::media::hash_media(&one);
        assert_eq!(hashes.dimensions, Some(PICTURE_SIZE));
        assert!(hashes.pdq.is_some(), "{:?}", hashes.pdq_error);
        let (jpeg, mime) = picture(2).unwrap();
        assert_eq!(mime, "image/jpeg");
        assert_eq!(crate::media::hash_media(&jpeg).mime_type, "image/jpeg");
    }
}

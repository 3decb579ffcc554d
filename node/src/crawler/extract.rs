//! What a crawled page points at: its title and every image and video reference (img `src`,
//! `data-src` and `srcset`, picture and video `source`, video `src` and `poster`, links to
//! media files, Open Graph and Twitter card images and videos), resolved against the page's
//! base URL, de-duplicated in document order, and cut at a bound.

use reqwest::Url;
use scraper::{Html, Selector};

/// File extensions that make a plain link a media link.
const MEDIA_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "avif", "heic", "tif", "tiff", "mp4", "m4v",
    "webm", "mov", "avi", "mkv", "wmv", "flv", "mpg", "mpeg", "3gp",
];

/// Longest title kept (characters).
pub const MAX_TITLE_CHARS: usize = 500;

/// The media references and title of one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageLinks {
    /// The page title, trimmed.
    pub title: Option<String>,
    /// Media URLs, in document order, at most the bound given.
    pub media: Vec<Url>,
    /// Media references beyond the bound (counted, not fetched).
    pub dropped: usize,
}

/// `(selector, attribute, is srcset)` for every place a page names media.
const SOURCES: &[(&str, &str, bool)] = &[
    ("meta[property='og:image']", "content", false),
    ("meta[property='og:image:url']", "content", false),
    ("meta[property='og:image:secure_url']", "content", false),
    ("meta[property='og:video']", "content", false),
    ("meta[property='og:video:url']", "content", false),
    ("meta[property='og:video:secure_url']", "content", false),
    ("meta[name='twitter:image']", "content", false),
    ("img[src]", "src", false),
    ("img[data-src]", "data-src", false),
    ("img[srcset]", "srcset", true),
    ("picture source[srcset]", "srcset", true),
    ("video[src]", "src", false),
    ("video[poster]", "poster", false),
    ("video source[src]", "src", false),
    ("a[href]", "href", false),
];

/// Extracts title and media references from `html`, resolving against `page_url` (or the
/// page's `<base href>`), keeping at most `max_media`.
pub fn extract(html: &str, page_url: &Url, max_media: usize) -> PageLinks {
    let document = Html::parse_document(html);
    let base = selector("base[href]")
        .and_then(|s| document.select(&s).next())
        .and_then(|base| base.value().attr("href"))
        .and_then(|href| page_url.join(href).ok())
        .unwrap_or_else(|| page_url.clone());
    let title = selector("title")
        .and_then(|s| document.select(&s).next())
        .map(|t| {
            let text: String = t.text().collect::<String>();
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            text.chars()
                .filter(|c| !c.is_control())
                .take(MAX_TITLE_CHARS)
                .collect()
        })
        .filter(|t: &String| !t.is_empty());

    let mut links = PageLinks {
        title,
        ..PageLinks::default()
    };
    let mut seen = std::collections::HashSet::new();
    // Document order across all sources: collect (position, url) then sort by position.
    let mut found: Vec<(usize, Url)> = Vec::new();
    let positions: std::collections::HashMap<_, usize> = document
        .tree
        .nodes()
        .enumerate()
        .map(|(index, node)| (node.id(), index))
        .collect();
    for (css, attribute, is_srcset) in SOURCES {
        let Some(selector) = selector(css) else {
            continue;
        };
        for element in document.select(&selector) {
            let Some(value) = element.value().attr(attribute) else {
                continue;
            };
            let position = positions.get(&element.id()).copied().unwrap_or(usize::MAX);
            let candidates: Vec<&str> = if *is_srcset {
                srcset_urls(value)
            } else {
                vec![value]
            };
            for candidate in candidates {
                let Some(url) = resolve(&base, candidate) else {
                    continue;
                };
                if *css == "a[href]" && !looks_like_media(&url) {
                    continue;
                }
                found.push((position, url));
            }
        }
    }
    found.sort_by_key(|(position, _)| *position);
    for (_, url) in found {
        if !seen.insert(url.as_str().to_owned()) {
            continue;
        }
        if links.media.len() < max_media {
            links.media.push(url);
        } else {
            links.dropped += 1;
        }
    }
    links
}

fn selector(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

/// The URLs of a `srcset` (each candidate is `url [descriptor]`, comma-separated).
fn srcset_urls(srcset: &str) -> Vec<&str> {
    srcset
        .split(',')
        .filter_map(|candidate| candidate.split_whitespace().next())
        .collect()
}

/// Resolves a reference to an absolute http(s) URL without fragment.
fn resolve(base: &Url, reference: &str) -> Option<Url> {
    let reference = reference.trim();
    if reference.is_empty() || reference.starts_with("data:") {
        return None;
    }
    let mut url = base.join(reference).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    Some(url)
}

fn looks_like_media(url: &Url) -> bool {
    url.path()
        .rsplit('.')
        .next()
        .is_some_and(|ext| MEDIA_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("http://site.example.test/gallery/index.html").unwrap()
    }

    #[test]
    fn finds_every_kind_of_media_reference_in_document_order() {
        let html = r#"<html><head><title>  A  test
            gallery </title>
            <meta property="og:image" content="/og.jpg">
            </head><body>
            <img src="a.png"><img data-src="lazy.webp" src="a.png">
            <img srcset="small.jpg 480w, big.jpg 1080w">
            <picture><source srcset="pic.avif"><img src="pic.jpg"></picture>
            <video src="clip.mp4" poster="poster.jpg"><source src="clip.webm"></video>
            <a href="download/movie.MOV#t=3">movie</a>
            <a href="about.html">not media</a>
            <img src="data:image/png;base64,AAAA">
            <img src="javascript:alert(1)">
            <img src="https://cdn.example.test/x.gif">
            </body></html>"#;
        let links = extract(html, &page(), 100);
        assert_eq!(links.title.as_deref(), Some("A test gallery"));
        let got: Vec<&str> = links.media.iter().map(Url::as_str).collect();
        assert_eq!(
            got,
            vec![
                "http://site.example.test/og.jpg",
                "http://site.example.test/gallery/a.png",
                "http://site.example.test/gallery/lazy.webp",
                "http://site.example.test/gallery/small.jpg",
                "http://site.example.test/gallery/big.jpg",
                "http://site.example.test/gallery/pic.avif",
                "http://site.example.test/gallery/pic.jpg",
                "http://site.example.test/gallery/clip.mp4",
                "http://site.example.test/gallery/poster.jpg",
                "http://site.example.test/gallery/clip.webm",
                "http://site.example.test/gallery/download/movie.MOV",
                "https://cdn.example.test/x.gif",
            ]
        );
        assert_eq!(links.dropped, 0);
    }

    #[test]
    fn base_href_and_the_bound_are_respected() {
        let mut html = String::from(r#"<base href="http://other.example.test/m/">"#);
        for i in 0..5000 {
            html.push_str(&format!("<img src='{i}.png'>"));
        }
        let links = extract(&html, &page(), 100);
        assert_eq!(links.media.len(), 100);
        assert_eq!(links.dropped, 4900);
        assert_eq!(links.media[0].as_str(), "http://other.example.test/m/0.png");
        assert_eq!(links.title, None);
    }
}

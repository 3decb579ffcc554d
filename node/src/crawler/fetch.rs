//! One bounded HTTP fetch: redirects followed by hand (each hop recorded and checked), a size
//! cap enforced while reading, one deadline for the whole exchange, and a resolver that keeps
//! the crawler off private and loopback addresses unless the operator allows them (a reported
//! URL must never become a way into the hotline's own network).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Response headers recorded with a page (lower-case).
pub const RECORDED_HEADERS: &[&str] = &[
    "server",
    "content-type",
    "content-length",
    "last-modified",
    "date",
    "x-powered-by",
    "via",
    "etag",
];

/// Why a fetch failed; the text goes into the report's crawl log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be fetched at all.
    #[error("unsupported URL: {0}")]
    Url(String),
    /// The host resolves only to addresses the crawler may not visit.
    #[error("refused to fetch a private or local address ({0})")]
    PrivateAddress(String),
    /// Too many redirects, or a redirect without a usable target.
    #[error("redirect problem: {0}")]
    Redirect(String),
    /// The body is larger than allowed.
    #[error("larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The whole exchange took longer than allowed.
    #[error("no complete answer within {0} s")]
    Timeout(u64),
    /// Connection, TLS or protocol failure.
    #[error("fetch failed: {0}")]
    Http(String),
}

/// The parts of a fetch the crawler records.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL that answered, after redirects.
    pub final_url: Url,
    /// Every redirect target, in order (empty without redirects).
    pub redirects: Vec<Url>,
    /// HTTP status of the final response.
    pub status: u16,
    /// The recorded headers of the final response.
    pub headers: Vec<(String, String)>,
    /// The address that answered.
    pub remote_ip: Option<IpAddr>,
    /// The body, at most the limit.
    pub body: Vec<u8>,
}

/// Resolves names with the system resolver and drops addresses that are not public unless
/// `allow_private` is set. Literal IP hosts are checked by [`check_literal_host`].
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Whether private, loopback and link-local addresses may be crawled.
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allow_private || is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(FetchError::PrivateAddress(host)) as _);
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether an address is on the public internet (not loopback, private, link-local,
/// unspecified, documentation-only or otherwise special).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 224)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Checks a URL's scheme, credentials and (for literal IP hosts) address before it is fetched.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::Url(format!("scheme {:?}", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::Url("URL carries credentials".into()));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(FetchError::Url("no host".into())),
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        return Err(FetchError::PrivateAddress(ip.to_string()));
    }
    Ok(())
}

/// Builds the crawler's HTTP client: no automatic redirects, the guarded resolver, the user
/// agent, a connect timeout. Certificates are not required to be valid when
/// `accept_invalid_certificates` is set: abuse sites often have broken TLS, and the hotline
/// records what is there rather than trusting it.
pub fn client(
    user_agent: &str,
    connect_timeout: Duration,
    allow_private: bool,
    accept_invalid_certificates: bool,
) -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Environment proxies are not used: where a crawl goes out is the operator's explicit choice.
        .no_proxy()
        .user_agent(user_agent)
        .connect_timeout(connect_timeout)
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .danger_accept_invalid_certs(accept_invalid_certificates)
        .build()
        .map_err(|e| FetchError::Http(e.to_string()))
}

/// Fetches `url`, following at most `max_redirects` redirects, reading at most `max_bytes`,
/// all within `timeout`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    max_redirects: usize,
    max_bytes: u64,
    timeout: Duration,
    allow_private: bool,
) -> Result<Fetched, FetchError> {
    let exchange = fetch_inner(client, url, max_redirects, max_bytes, allow_private);
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| FetchError::Timeout(timeout.as_secs()))?
}

async fn fetch_inner(
    client: &reqwest::Client,
    url: &Url,
    max_redirects: usize,
    max_bytes: u64,
    allow_private: bool,
) -> Result<Fetched, FetchError> {
    let mut current = url.clone();
    let mut redirects = Vec::new();
    loop {
        check_url(&current, allow_private)?;
        let mut response = client.get(current.clone()).send().await.map_err(describe)?;
        let status = response.status();
        if status.is_redirection()
            && let Some(location) = response.headers().get(reqwest::header::LOCATION)
        {
            if redirects.len() == max_redirects {
                return Err(FetchError::Redirect(format!(
                    "more than {max_redirects} redirects"
                )));
            }
            let location = location
                .to_str()
                .map_err(|_| FetchError::Redirect("Location is not text".into()))?;
            let next = current
                .join(location)
                .map_err(|e| FetchError::Redirect(format!("bad Location {location:?}: {e}")))?;
            redirects.push(next.clone());
            current = next;
            continue;
        }
        if response.content_length().is_some_and(|len| len > max_bytes) {
            return Err(FetchError::TooLarge { limit: max_bytes });
        }
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| RECORDED_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                let value = value.to_str().ok()?;
                Some((name.as_str().to_owned(), value.chars().take(1024).collect()))
            })
            .collect();
        let remote_ip = response.remote_addr().map(|addr| addr.ip());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(FetchError::TooLarge { limit: max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(Fetched {
            final_url: current,
            redirects,
            status: status.as_u16(),
            headers,
            remote_ip,
            body,
        });
    }
}

/// reqwest's error with its causes, on one line.
fn describe(error: reqwest::Error) -> FetchError {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    FetchError::Http(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.2.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "2a00:1450::1", "93.184.216.34"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_fetching() {
        let check = |u: &str, allow| check_url(&Url::parse(u).unwrap(), allow);
        assert!(check("https://site.example.test/", false).is_ok());
        assert!(matches!(
            check("ftp://site.example.test/", false),
            Err(FetchError::Url(_))
        ));
        assert!(matches!(
            check("http://user:pw@site.example.test/", false),
            Err(FetchError::Url(_))
        ));
        assert!(matches!(
            check("http://127.0.0.1:8080/", false),
            Err(FetchError::PrivateAddress(_))
        ));
        assert!(check("http://127.0.0.1:8080/", true).is_ok());
    }
}

//! A logged-in portal user for HTTP-level scenarios: logs in through the login form (with its
//! double-submit token), keeps the session cookie, and posts forms with the session's CSRF
//! token, as a browser would, but without following redirects so tests see them.

use anyhow::Context;
use reqwest::StatusCode;
use safeport_node::RunningNode;

const SESSION_COOKIE: &str = "__Host-safeport-session";
const LOGIN_COOKIE: &str = "__Host-safeport-login";

/// A user logged in to one node's portal.
pub struct PortalUser {
    client: reqwest::Client,
    base: String,
    session: String,
    csrf: String,
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
}

/// The value of the hidden input `name` in a page.
pub fn hidden_input(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}

impl PortalUser {
    /// Logs `user` in at `node`'s portal (plain HTTP on loopback).
    pub async fn login(node: &RunningNode, user: &str, password: &str) -> anyhow::Result<Self> {
        let base = format!(
            "http://{}",
            node.portal_addr().context("the portal is off")?
        );
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let form = client.get(format!("{base}/login")).send().await?;
        let login_cookie = set_cookie(&form, LOGIN_COOKIE).context("no login cookie")?;
        let token = hidden_input(&form.text().await?, "csrf").context("no login token")?;
        let response = client
            .post(format!("{base}/login"))
            .header("cookie", format!("{LOGIN_COOKIE}={login_cookie}"))
            .form(&[
                ("csrf", token.as_str()),
                ("username", user),
                ("password", password),
            ])
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::SEE_OTHER,
            "login of {user} refused: {}",
            response.status()
        );
        let session = set_cookie(&response, SESSION_COOKIE).context("no session cookie")?;
        let mut me = Self {
            client,
            base,
            session,
            csrf: String::new(),
        };
        // Every page's logout form carries the session's CSRF token.
        let (_, page) = me.get("/hashlists").await?;
        let (_, page) = if page.contains("name=\"csrf\"") {
            (StatusCode::OK, page)
        } else {
            me.get("/audit").await?
        };
        me.csrf = hidden_input(&page, "csrf").context("no CSRF token on the page")?;
        Ok(me)
    }

    /// `GET path`: status and body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("{SESSION_COOKIE}={}", self.session))
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }

    /// `POST path` with `form` and the session's CSRF token: status and body.
    pub async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", format!("{SESSION_COOKIE}={}", self.session))
            .form(&fields)
            .send()
            .await?;
        Ok((response.status(), response.text().await?))
    }
}

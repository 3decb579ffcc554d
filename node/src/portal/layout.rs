//! The portal's page frame: head with the stylesheet and the one script file (no inline
//! script, so the CSP can forbid it), the navigation the user's roles allow, and the logout
//! form. maud escapes every interpolated value, so report data cannot inject markup.

use maud::{DOCTYPE, Markup, html};

use super::Authed;
use crate::app::accounts::PortalRole;

/// The navigation entries: (path, label, roles that see it).
const NAV: &[(&str, &str, &[PortalRole])] = &[
    (
        "/reports",
        "Reports",
        &[
            PortalRole::Analyst,
            PortalRole::Investigator,
            PortalRole::Reviewer,
        ],
    ),
    (
        "/iwol",
        "IWOL",
        &[
            PortalRole::Analyst,
            PortalRole::Investigator,
            PortalRole::Reviewer,
        ],
    ),
    ("/packages", "Packages", &[PortalRole::Investigator]),
    (
        "/hashlists",
        "Hash lists",
        &[
            PortalRole::Admin,
            PortalRole::Analyst,
            PortalRole::Investigator,
            PortalRole::Reviewer,
        ],
    ),
    ("/agreements", "Agreements", &[PortalRole::Admin]),
    ("/peers", "Peers", &[PortalRole::Admin]),
    ("/audit", "Audit log", &[PortalRole::Auditor]),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) " · Safeport" }
            link rel="stylesheet" href="/assets/portal.css";
            script src="/assets/portal.js" defer {}
        }
    }
}

/// A page for a logged-in user.
pub fn page(authed: &Authed, agency: &str, title: &str, body: Markup) -> Markup {
    let roles: Vec<&str> = authed.user.roles.iter().map(|r| r.as_str()).collect();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    span.brand { "Safeport" }
                    span.agency { (agency) }
                    nav {
                        @for (path, label, roles) in NAV {
                            @if roles.iter().any(|r| authed.user.has(*r)) {
                                a href=(path) { (label) }
                            }
                        }
                    }
                    span.user { (authed.user.name) " (" (roles.join(", ")) ")" }
                    form.logout method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(authed.session.csrf);
                        button type="submit" id="logout" { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without a session (login, errors).
pub fn bare_page(title: &str, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top { span.brand { "Safeport" } }
                main {
                    h1 { (title) }
                    p.message { (message) }
                    p { a href="/" { "Back to the portal" } }
                }
            }
        }
    }
}

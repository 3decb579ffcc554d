//! The IWOL across real nodes over libp2p, driven through their admin APIs: the NL hotline
//! suggests a domain, INTERPOL refuses to list it on one agency's word, the DE hotline
//! confirms, INTERPOL accepts, and every subscribed node (both hotlines and the NL police)
//! receives the new version; a rejected suggestion's reason reaches its suggester; the list
//! held by the police exports as an RPZ zone that `named-checkzone` passes and a real unbound
//! resolver on loopback enforces (listed names and their subdomains answer the stop page, an
//! unlisted name resolves normally), and ISPs fetch it from the public listener with their
//! token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::{Method, StatusCode};
use safeport_node::RunningNode;
use safeport_protocol::report::MediaItem;
use safeport_protocol::{Classification, Role};
use safeport_tests::ops::{Admin, WAIT};
use safeport_tests::{TestFederation, fixtures, loopback_client, wait_until};
use serde_json::{Value, json};

const CRITERIA: [&str; 4] = [
    "real-children",
    "under-13",
    "severe-abuse",
    "online-3-months",
];
const STOP_PAGE: &str = "stop.iwol.example.test";

struct Federation {
    interpol: RunningNode,
    nl: RunningNode,
    de: RunningNode,
    police: RunningNode,
    admin: Admin,
    feed_token: PathBuf,
    _dir: tempfile::TempDir,
}

/// INTERPOL, the NL and DE hotlines and the NL police, peered with INTERPOL; every one
/// subscribed to the IWOL, both hotlines contributing suggestions. The police node serves
/// the ISPs' feed.
async fn federation() -> Federation {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let config = |agency: &str, role, country| {
        federation
            .add_agency(agency, role, country)
            .unwrap()
            .config()
            .unwrap()
    };
    let interpol = safeport_node::start(config("interpol", Role::Interpol, "FR"))
        .await
        .unwrap();
    let nl = safeport_node::start(config("nl-hotline", Role::Hotline, "NL"))
        .await
        .unwrap();
    let de = safeport_node::start(config("de-hotline", Role::Hotline, "DE"))
        .await
        .unwrap();
    let feed_token = dir.path().join("iwol-feed.token");
    let mut police_config = config("nl-police", Role::Lea, "NL");
    police_config.iwol.feed_token_file = Some(feed_token.clone());
    police_config.iwol.stop_page = Some(STOP_PAGE.parse().unwrap());
    let police = safeport_node::start(police_config).await.unwrap();
    let admin = Admin::new().unwrap();
    for (node, agency) in [
        (&nl, "nl-hotline"),
        (&de, "de-hotline"),
        (&police, "nl-police"),
    ] {
        admin.peer(node, &interpol, "interpol").await.unwrap();
        admin
            .agree(
                &interpol,
                node,
                json!({ "template": "iwol-subscription", "provider": "interpol",
                        "recipient": agency, "days": 30 }),
            )
            .await
            .unwrap();
    }
    for (node, agency) in [(&nl, "nl-hotline"), (&de, "de-hotline")] {
        admin
            .agree(
                node,
                &interpol,
                json!({ "template": "iwol-contribution", "provider": agency,
                        "recipient": "interpol", "days": 30 }),
            )
            .await
            .unwrap();
    }
    Federation {
        interpol,
        nl,
        de,
        police,
        admin,
        feed_token,
        _dir: dir,
    }
}

/// A report of `node` on `site-<n>.example.test` with one item of `classification`, received
/// now; its record id.
fn report_on_site(node: &RunningNode, n: u32, classification: Classification) -> String {
    let items: Vec<MediaItem> = vec![fixtures::media_item(n, classification)];
    let mut report = fixtures::report(n, "DE", &items);
    report.received_at = node.app().now();
    let (id, _) = node.app().submit_report(report, &items).unwrap();
    id.to_hex()
}

fn suggestion_at(node: &RunningNode, id: &str) -> Option<Value> {
    let id = id.parse().ok()?;
    let view = node.app().iwol_suggestion(&id).ok()?;
    Some(serde_json::to_value(view).unwrap())
}

fn version_at(node: &RunningNode) -> Option<u64> {
    node.app().iwol_status().unwrap().map(|s| s.version)
}

/// An export of the list held by `node`, through its admin API: status, headers and text.
async fn export_at(
    node: &RunningNode,
    query: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let response = loopback_client()
        .unwrap()
        .get(format!(
            "http://{}/admin/iwol/export?{query}",
            node.admin_addr()
        ))
        .bearer_auth(node.admin_token())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn listed_at(node: &RunningNode) -> Vec<String> {
    node.app()
        .iwol_list()
        .unwrap()
        .map(|l| l.entries.iter().map(|e| e.domain.to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_suggestion_reaches_every_subscriber_and_a_real_resolver_enforces_it() {
    let f = federation().await;
    let evidence = report_on_site(&f.nl, 1, Classification::Baseline);
    let suggested = f
        .admin
        .call(
            &f.nl,
            Method::POST,
            "/admin/iwol/suggestions",
            Some(
                json!({ "domain": "Site-1.Example.Test", "criteria": CRITERIA,
                         "reports": [evidence], "note": "gallery of severe material" }),
            ),
        )
        .await
        .unwrap();
    let id = suggested["record_id"].as_str().unwrap().to_owned();
    wait_until(&f.interpol, WAIT, "the suggestion at INTERPOL", |n| {
        suggestion_at(n, &id).is_some()
    })
    .await
    .unwrap();
    let (status, body) = f
        .admin
        .try_call(
            &f.interpol,
            Method::POST,
            &format!("/admin/iwol/suggestions/{id}/accept"),
            Some(json!({ "reason": "one agency is not enough" })),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("at least 2 agencies")
    );

    // INTERPOL passed the suggestion on to the DE hotline, which confirms it.
    wait_until(&f.de, WAIT, "the suggestion at DE", |n| {
        suggestion_at(n, &id).is_some()
    })
    .await
    .unwrap();
    let own = report_on_site(&f.de, 1, Classification::NationallyIllegal);
    f.admin
        .call(
            &f.de,
            Method::POST,
            &format!("/admin/iwol/suggestions/{id}/confirm"),
            Some(json!({ "criteria": CRITERIA, "reports": [own] })),
        )
        .await
        .unwrap();
    wait_until(&f.interpol, WAIT, "the confirmation at INTERPOL", |n| {
        suggestion_at(n, &id).is_some_and(|v| v["acceptable"] == true)
    })
    .await
    .unwrap();
    let shown = f
        .admin
        .call(
            &f.interpol,
            Method::GET,
            &format!("/admin/iwol/suggestions/{id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(shown["agencies"], json!(["de-hotline", "nl-hotline"]));
    assert_eq!(shown["suggestion"]["reports"][0]["baseline_items"], 1);
    assert_eq!(
        shown["confirmations"][0]["reports"][0]["nationally_illegal_items"],
        1
    );
    let accepted = f
        .admin
        .call(
            &f.interpol,
            Method::POST,
            &format!("/admin/iwol/suggestions/{id}/accept"),
            Some(json!({ "reason": "criteria confirmed by two agencies" })),
        )
        .await
        .unwrap();
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["decision"]["list_version"], 1);

    for node in [&f.nl, &f.de, &f.police] {
        wait_until(node, WAIT, "version 1 at a subscriber", |n| {
            version_at(n) == Some(1)
        })
        .await
        .unwrap();
        assert_eq!(listed_at(node), vec!["site-1.example.test"]);
    }
    for node in [&f.nl, &f.de] {
        wait_until(node, WAIT, "the decision at a suggester", |n| {
            suggestion_at(n, &id).is_some_and(|v| v["status"] == "accepted")
        })
        .await
        .unwrap();
    }

    // The police node's copy for ISPs: over the admin API and the public feed.
    let client = loopback_client().unwrap();
    let (status, headers, zone) = export_at(&f.police, "format=rpz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-safeport-iwol-version"], "1");
    assert_eq!(headers["x-safeport-iwol-stale"], "false");
    let token = std::fs::read_to_string(&f.feed_token).unwrap();
    let feed = |token: Option<String>, format: &'static str| {
        let mut request = client.get(format!("http://{}/iwol/{format}", f.police.http_addr()));
        if let Some(token) = token {
            request = request.bearer_auth(token.trim());
        }
        request.send()
    };
    let fetched = feed(Some(token.clone()), "rpz").await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(
        fetched.text().await.unwrap(),
        zone,
        "the feed serves the same zone"
    );
    assert_eq!(
        feed(None, "rpz").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        feed(Some(f.police.admin_token().to_owned()), "plain")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED,
        "the admin token is not the feed's"
    );
    let plain = feed(Some(token.clone()), "plain").await.unwrap();
    assert_eq!(plain.text().await.unwrap(), "site-1.example.test\n");
    let csv = feed(Some(token), "csv")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("domain,added_at,reasons\nsite-1.example.test,"));
    assert!(
        csv.trim_end()
            .ends_with("real-children;under-13;severe-abuse;online-3-months")
    );

    let resolver_dir = tempfile::tempdir().unwrap();
    check_zone(resolver_dir.path(), &zone);
    let unbound = Unbound::start(resolver_dir.path(), &zone);
    assert_eq!(unbound.answer("site-1.example.test"), STOP_PAGE);
    assert_eq!(unbound.answer("www.site-1.example.test"), STOP_PAGE);
    assert_eq!(unbound.answer("a.b.site-1.example.test"), STOP_PAGE);
    assert_eq!(unbound.answer("clean.example.test"), "192.0.2.10");
    drop(unbound);
    // The NXDOMAIN form of the same list.
    let (_, _, nx_zone) = export_at(&f.police, "format=rpz&nxdomain=true").await;
    check_zone(resolver_dir.path(), &nx_zone);
    let unbound = Unbound::start(resolver_dir.path(), &nx_zone);
    assert_eq!(unbound.status("www.site-1.example.test"), "NXDOMAIN");
    assert_eq!(unbound.status("clean.example.test"), "NOERROR");
    drop(unbound);

    // Delisted: version 2 everywhere, with a higher serial and without the domain.
    f.admin
        .call(
            &f.interpol,
            Method::POST,
            "/admin/iwol/delist",
            Some(json!({ "domain": "site-1.example.test", "reason": "content removed" })),
        )
        .await
        .unwrap();
    for node in [&f.nl, &f.de, &f.police] {
        wait_until(node, WAIT, "version 2 at a subscriber", |n| {
            version_at(n) == Some(2)
        })
        .await
        .unwrap();
        assert!(listed_at(node).is_empty());
    }
    let (_, _, zone_v2) = export_at(&f.police, "format=rpz").await;
    assert!(serial(&zone_v2) > serial(&zone));
    assert!(!zone_v2.contains("site-1.example.test CNAME"));
    check_zone(resolver_dir.path(), &zone_v2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_and_its_reason_reach_the_suggester() {
    let f = federation().await;
    let evidence = report_on_site(&f.nl, 2, Classification::Baseline);
    let suggested = f
        .admin
        .call(
            &f.nl,
            Method::POST,
            "/admin/iwol/suggestions",
            Some(
                json!({ "domain": "site-2.example.test", "criteria": CRITERIA,
                         "reports": [evidence] }),
            ),
        )
        .await
        .unwrap();
    let id = suggested["record_id"].as_str().unwrap().to_owned();
    // Refused at once, with the reason, when a criterion is not checked or the domain is bad.
    let other = report_on_site(&f.nl, 3, Classification::Baseline);
    for (body, expected) in [
        (
            json!({ "domain": "site-3.example.test", "criteria": ["real-children"],
                    "reports": [other] }),
            "not checked: under-13",
        ),
        (
            json!({ "domain": "*.site-2.example.test", "criteria": CRITERIA,
                    "reports": [evidence] }),
            "wildcard",
        ),
        (
            json!({ "domain": "site-2.example.test", "criteria": CRITERIA,
                    "reports": [evidence] }),
            "confirm that suggestion instead",
        ),
    ] {
        let (status, answer) = f
            .admin
            .try_call(&f.nl, Method::POST, "/admin/iwol/suggestions", Some(body))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{answer}"
        );
    }
    wait_until(&f.interpol, WAIT, "the suggestion at INTERPOL", |n| {
        suggestion_at(n, &id).is_some()
    })
    .await
    .unwrap();
    let rejected = f
        .admin
        .call(
            &f.interpol,
            Method::POST,
            &format!("/admin/iwol/suggestions/{id}/reject"),
            Some(json!({ "reason": "drawn material, not real children" })),
        )
        .await
        .unwrap();
    assert_eq!(rejected["status"], "rejected");
    wait_until(&f.nl, WAIT, "the rejection at NL", |n| {
        suggestion_at(n, &id).is_some_and(|v| v["status"] == "rejected")
    })
    .await
    .unwrap();
    let at_nl = f
        .admin
        .call(
            &f.nl,
            Method::GET,
            "/admin/iwol/suggestions?status=rejected",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        at_nl[0]["decision"]["reason"],
        "drawn material, not real children"
    );
    assert_eq!(version_at(&f.nl), None, "nothing was listed");
    let status = f
        .admin
        .call(&f.nl, Method::GET, "/admin/iwol", None)
        .await
        .unwrap();
    assert_eq!(status["held"], false);
}

/// The SOA serial of an RPZ zone.
fn serial(zone: &str) -> u64 {
    let soa = zone.lines().find(|l| l.contains(" SOA ")).unwrap();
    soa.split_whitespace().nth(5).unwrap().parse().unwrap()
}

/// Finds a program on PATH or in the sbin directories (where Debian puts unbound).
fn program(name: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: scripts/bootstrap.sh installs unbound, bind9-utils and bind9-dnsutils")
        })
}

/// `named-checkzone` must accept the zone.
fn check_zone(dir: &Path, zone: &str) {
    let file = dir.join("check.zone");
    std::fs::write(&file, zone).unwrap();
    let out = Command::new(program("named-checkzone"))
        .args(["iwol.rpz"])
        .arg(&file)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "named-checkzone: {printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("OK"), "{printed}");
}

/// An unbound resolver on a loopback port that loads the zone as a response policy zone. The
/// stop page's name is an auth zone (the resolver follows the policy's CNAME to it), the
/// unlisted test name is local data, and the root hints point at loopback, so nothing leaves
/// the machine. Unbound answers `.test` itself by default (RFC 6761); that is turned off.
struct Unbound {
    child: Child,
    port: u16,
}

impl Unbound {
    fn start(dir: &Path, zone: &str) -> Self {
        let zone_file = dir.join("iwol.rpz.zone");
        std::fs::write(&zone_file, zone).unwrap();
        let stop_zone = dir.join("stop.zone");
        std::fs::write(
            &stop_zone,
            format!(
                "$ORIGIN {STOP_PAGE}.\n$TTL 300\n\
                 @ IN SOA localhost. hostmaster.localhost. 1 3600 600 2419200 300\n\
                 @ IN NS localhost.\n@ IN A 192.0.2.99\n"
            ),
        )
        .unwrap();
        let hints = dir.join("root.hints");
        std::fs::write(
            &hints,
            ". 3600000 NS a.root.invalid.\na.root.invalid. 3600000 A 127.0.0.1\n",
        )
        .unwrap();
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.join("unbound.conf");
        std::fs::write(
            &conf,
            format!(
                "server:\n\
                 \x20 interface: 127.0.0.1\n\
                 \x20 port: {port}\n\
                 \x20 do-ip6: no\n\
                 \x20 do-daemonize: no\n\
                 \x20 use-syslog: no\n\
                 \x20 logfile: \"\"\n\
                 \x20 username: \"\"\n\
                 \x20 chroot: \"\"\n\
                 \x20 directory: \"{dir}\"\n\
                 \x20 pidfile: \"{dir}/unbound.pid\"\n\
                 \x20 module-config: \"respip iterator\"\n\
                 \x20 root-hints: \"{hints}\"\n\
                 \x20 access-control: 127.0.0.0/8 allow\n\
                 \x20 do-not-query-localhost: no\n\
                 \x20 local-zone: \"test.\" nodefault\n\
                 \x20 local-zone: \"clean.example.test.\" static\n\
                 \x20 local-data: \"clean.example.test. A 192.0.2.10\"\n\
                 auth-zone:\n\
                 \x20 name: \"{STOP_PAGE}.\"\n\
                 \x20 zonefile: \"{stop}\"\n\
                 \x20 for-downstream: yes\n\
                 \x20 for-upstream: yes\n\
                 \x20 fallback-enabled: no\n\
                 rpz:\n\
                 \x20 name: \"iwol.rpz\"\n\
                 \x20 zonefile: \"{zone}\"\n",
                dir = dir.display(),
                hints = hints.display(),
                stop = stop_zone.display(),
                zone = zone_file.display(),
            ),
        )
        .unwrap();
        let check = Command::new(program("unbound-checkconf"))
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "unbound-checkconf: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(program("unbound"))
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let unbound = Self { child, port };
        // Ready when it answers: each dig waits for an answer (or its one-second timeout).
        let ready = (0..60).any(|_| {
            unbound
                .dig("clean.example.test")
                .is_some_and(|a| !a.is_empty())
        });
        assert!(ready, "unbound did not start answering on port {port}");
        unbound
    }

    /// The answer lines of `dig +short`, or `None` when dig got no answer at all.
    fn dig(&self, name: &str) -> Option<String> {
        let out = Command::new(program("dig"))
            .args([
                "@127.0.0.1",
                "-p",
                &self.port.to_string(),
                "+short",
                "+time=1",
                "+tries=1",
                name,
                "A",
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The response status of a query for `name` (`NOERROR`, `NXDOMAIN`, …).
    fn status(&self, name: &str) -> String {
        let out = Command::new(program("dig"))
            .args([
                "@127.0.0.1",
                "-p",
                &self.port.to_string(),
                "+time=1",
                "+tries=1",
                name,
                "A",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.split("status: ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or("no answer")
            .to_owned()
    }

    /// The first answer for `name`: the CNAME target (without the final dot) or the address.
    fn answer(&self, name: &str) -> String {
        let answer = self.dig(name).unwrap_or_default();
        answer
            .lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_owned()
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

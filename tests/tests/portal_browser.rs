//! The web portal in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, `fantoccini`) against two real nodes on loopback. The NL hotline's analyst logs
//! in, searches with filters, opens the crawled report, reveals a blurred thumbnail,
//! classifies items (by keyboard shortcut and by button) and logs out; the report then reaches
//! the NL police through the national-access agreement, and the investigator (on a portal
//! served over TLS) finds it by its classification and opens it. Screenshots of the main pages
//! go to `<target>/tmp/portal-screenshots/` for a reviewer.
//!
//! Chromium and chromedriver come from Debian (`scripts/bootstrap.sh` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::Method;
use safeport_node::RunningNode;
use safeport_node::app::accounts::PortalRole;
use safeport_node::app::audit::Actor;
use safeport_protocol::{Classification, Role};
use safeport_tests::ops::{Admin, WAIT};
use safeport_tests::{TestFederation, wait_until, website};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

const PASSWORD: &str = "browser test password";
/// Longest wait for the browser to show something.
const BROWSER_WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: tokio::process::Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver is installed by scripts/bootstrap.sh");
    // Ready when it says so (an event, not a timer).
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(BROWSER_WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started successfully") {
                return;
            }
        }
        panic!("chromedriver ended before it was ready");
    })
    .await
    .expect("chromedriver did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Driver { child, port }
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                // The police portal's certificate is self-signed for this test.
                "--ignore-certificate-errors",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session with headless Chromium")
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let path = screenshots().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(BROWSER_WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

async fn login(client: &Client, base: &str, user: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    wait_for(client, "#username")
        .await
        .send_keys(user)
        .await
        .unwrap();
    client
        .find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(client, "#login").await;
    wait_for(client, "#logout").await;
}

async fn click(client: &Client, css: &str) {
    wait_for(client, css).await.click().await.unwrap();
}

async fn type_into(client: &Client, css: &str, text: &str) {
    wait_for(client, css).await.send_keys(text).await.unwrap();
}

async fn logout(client: &Client) {
    click(client, "#logout").await;
    wait_for(client, "#username").await;
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login")
    );
}

async fn text_of(client: &Client, css: &str) -> String {
    wait_for(client, css).await.text().await.unwrap()
}

/// Waits until `css` shows `expected`. After an action the page replaces the item it changed,
/// so the element is looked up afresh each time: one found just before the replacement is
/// stale by the time its text is read, or still shows the old text.
async fn wait_for_text(client: &Client, css: &str, expected: &str) {
    let deadline = std::time::Instant::now() + BROWSER_WAIT;
    loop {
        let shown = match client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        if shown.as_deref() == Some(expected) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} did not show {expected:?} (last: {shown:?})"
        );
        // The same polling fantoccini's own waits do, at a shorter period.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("portal-cert.pem"), dir.join("portal-key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    (cert, key)
}

fn held(node: &RunningNode, key: &str) -> bool {
    let mut k = [0u8; 16];
    hex::decode_to_slice(key, &mut k).unwrap();
    node.store()
        .report_head(&"nl-hotline".parse().unwrap(), &k)
        .unwrap()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyst_and_investigator_work_through_the_portal_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let site = website::serve().await.unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let mut nl_config = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap()
        .config()
        .unwrap();
    website::crawl_locally(&mut nl_config, dir.path(), "NL").unwrap();
    let mut police_config = federation
        .add_agency("nl-police", Role::Lea, "NL")
        .unwrap()
        .config()
        .unwrap();
    let (cert, key) = self_signed(dir.path());
    police_config.portal.tls_certificate = Some(cert);
    police_config.portal.tls_key = Some(key);
    let nl = safeport_node::start(nl_config).await.unwrap();
    let police = safeport_node::start(police_config).await.unwrap();
    let admin = Admin::new().unwrap();
    admin.peer(&police, &nl, "nl-hotline").await.unwrap();
    admin
        .agree(
            &police,
            &nl,
            json!({ "template": "national-access", "provider": "nl-hotline",
                    "recipient": "nl-police", "country": "NL", "classifications": ["baseline"],
                    "days": 30 }),
        )
        .await
        .unwrap();
    nl.app()
        .add_user(
            &Actor::admin(),
            "ana",
            &[PortalRole::Analyst],
            false,
            Some(PASSWORD),
        )
        .unwrap();
    police
        .app()
        .add_user(
            &Actor::admin(),
            "ivo",
            &[PortalRole::Investigator],
            false,
            Some(PASSWORD),
        )
        .unwrap();

    // A tip comes in and is crawled through the real workflow.
    let created: Value = admin
        .call(
            &nl,
            Method::POST,
            "/admin/reports",
            Some(json!({ "url": site.url("/start") })),
        )
        .await
        .unwrap();
    let report_key = created["report_key"].as_str().unwrap().to_owned();
    wait_until(&nl, WAIT, "crawl done", |n| {
        website::crawl_state(n, &report_key) == Some("done")
    })
    .await
    .unwrap();

    // A report on a named domain (hosted in DE, so outside the police's agreement), with a
    // baseline item: what the analyst suggests for the IWOL.
    let listed_item = safeport_tests::fixtures::media_item(70, Classification::Baseline);
    let listed = safeport_tests::fixtures::report(7, "DE", std::slice::from_ref(&listed_item));
    nl.submit_report(listed.clone(), vec![listed_item])
        .await
        .unwrap();

    let driver = chromedriver().await;
    let profile = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path(), downloads.path()).await;
    let hotline_portal = format!("http://{}", nl.portal_addr().unwrap());

    // The analyst: log in, search with filters, open the report.
    client
        .goto(&format!("{hotline_portal}/login"))
        .await
        .unwrap();
    wait_for(&client, "#username").await;
    screenshot(&client, "01-login").await;
    login(&client, &hotline_portal, "ana").await;
    type_into(&client, "#f-text", "gallery").await;
    click(&client, "#f-classification option[value=unassessed]").await;
    click(&client, "#search").await;
    wait_for(&client, "#results a.report").await;
    assert_eq!(text_of(&client, "#total").await, "1 reports");
    let url = client.current_url().await.unwrap();
    assert!(url.query().unwrap().contains("text=gallery"), "{url}");
    assert!(text_of(&client, "#facets").await.contains("NL (1)"));
    screenshot(&client, "02-report-queue").await;
    click(&client, "#results a.report").await;
    wait_for(&client, "#report-meta").await;
    assert!(
        text_of(&client, "#report-meta")
            .await
            .contains("Test gallery")
    );
    let thumbnails = client.find_all(Locator::Css("img.thumb")).await.unwrap();
    assert!(thumbnails.len() >= 4, "blurred thumbnails of the pictures");
    assert!(
        client
            .find_all(Locator::Css("img.revealed"))
            .await
            .unwrap()
            .is_empty()
    );
    // Blurred previews are pictures made on the server, at most 160 pixels wide, not the
    // originals (320): wait for each to load or fail (events), then read their sizes.
    let widths: Value = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const images = Array.from(document.querySelectorAll('img.thumb'));
             Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })))
               .then(() => done(images.map(i => i.naturalWidth)));",
            vec![],
        )
        .await
        .unwrap();
    let widths = widths.as_array().unwrap();
    assert!(
        widths
            .iter()
            .all(|w| (1..=160).contains(&w.as_u64().unwrap())),
        "{widths:?}"
    );
    screenshot(&client, "03-report-blurred").await;

    // Reveal the first picture: the page comes back with it unblurred, and the reveal is audited.
    let first = wait_for(&client, ".item:has(img.thumb)").await;
    let sha = first.attr("data-sha256").await.unwrap().unwrap();
    first
        .find(Locator::Css("button.reveal"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "img.revealed").await;
    let width: Value = client
        .execute(
            "return document.querySelector('img.revealed').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(width, json!(320), "the original picture, revealed");
    screenshot(&client, "04-report-revealed").await;
    assert!(
        nl.app()
            .audit_entries(0, 1000)
            .unwrap()
            .iter()
            .any(|e| e.record.action == "reveal-media"
                && e.record.actor == "user:ana"
                && e.record.target.contains(&sha))
    );

    // Classify the revealed item with the keyboard ("b": baseline; the page focuses it).
    client
        .active_element()
        .await
        .unwrap()
        .send_keys("b")
        .await
        .unwrap();
    let classified = format!("#item-{sha} .classified-by");
    wait_for_text(&client, &classified, "analyst:ana").await;
    wait_for_text(&client, &format!("#item-{sha} .classification"), "baseline").await;
    // And another with its button.
    let other = client
        .find(Locator::Css(&format!(
            ".item:not(#item-{sha}):has(img.thumb)"
        )))
        .await
        .unwrap();
    let other_sha = other.attr("data-sha256").await.unwrap().unwrap();
    other
        .find(Locator::Css("button[value=not-illegal]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(
        &client,
        &format!("#item-{other_sha} .classification"),
        "not-illegal",
    )
    .await;
    screenshot(&client, "05-report-classified").await;

    // Suggest the named domain for the IWOL from its report's page.
    client
        .goto(&format!(
            "{hotline_portal}/reports?domain=site-7.example.test"
        ))
        .await
        .unwrap();
    wait_for(&client, "#results a.report")
        .await
        .click()
        .await
        .unwrap();
    let domain = wait_for(&client, "#iwol-domain").await;
    assert_eq!(
        domain.prop("value").await.unwrap().as_deref(),
        Some("site-7.example.test")
    );
    for checkbox in client
        .find_all(Locator::Css("#iwol-form input[name=criteria]"))
        .await
        .unwrap()
    {
        checkbox.click().await.unwrap();
    }
    click(&client, "#iwol-suggest").await;
    let row = text_of(&client, "#suggestions").await;
    assert!(
        row.contains("site-7.example.test") && row.contains("open"),
        "{row}"
    );
    screenshot(&client, "06-iwol-suggested").await;
    logout(&client).await;
    // The old session is over: the reports page sends the browser back to the login.
    client
        .goto(&format!("{hotline_portal}/reports"))
        .await
        .unwrap();
    wait_for(&client, "#username").await;

    // The investigator, on the police node's TLS portal, once the report has arrived.
    wait_until(&police, WAIT, "report at the police", |n| {
        held(n, &report_key)
    })
    .await
    .unwrap();
    let police_portal = format!("https://{}", police.portal_addr().unwrap());
    login(&client, &police_portal, "ivo").await;
    click(&client, "#f-classification option[value=baseline]").await;
    click(&client, "#search").await;
    wait_for(&client, "#results a.report").await;
    assert_eq!(text_of(&client, "#total").await, "1 reports");
    screenshot(&client, "07-police-search").await;
    click(&client, "#results a.report").await;
    wait_for(&client, "#report-meta").await;
    // Hashes only under this agreement: the baseline item is listed, its content is not shared,
    // and the not-illegal one is not shown at all.
    let items = text_of(&client, "#items").await;
    assert!(
        items.contains(&sha) && !items.contains(&other_sha),
        "{items}"
    );
    assert!(items.contains("Content not shared under the agreement"));
    screenshot(&client, "08-police-report").await;

    // Compose a package from the search results and download it.
    client
        .goto(&format!("{police_portal}/reports?classification=baseline"))
        .await
        .unwrap();
    wait_for(&client, "#results input[name=report]")
        .await
        .click()
        .await
        .unwrap();
    type_into(&client, "#case-reference", "CASE-2026-17").await;
    type_into(&client, "#package-purpose", "investigation of site").await;
    click(&client, "#compose-package").await;
    let zip = downloads.path().join("safeport-package-CASE-2026-17.zip");
    // Chromium writes the file in its own time; wait for it, bounded.
    tokio::time::timeout(BROWSER_WAIT, async {
        while !zip.exists() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the package was downloaded");
    let bytes = std::fs::read(&zip).unwrap();
    assert!(bytes.starts_with(b"PK\x03\x04"), "a zip archive");
    let audited = police.app().audit_entries(0, 1000).unwrap();
    assert!(audited.iter().any(|e| e.record.action == "package"
        && e.record.actor == "user:ivo"
        && e.record.purpose.as_deref() == Some("case CASE-2026-17: investigation of site")));
    logout(&client).await;
    client.close().await.unwrap();

    police.shutdown().await.unwrap();
    nl.shutdown().await.unwrap();
}

//! Police access across real nodes: the NL police holds what its agreement with the NL hotline
//! grants (NL-hosted reports, baseline items, hashes only) and nothing else; an investigator
//! composes an intelligence package that a recipient checks with standard tools alone
//! (`unzip -t`, `sha256sum -c`, `openssl pkeyutl -verify`) and with `safeport-admin package
//! verify`, each of which fails after tampering; a report outside what the node may show is
//! 404 exactly like one it never held, also after the agreement ends; and each operation of
//! the session leaves one entry in the node's verified audit trail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use safeport_node::RunningNode;
use safeport_protocol::report::MediaItem;
use safeport_protocol::{Classification, Role};
use safeport_tests::ops::{Admin, WAIT};
use safeport_tests::{TestFederation, fixtures, loopback_client, wait_until};
use serde_json::{Value, json};

const INVESTIGATOR: &str = "investigator-7";

/// Submits a report of `n` hosted in `country` with items of `classes` at the hotline; its
/// `origin/key` reference.
async fn submit(node: &RunningNode, n: u32, country: &str, classes: &[Classification]) -> String {
    let items: Vec<MediaItem> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| fixtures::media_item(n * 10 + i as u32, *c))
        .collect();
    let report = fixtures::report(n, country, &items);
    let key = hex::encode(report.report_key);
    node.submit_report(report, items).await.unwrap();
    format!("nl-hotline/{key}")
}

/// An admin API call as the investigator: status and body bytes.
async fn call(
    node: &RunningNode,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let mut request = loopback_client()
        .unwrap()
        .request(method, format!("http://{}{path}", node.admin_addr()))
        .bearer_auth(node.admin_token())
        .header("x-safeport-actor", INVESTIGATOR);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

fn package_body(report: &str) -> Value {
    json!({ "reports": [report], "case_reference": "NL-2026-0042",
            "purpose": "identify the hosting provider", "recipient": "nl-prosecutor" })
}

fn run(dir: &Path, program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/bootstrap.sh installs it)"))
        .status
        .success()
}

/// Extracts `zip` into a fresh directory and runs the three standard checks there.
fn standard_checks(work: &Path, name: &str, zip: &[u8]) -> (bool, bool, bool) {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("package.zip"), zip).unwrap();
    let unzip_ok = run(&dir, "unzip", &["-t", "-q", "package.zip"]);
    run(&dir, "unzip", &["-q", "-o", "package.zip", "-d", "x"]);
    (
        unzip_ok,
        sums_ok(&dir.join("x")),
        signature_ok(&dir.join("x")),
    )
}

fn sums_ok(dir: &Path) -> bool {
    run(dir, "sha256sum", &["-c", "--quiet", "SHA256SUMS"])
}

fn signature_ok(dir: &Path) -> bool {
    let key = Command::new("openssl")
        .args(["x509", "-in", "node-certificate.pem", "-pubkey", "-noout"])
        .current_dir(dir)
        .output()
        .unwrap();
    std::fs::write(dir.join("node.pub.pem"), &key.stdout).unwrap();
    run(
        dir,
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "node.pub.pem",
            "-rawin",
            "-in",
            "manifest.json",
            "-sigfile",
            "manifest.sig",
        ],
    )
}

/// Rewrites the extracted package in `dir` into a zip again (after tampering).
fn rezip(dir: &Path) -> Vec<u8> {
    let out = dir.join("../re.zip");
    let _ = std::fs::remove_file(&out);
    assert!(run(
        dir,
        "zip",
        &["-q", "-r", "-0", out.to_str().unwrap(), "."]
    ));
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_investigator_packages_only_what_the_agreement_grants_and_recipients_can_check_it() {
    let dir = tempfile::tempdir().unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let root = federation.root_certificate();
    let nl = federation
        .add_agency("nl-hotline", Role::Hotline, "NL")
        .unwrap();
    let police_dir = federation.add_agency("nl-police", Role::Lea, "NL").unwrap();
    let nl = safeport_node::start(nl.config().unwrap()).await.unwrap();
    let police = safeport_node::start(police_dir.config().unwrap())
        .await
        .unwrap();
    let admin = Admin::new().unwrap();
    admin.peer(&police, &nl, "nl-hotline").await.unwrap();
    let agreement = admin
        .agree(
            &police,
            &nl,
            json!({ "template": "national-access", "provider": "nl-hotline",
                    "recipient": "nl-police", "country": "NL", "classifications": ["baseline"],
                    "days": 30 }),
        )
        .await
        .unwrap();

    use Classification::*;
    let granted = submit(&nl, 1, "NL", &[Baseline, NotIllegal]).await;
    let elsewhere = submit(&nl, 2, "DE", &[Baseline]).await;
    let national_only = submit(&nl, 3, "NL", &[NationallyIllegal]).await;
    let sentinel = submit(&nl, 4, "NL", &[Baseline]).await;
    wait_until(&police, WAIT, "the sentinel report at the police", |n| {
        n.app()
            .visible_report(&"nl-hotline".parse().unwrap(), &hex_key(&sentinel))
            .is_ok()
    })
    .await
    .unwrap();

    // Outside the agreement: 404, the same answer as for a report that never existed.
    let never = "nl-hotline/00000000000000000000000000000000";
    let (status, missing_body) = call(&police, Method::GET, &held_path(never), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for hidden in [&elsewhere, &national_only] {
        let (status, body) = call(&police, Method::GET, &held_path(hidden), None).await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &missing_body));
        let (status, body) = call(
            &police,
            Method::POST,
            "/admin/packages",
            Some(package_body(hidden)),
        )
        .await;
        assert_eq!((status, &body), (StatusCode::NOT_FOUND, &missing_body));
    }

    let (status, shown) = call(&police, Method::GET, &held_path(&granted), None).await;
    assert_eq!(status, StatusCode::OK);
    let shown: Value = serde_json::from_slice(&shown).unwrap();
    assert_eq!(shown["agreement"], agreement);
    assert_eq!(shown["items"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["items"][0]["classification"], "baseline");

    // Content: the agreement grants hashes only, so the content is "not found" like anything
    // else outside it; the agency behind the report, from its certificate.
    let media = format!(
        "{}/media/{}?purpose=identify",
        held_path(&granted),
        shown["items"][0]["sha256"].as_str().unwrap()
    );
    let (status, body) = call(&police, Method::GET, &media, None).await;
    assert_eq!((status, &body), (StatusCode::NOT_FOUND, &missing_body));
    let (status, body) = call(&police, Method::GET, "/admin/agencies/nl-hotline", None).await;
    assert_eq!(status, StatusCode::OK);
    let agency: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (agency["role"].as_str(), agency["country"].as_str()),
        (Some("hotline"), Some("NL"))
    );
    assert_eq!(agency["organisation"], "Test agency nl-hotline");
    assert_eq!(
        agency["contact"],
        json!({ "emails": ["contact@nl-hotline.example"], "phone": "+31 20 555 0100",
                "url": "https://nl-hotline.example/contact" })
    );

    // At the hotline, its own report's content, with a stated purpose only (hosted in DE, so
    // it stays outside the police's agreement and the searches below).
    let content = b"synthetic media bytes, not a picture of anything".to_vec();
    let sha = nl.blobs().put(&content).unwrap();
    let mut own_item = fixtures::media_item(900, Baseline);
    own_item.sha256 = sha;
    let own_report = fixtures::report(90, "DE", std::slice::from_ref(&own_item));
    let own_key = hex::encode(own_report.report_key);
    nl.submit_report(own_report, vec![own_item]).await.unwrap();
    let path = format!(
        "/admin/held/nl-hotline/{own_key}/media/{}",
        hex::encode(sha)
    );
    let (status, body) = call(&nl, Method::GET, &format!("{path}?purpose=triage"), None).await;
    assert_eq!((status, body), (StatusCode::OK, content));
    let (status, _) = call(&nl, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "content needs a purpose");

    // Searches and facets see the same: two NL reports, their baseline items only.
    let all = search(&police, "").await;
    assert_eq!(all["total"], 2, "{all}");
    assert_eq!(all["facets"]["classification"], json!([["baseline", 2]]));
    assert_eq!(all["facets"]["country"], json!([["NL", 2]]));
    assert_eq!(all["facets"]["hotline"], json!([["nl-hotline", 2]]));
    assert_eq!(all["results"][0]["classifications"], json!(["baseline"]));
    for (filter, total) in [
        ("country=DE", 0),
        ("classification=not-illegal", 0),
        ("classification=nationally-illegal", 0),
        ("text=site-1.", 1),
    ] {
        assert_eq!(search(&police, filter).await["total"], total, "{filter}");
    }

    let (status, zip) = call(
        &police,
        Method::POST,
        "/admin/packages",
        Some(package_body(&granted)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&zip));
    let work = dir.path().join("checks");
    assert_eq!(standard_checks(&work, "intact", &zip), (true, true, true));
    let extracted = work.join("intact/x");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(extracted.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "safeport-intelligence-package/1");
    assert_eq!(manifest["case_reference"], "NL-2026-0042");
    assert_eq!(manifest["composed_by"]["actor"], INVESTIGATOR);
    assert_eq!(manifest["composed_by"]["agency"], "nl-police");
    let reports = manifest["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["agreement"], agreement);
    assert_eq!(reports[0]["items"].as_array().unwrap().len(), 1);
    assert_eq!(reports[0]["items"][0]["agreement"], agreement);
    assert!(
        reports[0]["items"][0]["content"].is_null(),
        "hashes-only agreement"
    );
    let vics = std::fs::read_to_string(extracted.join("hashes.vics.json")).unwrap();
    let sha = reports[0]["items"][0]["sha256"].as_str().unwrap();
    assert!(vics.contains(sha));
    let package_file = dir.path().join("package.zip");
    std::fs::write(&package_file, &zip).unwrap();
    let roots = vec![root.clone()];
    let now = safeport_admin::now();
    let checked = safeport_admin::package::verify(&package_file, &roots, &[], now).unwrap();
    assert_eq!(
        (checked.reports, checked.composed_by.as_str()),
        (1, "nl-police")
    );

    // Tampering: a byte of the archive, a file, the manifest, the signature.
    let mut flipped = zip.clone();
    let at = find(&flipped, b"\"reported_url\"").unwrap();
    flipped[at + 3] ^= 0x20;
    assert!(
        !standard_checks(&work, "flipped", &flipped).0,
        "unzip -t notices the CRC"
    );
    for (name, file, edit) in [
        (
            "file",
            reports[0]["file"].as_str().unwrap().to_owned(),
            b"x".as_slice(),
        ),
        ("manifest", "manifest.json".to_owned(), b" ".as_slice()),
    ] {
        let copy = work.join(format!("{name}-tampered"));
        run(
            &work,
            "cp",
            &["-r", extracted.to_str().unwrap(), copy.to_str().unwrap()],
        );
        let _ = std::fs::remove_file(copy.join("node.pub.pem"));
        let mut bytes = std::fs::read(copy.join(&file)).unwrap();
        bytes.extend_from_slice(edit);
        std::fs::write(copy.join(&file), bytes).unwrap();
        assert!(!sums_ok(&copy), "sha256sum -c notices the {name}");
        if name == "manifest" {
            assert!(!signature_ok(&copy), "openssl notices the manifest");
        }
        let tampered = dir.path().join(format!("{name}.zip"));
        std::fs::write(&tampered, rezip(&copy)).unwrap();
        let refused = safeport_admin::package::verify(&tampered, &roots, &[], now).unwrap_err();
        assert!(refused.to_string().contains("does not"), "{refused}");
    }
    let copy = work.join("sig-tampered");
    run(
        &work,
        "cp",
        &["-r", extracted.to_str().unwrap(), copy.to_str().unwrap()],
    );
    let _ = std::fs::remove_file(copy.join("node.pub.pem"));
    let mut signature = std::fs::read(copy.join("manifest.sig")).unwrap();
    signature[10] ^= 1;
    std::fs::write(copy.join("manifest.sig"), signature).unwrap();
    assert!(sums_ok(&copy), "the signature is not in SHA256SUMS");
    assert!(!signature_ok(&copy), "openssl notices the signature");
    let tampered = dir.path().join("sig.zip");
    std::fs::write(&tampered, rezip(&copy)).unwrap();
    assert!(safeport_admin::package::verify(&tampered, &roots, &[], now).is_err());
    // Another federation's root does not vouch for the signer.
    let other = TestFederation::create(&dir.path().join("other"), "Other Federation").unwrap();
    assert!(
        safeport_admin::package::verify(&package_file, &[other.root_certificate()], &[], now)
            .is_err()
    );
    // The police rotates its key later and the authority retires the certificate that signed
    // the package as superseded: the package still verifies. Revoked for a compromise, it
    // does not.
    let later = safeport_protocol::Timestamp::from_secs(now.as_secs() + 2);
    let retired_crl = dir.path().join("retired.crl.pem");
    federation
        .revoke_with_reason(
            &police_dir.serial,
            safeport_protocol::pki::RevocationReason::Superseded,
            later,
            &retired_crl,
        )
        .unwrap();
    let checked =
        safeport_admin::package::verify(&package_file, &roots, &[retired_crl], later).unwrap();
    assert_eq!(checked.reports, 1);
    let compromised_crl = dir.path().join("compromised.crl.pem");
    federation
        .revoke_with_reason(
            &police_dir.serial,
            safeport_protocol::pki::RevocationReason::KeyCompromise,
            later,
            &compromised_crl,
        )
        .unwrap();
    let refused = safeport_admin::package::verify(&package_file, &roots, &[compromised_crl], later)
        .unwrap_err();
    assert!(refused.to_string().contains("revoked"), "{refused}");

    // The agreement ends: what it allowed is invisible, like what never existed.
    let (status, _) = call(
        &police,
        Method::POST,
        &format!("/admin/agreements/{agreement}/revoke"),
        Some(json!({ "reason": "case closed" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(&police, Method::GET, &held_path(&granted), None).await;
    assert_eq!((status, &body), (StatusCode::NOT_FOUND, &missing_body));
    let after = search(&police, "").await;
    assert_eq!(after["total"], 0, "{after}");
    assert_eq!(after["facets"]["country"], json!([]));

    // One audit entry per operation of the session, in order, and the chain verifies.
    let entries = admin
        .call(&police, Method::GET, "/admin/audit?limit=100", None)
        .await
        .unwrap();
    let session: Vec<(String, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("agreement-propose", "admin-token"),
        ("view-report", INVESTIGATOR),
        ("view-agency", INVESTIGATOR),
        ("search", INVESTIGATOR),
        ("search", INVESTIGATOR),
        ("search", INVESTIGATOR),
        ("search", INVESTIGATOR),
        ("search", INVESTIGATOR),
        ("package", INVESTIGATOR),
        ("agreement-revoke", INVESTIGATOR),
        ("search", INVESTIGATOR),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(session, expected);
    let package_entry = &entries[8];
    assert!(
        package_entry["purpose"]
            .as_str()
            .unwrap()
            .contains("NL-2026-0042")
    );
    assert_eq!(package_entry["recipient"], "nl-prosecutor");
    let verified = admin
        .call(&police, Method::GET, "/admin/audit/verify", None)
        .await
        .unwrap();
    assert_eq!(verified["entries"], 11);
    assert!(verified["broken"].is_null());
}

/// A search at `node` as the investigator.
async fn search(node: &RunningNode, filter: &str) -> Value {
    let (status, body) = call(node, Method::GET, &format!("/admin/search?{filter}"), None).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn held_path(reference: &str) -> String {
    format!("/admin/held/{reference}")
}

fn hex_key(reference: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    hex::decode_to_slice(reference.split_once('/').unwrap().1, &mut key).unwrap();
    key
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

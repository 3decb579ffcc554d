//! `safeport-admin` end to end, as an operator runs it: a federation root, a node key, an agency
//! certificate, revocation and a CRL; checked by our own `cert verify` and by `openssl`, so what
//! the tool writes is interoperable. Also bad input: every failure is a clear message and a
//! non-zero exit, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::{offline as admin, offline_failure as failure, offline_json as ok_json};

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed (scripts/bootstrap.sh)")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

struct Fixture {
    _dir: tempfile::TempDir,
    ca: std::path::PathBuf,
    root: std::path::PathBuf,
    node: std::path::PathBuf,
}

fn fixture() -> Fixture {
    named_fixture("Test Federation")
}

fn named_fixture(name: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let node = dir.path().join("node");
    ok_json(&["ca", "init", "--dir", p(&ca), "--name", name]);
    ok_json(&["node", "init", "--dir", p(&node)]);
    Fixture {
        root: ca.join("root.pem"),
        ca,
        node,
        _dir: dir,
    }
}

fn issue(f: &Fixture, agency: &str, role: &str, out: &Path) -> serde_json::Value {
    ok_json(&[
        "ca",
        "issue",
        "--ca-dir",
        p(&f.ca),
        "--public-key",
        p(&f.node.join("node.pub.pem")),
        "--agency-id",
        agency,
        "--role",
        role,
        "--country",
        "NL",
        "--organisation",
        "Test Hotline NL",
        "--out",
        p(out),
    ])
}

#[test]
fn issue_verify_revoke_with_safeport_and_openssl() {
    let f = fixture();
    assert_eq!(mode(&f.ca.join("root.key")), 0o600);
    assert_eq!(mode(&f.node.join("node.key")), 0o600);

    let cert = f.node.join("node.pem");
    let other = f.node.join("other.pem");
    let issued = issue(&f, "nl-hotline", "hotline", &cert);
    issue(&f, "nl-police", "lea", &other);
    let serial = issued["serial"].as_str().unwrap().to_owned();

    // Our own verification, with role and key policy.
    let verified = ok_json(&[
        "cert",
        "verify",
        p(&cert),
        "--root",
        p(&f.root),
        "--role",
        "hotline",
        "--key",
        p(&f.node.join("node.pub.pem")),
    ]);
    assert_eq!(verified["agency"], "nl-hotline");
    assert_eq!(verified["serial"], serial.as_str());
    let wrong_role = failure(&[
        "cert",
        "verify",
        p(&cert),
        "--root",
        p(&f.root),
        "--role",
        "lea",
    ]);
    assert!(wrong_role.contains("role"), "{wrong_role}");

    // openssl accepts the chain and shows the agency fields.
    let out = openssl(&["verify", "-CAfile", p(&f.root), p(&cert)]);
    assert!(
        out.status.success(),
        "openssl verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = openssl(&["x509", "-noout", "-text", "-in", p(&cert)]);
    let text = String::from_utf8_lossy(&text.stdout);
    for field in [
        "CN = nl-hotline",
        "OU = hotline",
        "C = NL",
        "O = Test Hotline NL",
        "ED25519",
    ] {
        assert!(
            text.contains(field),
            "openssl x509 -text lacks {field:?}:\n{text}"
        );
    }

    // Revoke one, publish a CRL: openssl and Safeport both reject it and accept the other.
    let revoked = ok_json(&["ca", "revoke", "--ca-dir", p(&f.ca), "--cert", p(&cert)]);
    assert_eq!(revoked["serial"], serial.as_str());
    assert_eq!(revoked["agency"], "nl-hotline");
    let crl = f.ca.join("crl.pem");
    let published = ok_json(&["ca", "crl", "--ca-dir", p(&f.ca), "--out", p(&crl)]);
    assert_eq!(published["revoked"], 1);
    assert_eq!(published["crl_number"], 1);

    let out = openssl(&[
        "verify",
        "-CAfile",
        p(&f.root),
        "-CRLfile",
        p(&crl),
        "-crl_check",
        p(&cert),
    ]);
    assert!(
        !out.status.success(),
        "openssl accepted a revoked certificate"
    );
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("revoked"), "{said}");
    let out = openssl(&[
        "verify",
        "-CAfile",
        p(&f.root),
        "-CRLfile",
        p(&crl),
        "-crl_check",
        p(&other),
    ]);
    assert!(
        out.status.success(),
        "openssl with CRL: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let reason = failure(&[
        "cert",
        "verify",
        p(&cert),
        "--root",
        p(&f.root),
        "--crl",
        p(&crl),
    ]);
    assert!(reason.contains("revoked"), "{reason}");
    ok_json(&[
        "cert",
        "verify",
        p(&other),
        "--root",
        p(&f.root),
        "--crl",
        p(&crl),
    ]);

    // Time is an input: after expiry the same certificate is refused.
    let later = failure(&[
        "cert",
        "verify",
        p(&other),
        "--root",
        p(&f.root),
        "--at",
        "2099-01-01T00:00:00Z",
    ]);
    assert!(later.contains("expired"), "{later}");
}

/// `ca issue` for nl-hotline into `out`, then `extra` (contact flags).
fn issue_args(f: &Fixture, out: &Path, extra: &[&str]) -> Vec<String> {
    let public_key = f.node.join("node.pub.pem");
    let mut args = vec![
        "ca",
        "issue",
        "--ca-dir",
        p(&f.ca),
        "--public-key",
        p(&public_key),
        "--agency-id",
        "nl-hotline",
        "--role",
        "hotline",
        "--country",
        "NL",
        "--organisation",
        "Test Hotline NL",
        "--out",
        p(out),
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(str::to_owned).collect()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn contact_fields_are_certified_and_shown_by_cert_verify_and_openssl() {
    let f = fixture();
    let cert = f.node.join("node.pem");
    let issued = ok_json(&strs(&issue_args(
        &f,
        &cert,
        &[
            "--contact-email",
            "hotline@nl-hotline.example",
            "--contact-email",
            "duty@nl-hotline.example",
            "--contact-phone",
            "+31 20 555 0100",
            "--contact-url",
            "https://nl-hotline.example/contact",
        ],
    )));
    let expected = serde_json::json!({
        "emails": ["hotline@nl-hotline.example", "duty@nl-hotline.example"],
        "phone": "+31 20 555 0100",
        "url": "https://nl-hotline.example/contact",
    });
    assert_eq!(issued["contact"], expected);
    let verified = ok_json(&["cert", "verify", p(&cert), "--root", p(&f.root)]);
    assert_eq!(verified["contact"], expected);
    assert_eq!(verified["agency"], "nl-hotline");
    // The readable summary shows them too.
    let summary = admin(&["cert", "verify", p(&cert), "--root", p(&f.root)]);
    assert!(summary.status.success());
    let summary = String::from_utf8_lossy(&summary.stdout);
    assert!(
        summary.contains("contact") && summary.contains("duty@nl-hotline.example"),
        "{summary}"
    );

    let text = openssl(&["x509", "-noout", "-text", "-in", p(&cert)]);
    let text = String::from_utf8_lossy(&text.stdout);
    // The phone is an attribute of the subject name (openssl quotes it: it starts with '+').
    let subject_line = text
        .lines()
        .find(|line| line.trim_start().starts_with("Subject:"))
        .unwrap_or_default();
    assert!(
        subject_line.contains("telephoneNumber = ") && subject_line.contains("+31 20 555 0100"),
        "{subject_line}"
    );
    for field in [
        "email:hotline@nl-hotline.example",
        "email:duty@nl-hotline.example",
        "URI:https://nl-hotline.example/contact",
    ] {
        assert!(
            text.contains(field),
            "openssl x509 -text lacks {field:?}:\n{text}"
        );
    }
    let out = openssl(&["verify", "-CAfile", p(&f.root), p(&cert)]);
    assert!(
        out.status.success(),
        "openssl verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without contact flags: an empty contact, as before.
    let plain = f.node.join("plain.pem");
    issue(&f, "nl-police", "lea", &plain);
    let verified = ok_json(&["cert", "verify", p(&plain), "--root", p(&f.root)]);
    assert_eq!(
        verified["contact"],
        serde_json::json!({ "emails": [], "phone": null, "url": null })
    );
}

#[test]
fn bad_contact_values_are_refused_before_anything_is_written() {
    let f = fixture();
    let out = f.node.join("never.pem");
    let ledger_before = std::fs::read_to_string(f.ca.join("ca.json")).unwrap();
    let too_many: Vec<String> = (0..5)
        .flat_map(|i| ["--contact-email".to_owned(), format!("desk{i}@nl.example")])
        .collect();
    let too_many: Vec<&str> = too_many.iter().map(String::as_str).collect();
    for (extra, says) in [
        (vec!["--contact-email", "not-an-address"], "contact email"),
        (
            vec!["--contact-email", "hotline@localhost"],
            "contact email",
        ),
        (
            vec!["--contact-phone", "call the front desk"],
            "contact phone",
        ),
        (
            vec!["--contact-url", "http://nl-hotline.example/"],
            "contact URL",
        ),
        (
            vec!["--contact-url", "https://user@nl-hotline.example/"],
            "contact URL",
        ),
        (too_many, "at most 4"),
    ] {
        let reason = failure(&strs(&issue_args(&f, &out, &extra)));
        assert!(reason.contains(says), "{extra:?}: {reason}");
        assert!(!out.exists(), "{extra:?} wrote a certificate");
    }
    assert_eq!(
        std::fs::read_to_string(f.ca.join("ca.json")).unwrap(),
        ledger_before
    );
}

#[test]
fn a_root_of_another_federation_is_refused() {
    let ours = named_fixture("Our Federation");
    let theirs = named_fixture("Their Federation");
    let cert = theirs.node.join("node.pem");
    issue(&theirs, "de-hotline", "hotline", &cert);
    let reason = failure(&["cert", "verify", p(&cert), "--root", p(&ours.root)]);
    assert!(
        reason.contains("not a configured federation root"),
        "{reason}"
    );
    let out = openssl(&["verify", "-CAfile", p(&ours.root), p(&cert)]);
    assert!(!out.status.success());
    // A root with the same name but another key: the signature gives it away.
    let impostor = named_fixture("Our Federation");
    let forged = impostor.node.join("node.pem");
    issue(&impostor, "nl-hotline", "hotline", &forged);
    let reason = failure(&["cert", "verify", p(&forged), "--root", p(&ours.root)]);
    assert!(reason.contains("does not verify"), "{reason}");
    assert!(
        !openssl(&["verify", "-CAfile", p(&ours.root), p(&forged)])
            .status
            .success()
    );
}

#[test]
fn bad_input_gives_clear_errors() {
    let f = fixture();
    let cert = f.node.join("node.pem");
    issue(&f, "nl-hotline", "hotline", &cert);
    let pem = std::fs::read_to_string(&cert).unwrap();

    let truncated = f.node.join("truncated.pem");
    std::fs::write(&truncated, &pem[..pem.len() / 2]).unwrap();
    let reason = failure(&["cert", "verify", p(&truncated), "--root", p(&f.root)]);
    assert!(reason.contains("truncated.pem"), "{reason}");

    let corrupted = f.node.join("corrupted.pem");
    std::fs::write(&corrupted, pem.replacen("MII", "M!I", 1)).unwrap();
    failure(&["cert", "verify", p(&corrupted), "--root", p(&f.root)]);

    let bad_key = f.node.join("bad.pub.pem");
    std::fs::write(
        &bad_key,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let out = f.node.join("never.pem");
    let reason = failure(&[
        "ca",
        "issue",
        "--ca-dir",
        p(&f.ca),
        "--public-key",
        p(&bad_key),
        "--agency-id",
        "nl-hotline",
        "--role",
        "hotline",
        "--country",
        "NL",
        "--organisation",
        "X",
        "--out",
        p(&out),
    ]);
    assert!(reason.contains("public key"), "{reason}");
    assert!(!out.exists(), "a failed issue wrote a file");

    for (flag, value, expect) in [
        ("--country", "XX", "ISO 3166"),
        ("--role", "police", "unknown role"),
        ("--agency-id", "NL Hotline", "agency id"),
    ] {
        let mut args = vec![
            "ca",
            "issue",
            "--ca-dir",
            p(&f.ca),
            "--public-key",
            "x",
            "--agency-id",
            "nl-hotline",
            "--role",
            "hotline",
            "--country",
            "NL",
            "--organisation",
            "X",
            "--out",
            p(&out),
        ];
        let at = args.iter().position(|a| *a == flag).unwrap();
        args[at + 1] = value;
        let reason = failure(&args);
        assert!(reason.contains(expect), "{flag} {value}: {reason}");
    }

    // A truncated root key: the CA refuses to open.
    let key = std::fs::read_to_string(f.ca.join("root.key")).unwrap();
    std::fs::write(f.ca.join("root.key"), &key[..40]).unwrap();
    failure(&[
        "ca",
        "crl",
        "--ca-dir",
        p(&f.ca),
        "--out",
        p(&f.ca.join("crl.pem")),
    ]);

    // Re-running init never overwrites an existing key.
    let reason = failure(&["node", "init", "--dir", p(&f.node)]);
    assert!(reason.contains("node.key"), "{reason}");
}

#[test]
fn every_command_explains_its_options() {
    for command in [
        vec!["--help"],
        vec!["ca", "init", "--help"],
        vec!["ca", "issue", "--help"],
        vec!["ca", "revoke", "--help"],
        vec!["ca", "crl", "--help"],
        vec!["node", "init", "--help"],
        vec!["node", "new-key", "--help"],
        vec!["node", "install-key", "--help"],
        vec!["cert", "verify", "--help"],
        vec!["hashes", "publish", "--help"],
        vec!["hashes", "check", "--help"],
    ] {
        let out = admin(&command);
        assert!(out.status.success(), "{command:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--json"), "{command:?} lacks --json:\n{help}");
        assert!(help.contains("Usage"), "{command:?}");
    }
    let help = String::from_utf8_lossy(&admin(&["ca", "issue", "--help"]).stdout).into_owned();
    for option in [
        "--public-key",
        "--agency-id",
        "--role",
        "--country",
        "--contact-email",
        "--contact-phone",
        "--contact-url",
        "--days",
        "--out",
    ] {
        assert!(help.contains(option), "ca issue --help lacks {option}");
    }
}

/// Digests by the system's own tools (coreutils), independent of Safeport's code.
fn system_digest(tool: &str, path: &Path) -> String {
    let out = Command::new(tool).arg(path).output().expect("coreutils");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn media_hash_matches_independent_digests_and_the_published_pdq() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/pdq/bridge-mods/aaa-orig.jpg");
    let noise = dir.path().join("noise.bin");
    std::fs::write(
        &noise,
        (0..100_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let hashed = ok_json(&["media", "hash", p(&bridge), p(&noise)]);
    let hashed = hashed.as_array().unwrap();
    assert_eq!(hashed.len(), 2);
    for (entry, path) in hashed.iter().zip([&bridge, &noise]) {
        assert_eq!(entry["md5"], system_digest("md5sum", path));
        assert_eq!(entry["sha1"], system_digest("sha1sum", path));
        assert_eq!(entry["sha256"], system_digest("sha256sum", path));
    }
    // Meta's published hash of this photo; the port reproduces it exactly.
    assert_eq!(
        hashed[0]["pdq"],
        "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22"
    );
    assert_eq!(hashed[0]["pdq_quality"], 100);
    assert!(hashed[1]["pdq"].is_null());

    let table = admin(&["media", "hash", p(&bridge)]);
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("quality 100"));

    let missing = failure(&["media", "hash", p(&dir.path().join("missing.jpg"))]);
    assert!(missing.contains("missing.jpg"), "{missing}");
}

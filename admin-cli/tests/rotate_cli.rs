//! Node key rotation with `safeport-admin`, offline, as an operator and the authority run it:
//! `node new-key`, `ca issue` for the new public key, `node install-key` (which refuses a
//! certificate for another agency, for another key, or not newer than the installed one, and
//! changes nothing then), and `ca revoke --reason superseded` of the retired certificate, which
//! may later be made strict (`key-compromise`) but never softened; `openssl` reads the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use safeport_protocol::pki::{AgencySubject, Contact};
use safeport_protocol::{AgencyId, Country, Role, Timestamp};

use common::{offline as admin, offline_failure as failure, offline_json as ok_json};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn issue(ca: &Path, public_key: &Path, agency: &str, out: &Path) -> String {
    let issued = ok_json(&[
        "ca",
        "issue",
        "--ca-dir",
        p(ca),
        "--public-key",
        p(public_key),
        "--agency-id",
        agency,
        "--role",
        if agency.ends_with("hotline") {
            "hotline"
        } else {
            "lea"
        },
        "--country",
        "NL",
        "--organisation",
        "Test agency",
        "--out",
        p(out),
    ]);
    issued["serial"].as_str().unwrap().to_owned()
}

#[test]
fn a_node_key_is_rotated_and_its_first_certificate_retired() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let node = dir.path().join("node");
    // The root and the node's first certificate date from an hour ago (through the library:
    // the CLI always issues from now).
    let hour_ago = Timestamp::from_secs(safeport_admin::now().as_secs() - 3600);
    safeport_admin::ca::init(&ca, "Test Federation", 3650, hour_ago).unwrap();
    ok_json(&["node", "init", "--dir", p(&node)]);
    std::fs::copy(ca.join("root.pem"), node.join("federation-root.pem")).unwrap();
    let first_serial = {
        let mut ca_dir = safeport_admin::ca::CaDir::open(&ca).unwrap();
        safeport_admin::ca::issue(
            &mut ca_dir,
            &AgencySubject {
                agency: AgencyId::new("nl-hotline").unwrap(),
                role: Role::Hotline,
                country: Country::new("NL").unwrap(),
                organisation: "Test agency".into(),
            },
            &Contact::default(),
            &read(&node.join("node.pub.pem")),
            365,
            hour_ago,
            &node.join("node.pem"),
        )
        .unwrap()
        .serial
    };
    let first_key = read(&node.join("node.key"));
    let first_certificate = read(&node.join("node.pem"));

    let made = ok_json(&["node", "new-key", "--dir", p(&node)]);
    let next_key = PathBuf::from(made["key_file"].as_str().unwrap());
    let next_public = PathBuf::from(made["public_key_file"].as_str().unwrap());
    assert_eq!(
        std::fs::metadata(&next_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A second new key would silently replace the first: refused.
    assert!(failure(&["node", "new-key", "--dir", p(&node)]).contains("exists"));
    let next_key_pem = read(&next_key);

    let config = node.join("node.toml");
    let install = |cert: &Path| {
        vec![
            "node".to_owned(),
            "install-key".into(),
            "--config".into(),
            p(&config).into(),
            "--key".into(),
            p(&next_key).into(),
            "--cert".into(),
            p(cert).into(),
        ]
    };
    let unchanged = || {
        assert_eq!(read(&node.join("node.key")), first_key);
        assert_eq!(read(&node.join("node.pem")), first_certificate);
        assert!(next_key.exists());
    };
    // Refused: a certificate of another agency for the new key.
    let police = dir.path().join("police.pem");
    issue(&ca, &next_public, "nl-police", &police);
    let args = install(&police);
    let refusal = failure(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(refusal.contains("nl-police"), "{refusal}");
    unchanged();
    // Refused: a certificate that certifies another key (the current one).
    let current_again = dir.path().join("current-again.pem");
    issue(
        &ca,
        &node.join("node.pub.pem"),
        "nl-hotline",
        &current_again,
    );
    let args = install(&current_again);
    let refusal = failure(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(refusal.contains("key"), "{refusal}");
    unchanged();

    // Installed: the authority's certificate for the new key.
    let next_certificate = dir.path().join("next.pem");
    let next_serial = issue(&ca, &next_public, "nl-hotline", &next_certificate);
    let mut args = vec!["--json".to_owned()];
    args.extend(install(&next_certificate));
    let out = admin(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(installed["agency"], "nl-hotline");
    assert_eq!(installed["retired_serial"], first_serial.as_str());
    assert_eq!(installed["installed_serial"], next_serial.as_str());
    assert!(installed["leftover"].is_null());
    assert_eq!(read(&node.join("node.key")), next_key_pem);
    assert_eq!(read(&node.join("node.pem")), read(&next_certificate));
    assert!(!next_key.exists());
    let retired_key = PathBuf::from(installed["retired_key_file"].as_str().unwrap());
    assert_eq!(read(&retired_key), first_key);
    assert_eq!(
        std::fs::metadata(&retired_key)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let retired_certificate =
        PathBuf::from(installed["retired_certificate_file"].as_str().unwrap());
    assert_eq!(read(&retired_certificate), first_certificate);
    assert!(
        installed["next"]
            .as_str()
            .unwrap()
            .contains("--reason superseded")
    );

    // The authority retires the first certificate; a retirement may become strict, never the
    // other way round.
    let revoke = |reason: &str| {
        vec![
            "ca",
            "revoke",
            "--ca-dir",
            p(&ca),
            "--cert",
            p(&retired_certificate),
            "--reason",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([reason.to_owned()])
        .collect::<Vec<String>>()
    };
    let mut json_args = vec!["--json".to_owned()];
    json_args.extend(revoke("superseded"));
    let out = admin(&as_strs(&json_args));
    assert!(out.status.success());
    let revoked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(revoked["serial"], first_serial.as_str());
    assert_eq!(revoked["reason"], "superseded");
    let crl = dir.path().join("crl.pem");
    ok_json(&["ca", "crl", "--ca-dir", p(&ca), "--out", p(&crl)]);
    let text = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in", p(&crl)])
        .output()
        .expect("openssl is installed (scripts/bootstrap.sh)");
    assert!(String::from_utf8_lossy(&text.stdout).contains("Superseded"));

    assert!(failure(&as_strs(&revoke("bogus"))).contains("unknown reason"));
    let out = admin(&as_strs(&revoke("key-compromise")));
    assert!(out.status.success());
    let refusal = failure(&as_strs(&revoke("superseded")));
    assert!(refusal.contains("never softened"), "{refusal}");
    ok_json(&["ca", "crl", "--ca-dir", p(&ca), "--out", p(&crl)]);
    let text = Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in", p(&crl)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("Key Compromise"));
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

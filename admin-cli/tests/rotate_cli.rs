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
    let (ca, node, first_serial) = federation_and_node(dir.path());
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

/// The root and a node with its first certificate, both from an hour ago (through the library:
/// the CLI always issues from now): `(ca dir, node dir, first serial)`.
fn federation_and_node(dir: &Path) -> (PathBuf, PathBuf, String) {
    let ca = dir.join("ca");
    let node = dir.join("node");
    let hour_ago = Timestamp::from_secs(safeport_admin::now().as_secs() - 3600);
    safeport_admin::ca::init(&ca, "Test Federation", 3650, hour_ago).unwrap();
    ok_json(&["node", "init", "--dir", p(&node)]);
    std::fs::copy(ca.join("root.pem"), node.join("federation-root.pem")).unwrap();
    let mut ca_dir = safeport_admin::ca::CaDir::open(&ca).unwrap();
    let serial = safeport_admin::ca::issue(
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
    .serial;
    (ca, node, serial)
}

#[test]
fn an_interrupted_install_finishes_when_run_again_and_the_media_key_follows() {
    use safeport_node::blob_key;
    use safeport_node::blobs::BlobStore;
    use safeport_node::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let (ca, node, first_serial) = federation_and_node(dir.path());
    let agency = AgencyId::new("nl-hotline").unwrap();
    let first_key =
        safeport_protocol::NodeKey::from_pkcs8_pem(&read(&node.join("node.key"))).unwrap();
    // The node has run: its database holds the media key, wrapped for the first key.
    let db = node.join("data").join(safeport_node::DB_DIR);
    let blob_dir = dir.path().join("blobs");
    let sha256 = {
        let store = Store::open(&db).unwrap();
        let media_key = blob_key::open(&store, &agency, &first_key).unwrap();
        BlobStore::open_with_key(&blob_dir, &media_key, 1024)
            .unwrap()
            .put(b"synthetic media")
            .unwrap()
    };
    // Whether `key` opens the media stored before the rotation.
    let reads_media = |store: &Store, key: &safeport_protocol::NodeKey| {
        let media_key = blob_key::open(store, &agency, key).unwrap();
        BlobStore::open_with_key(&blob_dir, &media_key, 1024)
            .unwrap()
            .get(&sha256)
            .unwrap()
            .as_deref()
            == Some(b"synthetic media".as_slice())
    };

    ok_json(&["node", "new-key", "--dir", p(&node)]);
    let next_key_file = node.join("node.next.key");
    let next_key = safeport_protocol::NodeKey::from_pkcs8_pem(&read(&next_key_file)).unwrap();
    let next_certificate = dir.path().join("next.pem");
    issue(
        &ca,
        &node.join("node.next.pub.pem"),
        "nl-hotline",
        &next_certificate,
    );

    let config = node.join("node.toml");
    let install = [
        "node",
        "install-key",
        "--config",
        p(&config),
        "--key",
        p(&next_key_file),
        "--cert",
        p(&next_certificate),
    ];
    // While the node runs, its database is locked: refused, nothing changed.
    {
        let _running = Store::open(&db).unwrap();
        let refusal = failure(&install);
        assert!(refusal.contains("stop the node"), "{refusal}");
        assert_eq!(
            read(&node.join("node.key")),
            first_key.to_pkcs8_pem().unwrap()
        );
    }

    // A crash after the key was replaced and before the certificate was: what install-key
    // leaves by then (the retired pair, the media key wrapped for both keys, the new key).
    std::fs::copy(
        node.join("node.key"),
        node.join(format!("node.key.{first_serial}.retired")),
    )
    .unwrap();
    std::fs::copy(
        node.join("node.pem"),
        node.join(format!("node.pem.{first_serial}.retired")),
    )
    .unwrap();
    {
        let store = Store::open(&db).unwrap();
        blob_key::add_next_key(&store, &agency, &first_key, &next_key).unwrap();
    }
    std::fs::copy(&next_key_file, node.join("node.key")).unwrap();
    // Run again, it finishes.
    let installed = ok_json(&install);
    assert_eq!(installed["retired_serial"], first_serial.as_str());
    assert_eq!(read(&node.join("node.pem")), read(&next_certificate));
    assert!(!next_key_file.exists());
    // The node starting with the new key opens the same media key, and drops the old wrapping.
    {
        let store = Store::open(&db).unwrap();
        assert!(reads_media(&store, &next_key));
        assert!(blob_key::open(&store, &agency, &first_key).is_err());
    }

    // A backup from before the rotation restored under the new key: its database wraps the
    // media key for the first key only. `rewrap-media-key` lets the new key open it.
    std::fs::remove_dir_all(&db).unwrap();
    {
        let store = Store::open(&db).unwrap();
        blob_key::open(&store, &agency, &first_key).unwrap();
        assert!(blob_key::open(&store, &agency, &next_key).is_err());
    }
    let retired_key = node.join(format!("node.key.{first_serial}.retired"));
    let rewrapped = ok_json(&[
        "node",
        "rewrap-media-key",
        "--config",
        p(&node.join("node.toml")),
        "--from-key",
        p(&retired_key),
    ]);
    assert_eq!(rewrapped["now_opens_with"], next_key.public().to_hex());
    let store = Store::open(&db).unwrap();
    assert!(reads_media(&store, &next_key));
}

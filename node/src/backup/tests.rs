//! Backups of a store with signed records from two agencies and encrypted blobs: a round trip
//! that verifies every record, and every kind of refusal leaving the target as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use safeport_protocol::pki::{self, AgencySubject, Validity};
use safeport_protocol::report::{Hosting, IntakeChannel, Report};
use safeport_protocol::{Classification, Country, NodeKey, RawRecord, RecordId, Role, Signed};

use sha2::{Digest, Sha256};

use super::*;
use crate::store::CURRENT_SCHEMA_VERSION;

const BACKUP_SECS: u64 = 1_800_000_000;
const BLOB_SEED: [u8; 32] = [7; 32];

struct Node {
    dir: tempfile::TempDir,
    store: Store,
    blob_dir: PathBuf,
    blobs: BlobStore,
    root_pem: String,
    records: Vec<RawRecord>,
}

fn root() -> (NodeKey, String) {
    let key = NodeKey::from_seed([9; 32]);
    let validity = Validity::days_from(Timestamp::from_secs(1_780_000_000), 3650);
    let pem = pki::create_root(&key, "Test Federation", validity, [9; 16]).unwrap();
    (key, pem)
}

fn certificate(root: &(NodeKey, String), agency: &str, role: Role, key: &NodeKey) -> String {
    let subject = AgencySubject {
        agency: AgencyId::new(agency).unwrap(),
        role,
        country: Country::new("NL").unwrap(),
        organisation: format!("Test {agency}"),
    };
    let validity = Validity::days_from(Timestamp::from_secs(1_790_000_000), 365);
    pki::issue_agency_certificate(&root.0, &root.1, &subject, &key.public(), validity, [3; 16])
        .unwrap()
}

fn record(key: &NodeKey, origin: &str, n: u8) -> RawRecord {
    let report = Report {
        report_key: [n; 16],
        revision: 1,
        reported_url: format!("https://site-{n}.example.test/"),
        intake: IntakeChannel::PublicForm,
        received_at: Timestamp::from_secs(BACKUP_SECS - 100),
        redirects: vec![],
        hosting: Hosting {
            ip: None,
            country: None,
        },
        page: None,
        media: vec![],
    };
    let origin = AgencyId::new(origin).unwrap();
    let at = Timestamp::from_secs(BACKUP_SECS - 10);
    Signed::sign(key, origin, u64::from(n), at, report)
        .unwrap()
        .raw()
        .clone()
}

/// A hotline's store: two own records, one from the police, and two blobs.
fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let root = root();
    let hotline = NodeKey::from_seed([3; 32]);
    let police = NodeKey::from_seed([4; 32]);
    let store = Store::open(dir.path().join("data").join(DB_DIR)).unwrap();
    let mut batch = store.batch();
    let me = AgencyId::new("nl-hotline").unwrap();
    batch
        .put_certificate(
            &me,
            &certificate(&root, "nl-hotline", Role::Hotline, &hotline),
        )
        .unwrap();
    let police_id = AgencyId::new("nl-police").unwrap();
    batch
        .put_certificate(
            &police_id,
            &certificate(&root, "nl-police", Role::Lea, &police),
        )
        .unwrap();
    batch.commit().unwrap();
    let records = vec![
        record(&hotline, "nl-hotline", 1),
        record(&hotline, "nl-hotline", 2),
        record(&police, "nl-police", 3),
    ];
    for raw in &records {
        store.insert_record(raw).unwrap();
    }
    let blob_dir = dir.path().join("data").join(BLOBS_DIR);
    let blobs = BlobStore::open(&blob_dir, &BLOB_SEED, 1 << 20).unwrap();
    blobs.put(b"first synthetic media").unwrap();
    blobs.put(b"second synthetic media").unwrap();
    Node {
        dir,
        store,
        blob_dir,
        blobs,
        root_pem: root.1,
        records,
    }
}

impl Node {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn backup(&self, dir: &Path) -> Result<BackupSummary, BackupError> {
        let me = AgencyId::new("nl-hotline").unwrap();
        let at = Timestamp::from_secs(BACKUP_SECS);
        create(&self.store, &self.blob_dir, dir, &me, at)
    }

    fn options(&self) -> RestoreOptions {
        RestoreOptions {
            anchors: vec![TrustAnchor::from_pem(&self.root_pem).unwrap()],
            accept_unverified: false,
        }
    }
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A change to a backup's manifest, as an attacker or a damaged disk would make it.
type ManifestEdit = fn(&mut serde_json::Value);

fn edit_manifest(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join(MANIFEST_FILE);
    let mut value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut value);
    fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
}

#[test]
fn a_backup_restores_with_every_record_verified() {
    let node = node();
    let summary = node.backup(&node.path("backup")).unwrap();
    assert_eq!((summary.records, summary.blobs), (3, 2));
    // Writes after the backup stay out of it.
    let later = record(&NodeKey::from_seed([3; 32]), "nl-hotline", 4);
    node.store.insert_record(&later).unwrap();

    let manifest = read_manifest(&node.path("backup")).unwrap();
    assert_eq!(manifest.files.len(), summary.files);
    assert_eq!(
        (manifest.agency.as_str(), manifest.record_count),
        ("nl-hotline", 3)
    );
    assert!(manifest.files.iter().any(|f| f.path == "db/CURRENT"));
    // The blobs are copied as stored: encrypted, byte for byte.
    let blob = manifest
        .files
        .iter()
        .find(|f| f.path.starts_with("blobs/"))
        .unwrap();
    let copied = fs::read(node.path("backup").join(&blob.path)).unwrap();
    assert_eq!(
        copied,
        fs::read(node.blob_dir.join(&blob.path[6..])).unwrap()
    );

    let report = restore(
        &node.path("backup"),
        &node.path("restored"),
        &node.options(),
    )
    .unwrap();
    assert_eq!((report.records_verified, report.records_failed), (3, 0));
    assert_eq!((report.blobs, report.files), (2, manifest.files.len()));
    assert_eq!(report.agency, "nl-hotline");
    // The police's outbox is fenced; the node's own agency has none.
    assert_eq!(report.outboxes_fenced, 1);
    assert_eq!(names(node.dir.path()), ["backup", "data", "restored"]);

    let store = Store::open(node.path("restored").join(DB_DIR)).unwrap();
    assert_eq!(store.record_count().unwrap(), 3);
    for raw in &node.records {
        assert_eq!(store.record(&raw.id()).unwrap().as_ref(), Some(raw));
    }
    assert_eq!(store.record(&later.id()).unwrap(), None);
    let police = AgencyId::new("nl-police").unwrap();
    assert_eq!(store.outbox_head(&police).unwrap(), OUTBOX_FENCE_GAP);
    let blobs = BlobStore::open(&node.path("restored").join(BLOBS_DIR), &BLOB_SEED, 1 << 20);
    let content = blobs
        .unwrap()
        .get(&Sha256::digest(b"first synthetic media").into());
    assert_eq!(content.unwrap().unwrap(), b"first synthetic media");
}

#[test]
fn non_empty_targets_and_the_nodes_own_data_are_refused() {
    let node = node();
    fs::create_dir(node.path("busy")).unwrap();
    fs::write(node.path("busy").join("keep"), b"x").unwrap();
    assert!(matches!(
        node.backup(&node.path("busy")),
        Err(BackupError::NotEmpty { .. })
    ));
    assert_eq!(names(&node.path("busy")), ["keep"]);
    for inside in [node.blob_dir.join("copy"), node.store.path().join("copy")] {
        assert!(matches!(
            node.backup(&inside),
            Err(BackupError::Target { .. })
        ));
        assert!(!inside.exists());
    }

    // An existing empty directory is fine, for a backup and for a restore.
    fs::create_dir(node.path("backup")).unwrap();
    node.backup(&node.path("backup")).unwrap();
    let err = restore(&node.path("backup"), &node.path("busy"), &node.options()).unwrap_err();
    assert!(err.to_string().contains("is not empty"), "{err}");
    assert_eq!(names(&node.path("busy")), ["keep"]);
    fs::create_dir(node.path("empty")).unwrap();
    restore(&node.path("backup"), &node.path("empty"), &node.options()).unwrap();
    assert!(node.path("empty").join(DB_DIR).join("CURRENT").is_file());
    // The restored directory is no longer empty.
    assert!(matches!(
        restore(&node.path("backup"), &node.path("empty"), &node.options()),
        Err(BackupError::NotEmpty { .. })
    ));
}

#[test]
fn a_damaged_or_altered_backup_changes_nothing() {
    let node = node();
    let backup = node.path("backup");
    node.backup(&backup).unwrap();
    let target = node.path("restored");
    let refused = |expected: &str| {
        let err = restore(&backup, &target, &node.options()).unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
        assert!(!target.exists());
        // No staging directory is left behind either.
        assert_eq!(names(node.dir.path()), ["backup", "data"]);
    };

    let manifest = read_manifest(&backup).unwrap();
    let blob = backup.join(&manifest.files.last().unwrap().path);
    let original = fs::read(&blob).unwrap();
    let mut flipped = original.clone();
    flipped[10] ^= 1;
    fs::write(&blob, &flipped).unwrap();
    refused("does not match the SHA-256");
    fs::write(&blob, &original[..original.len() - 1]).unwrap();
    refused("does not have the size");
    fs::write(&blob, &original).unwrap();

    let stray = backup.join(BLOBS_DIR).join("00").join("0".repeat(64));
    fs::create_dir_all(stray.parent().unwrap()).unwrap();
    fs::write(&stray, b"x").unwrap();
    refused("is not listed in the manifest");
    fs::remove_dir_all(stray.parent().unwrap()).unwrap();

    let db_file = backup.join(&manifest.files[0].path);
    let db_bytes = fs::read(&db_file).unwrap();
    fs::remove_file(&db_file).unwrap();
    refused("is missing");
    fs::write(&db_file, db_bytes).unwrap();

    let saved = fs::read(backup.join(MANIFEST_FILE)).unwrap();
    let edits: [(ManifestEdit, &str); 5] = [
        (
            |m| m["files"][0]["path"] = "db/../../etc/passwd".into(),
            "is not a path a backup holds",
        ),
        (
            |m| m["schema_version"] = (CURRENT_SCHEMA_VERSION + 1).into(),
            "schema version",
        ),
        (
            |m| m["format"] = "something-else".into(),
            "is not a Safeport backup",
        ),
        (
            |m| m["blob_count"] = 1.into(),
            "lists 1 blobs, the backup holds 2",
        ),
        (
            |m| m["record_count"] = 5.into(),
            "the manifest lists 5 records, the backup holds 3",
        ),
    ];
    for (edit, expected) in edits {
        fs::write(backup.join(MANIFEST_FILE), &saved).unwrap();
        edit_manifest(&backup, edit);
        refused(expected);
    }
    fs::remove_file(backup.join(MANIFEST_FILE)).unwrap();
    refused("backup.json is missing");
    fs::write(backup.join(MANIFEST_FILE), &saved).unwrap();

    restore(&backup, &target, &node.options()).unwrap();
}

#[test]
fn records_that_do_not_verify_are_refused_unless_accepted() {
    let node = node();
    // Claims to be the hotline's, signed by another key.
    let forged = record(&NodeKey::from_seed([5; 32]), "nl-hotline", 7);
    node.store.insert_record(&forged).unwrap();
    node.backup(&node.path("backup")).unwrap();
    let target = node.path("restored");

    let err = restore(&node.path("backup"), &target, &node.options()).unwrap_err();
    assert!(
        matches!(
            err,
            BackupError::Unverified {
                failed: 1,
                total: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(!target.exists());

    let accepting = RestoreOptions {
        accept_unverified: true,
        ..node.options()
    };
    let report = restore(&node.path("backup"), &target, &accepting).unwrap();
    assert_eq!((report.records_verified, report.records_failed), (3, 1));
    assert_eq!(report.failures[0].record, forged.id().to_hex());
    assert_eq!(report.failures[0].origin.as_deref(), Some("nl-hotline"));

    // Certificates must chain to the roots given.
    let other = NodeKey::from_seed([11; 32]);
    let validity = Validity::days_from(Timestamp::from_secs(1_780_000_000), 3650);
    let foreign = pki::create_root(&other, "Other Federation", validity, [1; 16]).unwrap();
    let foreign = RestoreOptions {
        anchors: vec![TrustAnchor::from_pem(&foreign).unwrap()],
        accept_unverified: false,
    };
    let err = restore(&node.path("backup"), &node.path("other"), &foreign).unwrap_err();
    assert!(
        matches!(err, BackupError::Unverified { failed: 4, .. }),
        "{err}"
    );
    assert!(matches!(
        restore(
            &node.path("backup"),
            &node.path("other"),
            &RestoreOptions::default()
        ),
        Err(BackupError::NoRoots)
    ));
}

#[test]
fn a_backup_refuses_a_blob_store_elsewhere() {
    let node = node();
    let mut item = safeport_tests::fixtures::media_item(1, Classification::Baseline);
    item.sha256 = Sha256::digest(b"first synthetic media").into();
    let mut batch = node.store.batch();
    batch.put_media_item(&RecordId([7; 32]), &item).unwrap();
    batch.commit().unwrap();
    check_blob_dir(&node.store, &node.blobs, &node.blob_dir).unwrap();
    let err = check_blob_dir(&node.store, &node.blobs, &node.path("elsewhere")).unwrap_err();
    assert!(matches!(err, BackupError::BlobDirElsewhere { .. }), "{err}");
}

/// Every step a restore reported, in order.
fn restore_steps(
    node: &Node,
    target: &Path,
    options: &RestoreOptions,
) -> (Result<RestoreReport, BackupError>, Vec<RestoreStep>) {
    let steps = std::cell::RefCell::new(Vec::new());
    let record = |step: RestoreStep| steps.borrow_mut().push(step);
    let result = restore_with_progress(&node.path("backup"), target, options, &record);
    (result, steps.into_inner())
}

/// The (files, bytes) of each `Copied` step and the (records, failed) of each `Checked` one.
type Counts = (Vec<(usize, u64)>, Vec<(u64, u64)>);

fn counts(steps: &[RestoreStep]) -> Counts {
    let mut copied = Vec::new();
    let mut checked = Vec::new();
    for step in steps {
        match *step {
            RestoreStep::Copied { files, bytes } => copied.push((files, bytes)),
            RestoreStep::Checked { records, failed } => checked.push((records, failed)),
            _ => {}
        }
    }
    (copied, checked)
}

#[test]
fn a_restore_reports_progress_up_to_the_manifests_totals() {
    let node = node();
    // A forged record too, so the failed count is seen moving.
    let forged = record(&NodeKey::from_seed([5; 32]), "nl-hotline", 7);
    node.store.insert_record(&forged).unwrap();
    node.backup(&node.path("backup")).unwrap();
    let manifest = read_manifest(&node.path("backup")).unwrap();
    let planned_bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    let accepting = RestoreOptions {
        accept_unverified: true,
        ..node.options()
    };

    let (report, steps) = restore_steps(&node, &node.path("restored"), &accepting);
    let report = report.unwrap();
    assert_eq!(
        steps.first(),
        Some(&RestoreStep::Planned {
            files: manifest.files.len(),
            bytes: planned_bytes,
            records: 4,
        })
    );
    assert_eq!(steps.last(), Some(&RestoreStep::Finishing));
    // Copying comes first, then checking; each kind appears in one run.
    let phase = |step: &RestoreStep| match step {
        RestoreStep::Planned { .. } => 0,
        RestoreStep::Copied { .. } => 1,
        RestoreStep::Checked { .. } => 2,
        _ => 3,
    };
    assert!(steps.windows(2).all(|w| phase(&w[0]) <= phase(&w[1])));

    let (copied, checked) = counts(&steps);
    // Bytes never go back and every step moves on (a file's last chunk, then the file done).
    assert!(copied.windows(2).all(|w| w[0].1 <= w[1].1 && w[0] < w[1]));
    assert_eq!(
        copied.last(),
        Some(&(manifest.files.len(), planned_bytes)),
        "{copied:?}"
    );
    assert_eq!(report.bytes, planned_bytes);
    // One step per record, in order; the forged one counted as failed.
    assert_eq!(checked.len(), 4);
    assert!(
        checked
            .iter()
            .enumerate()
            .all(|(n, (records, _))| *records == n as u64 + 1)
    );
    assert!(checked.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(checked.last(), Some(&(4, 1)));
    assert_eq!(
        (report.records_verified, report.records_failed),
        (3, 1),
        "the last step agrees with the report"
    );
}

#[test]
fn a_refused_restore_stops_its_progress_where_it_failed() {
    let node = node();
    node.backup(&node.path("backup")).unwrap();
    let manifest = read_manifest(&node.path("backup")).unwrap();
    let planned_bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    // The last file copied is damaged: everything before it is copied, nothing checked.
    let last = node
        .path("backup")
        .join(&manifest.files.last().unwrap().path);
    let mut bytes = fs::read(&last).unwrap();
    bytes[0] ^= 1;
    fs::write(&last, &bytes).unwrap();

    let (result, steps) = restore_steps(&node, &node.path("restored"), &node.options());
    assert!(matches!(result, Err(BackupError::File { .. })));
    let (copied, checked) = counts(&steps);
    let (files, copied_bytes) = *copied.last().unwrap();
    assert_eq!(files, manifest.files.len() - 1);
    assert_eq!(
        copied_bytes, planned_bytes,
        "the damaged file was read whole"
    );
    assert!(checked.is_empty());
    assert!(!steps.contains(&RestoreStep::Finishing));

    // Records that do not verify (without --accept-unverified) stop it after checking.
    bytes[0] ^= 1;
    fs::write(&last, &bytes).unwrap();
    let foreign = NodeKey::from_seed([11; 32]);
    let validity = Validity::days_from(Timestamp::from_secs(1_780_000_000), 3650);
    let other_root = pki::create_root(&foreign, "Other Federation", validity, [1; 16]).unwrap();
    let options = RestoreOptions {
        anchors: vec![TrustAnchor::from_pem(&other_root).unwrap()],
        accept_unverified: false,
    };
    let (result, steps) = restore_steps(&node, &node.path("restored"), &options);
    assert!(matches!(result, Err(BackupError::Unverified { .. })));
    assert_eq!(counts(&steps).1.last(), Some(&(3, 3)));
    assert!(!steps.contains(&RestoreStep::Finishing));
}

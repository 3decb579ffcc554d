//! The hotline workflow across real nodes: the NL hotline crawls a page hosted "in DE" (the
//! test website on loopback, placed in DE by a CIDR table), its analyst classifies the items,
//! and the DE hotline (forwarding agreement) and INTERPOL (ICSE contribution) receive exactly
//! what their agreements allow, media content included, with the originator's signature
//! intact. INTERPOL's ICSE collection answers by hash, hotline, classification and date.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::Method;
use safeport_node::RunningNode;
use safeport_protocol::Role;
use safeport_tests::ops::{Admin, WAIT};
use safeport_tests::{TestFederation, wait_until, website};
use serde_json::{Value, json};

fn crawl_done(node: &RunningNode, key: &str) -> bool {
    website::crawl_state(node, key) == Some("done")
}

/// The latest revision of NL's report held at `node`, if any.
fn held_revision(node: &RunningNode, key: &str) -> Option<u32> {
    let mut k = [0u8; 16];
    hex::decode_to_slice(key, &mut k).unwrap();
    node.store()
        .report_head(&"nl-hotline".parse().unwrap(), &k)
        .unwrap()
        .map(|(revision, _)| revision)
}

fn sha(item: &Value) -> [u8; 32] {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(item["sha256"].as_str().unwrap(), &mut digest).unwrap();
    digest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crawled_and_classified_report_reaches_de_hotline_and_interpol_as_agreed() {
    let dir = tempfile::tempdir().unwrap();
    let site = website::serve().await.unwrap();
    let federation = TestFederation::create(dir.path(), "Test Federation").unwrap();
    let mut nodes = Vec::new();
    for (agency, role, country) in [
        ("nl-hotline", Role::Hotline, "NL"),
        ("de-hotline", Role::Hotline, "DE"),
        ("interpol", Role::Interpol, "FR"),
    ] {
        let mut config = federation
            .add_agency(agency, role, country)
            .unwrap()
            .config()
            .unwrap();
        if agency == "nl-hotline" {
            website::crawl_locally(&mut config, dir.path(), "DE").unwrap();
        }
        nodes.push(safeport_node::start(config).await.unwrap());
    }
    let [nl, de, interpol] = <[RunningNode; 3]>::try_from(nodes).unwrap();
    let admin = Admin::new().unwrap();
    admin.peer(&nl, &de, "de-hotline").await.unwrap();
    admin.peer(&nl, &interpol, "interpol").await.unwrap();
    admin
        .agree(
            &nl,
            &de,
            json!({ "template": "forwarding", "provider": "nl-hotline",
                    "recipient": "de-hotline", "country": "DE", "days": 30 }),
        )
        .await
        .unwrap();
    admin
        .agree(
            &nl,
            &interpol,
            json!({ "template": "icse-contribution", "provider": "nl-hotline",
                    "recipient": "interpol", "days": 30 }),
        )
        .await
        .unwrap();

    // Intake and crawl at NL.
    let created = admin
        .call(
            &nl,
            Method::POST,
            "/admin/reports",
            Some(json!({ "url": site.url("/start") })),
        )
        .await
        .unwrap();
    let key = created["report_key"].as_str().unwrap().to_owned();
    wait_until(&nl, WAIT, "crawl done", |n| crawl_done(n, &key))
        .await
        .unwrap();
    let crawled = admin
        .call(&nl, Method::GET, &format!("/admin/reports/{key}"), None)
        .await
        .unwrap();
    assert_eq!(crawled["hosting"]["country"], "DE");
    let items = crawled["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 6, "{crawled}");

    // Nothing is classified yet, so nothing is in any agreement's scope.
    assert_eq!(held_revision(&de, &key), None);
    assert_eq!(held_revision(&interpol, &key), None);

    // The analyst classifies three items; the other three stay unassessed.
    let verdicts = [
        (1, "baseline"),
        (2, "nationally-illegal"),
        (4, "not-illegal"),
    ];
    for (index, classification) in verdicts {
        let sha256 = items[index]["sha256"].as_str().unwrap();
        admin
            .call(
                &nl,
                Method::POST,
                &format!("/admin/reports/{key}/items/{sha256}/classification"),
                Some(json!({ "classification": classification, "analyst": "analyst-1" })),
            )
            .await
            .unwrap();
    }
    let latest = 2 + verdicts.len() as u32;

    // DE (forwarding: illegal items and the rest as context, with content) gets everything;
    // INTERPOL (ICSE: illegal items only, with content) gets the two illegal ones.
    wait_until(&de, WAIT, "latest revision and all content at DE", |n| {
        held_revision(n, &key) == Some(latest) && items.iter().all(|i| n.blobs().contains(&sha(i)))
    })
    .await
    .unwrap();
    let illegal = [&items[1], &items[2]];
    wait_until(
        &interpol,
        WAIT,
        "latest revision and illegal content at INTERPOL",
        |n| {
            held_revision(n, &key) == Some(latest)
                && illegal.iter().all(|i| n.blobs().contains(&sha(i)))
        },
    )
    .await
    .unwrap();

    // DE sees the report in its incoming queue, signed by NL, with every item and its bytes.
    let incoming = admin
        .call(&de, Method::GET, "/admin/received", None)
        .await
        .unwrap();
    let incoming = incoming.as_array().unwrap();
    assert_eq!(incoming.len(), 1);
    assert_eq!(incoming[0]["origin"], "nl-hotline");
    assert_eq!(incoming[0]["hosting_country"], "DE");
    let de_items = incoming[0]["items"].as_array().unwrap();
    assert_eq!(de_items.len(), 6);
    assert!(de_items.iter().all(|i| i["content_held"] == true));
    let mut record_id = [0u8; 32];
    hex::decode_to_slice(incoming[0]["record_id"].as_str().unwrap(), &mut record_id).unwrap();
    let record = de
        .store()
        .record(&safeport_protocol::RecordId(record_id))
        .unwrap()
        .unwrap();
    assert_eq!(record.header().origin.as_str(), "nl-hotline");
    record.verify(&nl.app().identity().key.public()).unwrap();
    for item in &items {
        let path = item["source_url"]
            .as_str()
            .unwrap()
            .trim_start_matches(&site.url(""));
        assert_eq!(
            de.blobs().get(&sha(item)).unwrap().as_deref(),
            Some(site.media[path].as_slice()),
            "content of {path} at DE"
        );
    }

    // INTERPOL holds exactly the illegal items, and only their content.
    let held = admin
        .call(&interpol, Method::GET, "/admin/received", None)
        .await
        .unwrap();
    let held_items: Vec<&str> = held[0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(
        held_items,
        vec![
            items[1]["sha256"].as_str().unwrap(),
            items[2]["sha256"].as_str().unwrap()
        ]
    );
    for (index, item) in items.iter().enumerate() {
        assert_eq!(
            interpol.blobs().contains(&sha(item)),
            index == 1 || index == 2,
            "item {index}"
        );
    }

    // The ICSE collection answers by hash, hotline, classification and date.
    let icse = |query: String| {
        let admin = &admin;
        let interpol = &interpol;
        async move {
            admin
                .call(interpol, Method::GET, &format!("/admin/icse{query}"), None)
                .await
                .unwrap()
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let all = icse(String::new()).await;
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|e| e["hotline"] == "nl-hotline" && e["item"]["content_held"] == true)
    );
    let by_hash = icse(format!("?sha256={}", items[2]["sha256"].as_str().unwrap())).await;
    assert_eq!(by_hash.len(), 1);
    assert_eq!(by_hash[0]["item"]["classification"], "nationally-illegal");
    assert_eq!(
        icse(format!("?sha256={}", items[0]["sha256"].as_str().unwrap()))
            .await
            .len(),
        0
    );
    assert_eq!(icse("?classification=baseline".into()).await.len(), 1);
    assert_eq!(icse("?hotline=de-hotline".into()).await.len(), 0);
    assert_eq!(icse("?since=2000-01-01T00:00:00Z".into()).await.len(), 2);
    assert_eq!(icse("?until=2000-01-01T00:00:00Z".into()).await.len(), 0);
    let (status, _) = admin
        .try_call(
            &interpol,
            Method::GET,
            "/admin/icse?classification=awful",
            None,
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 400);

    // Reclassifying an item as not illegal takes it out of the current ICSE collection.
    admin
        .call(
            &nl,
            Method::POST,
            &format!(
                "/admin/reports/{key}/items/{}/classification",
                items[1]["sha256"].as_str().unwrap()
            ),
            Some(json!({ "classification": "not-illegal", "analyst": "analyst-2" })),
        )
        .await
        .unwrap();
    wait_until(&interpol, WAIT, "revision at INTERPOL", |n| {
        held_revision(n, &key) == Some(latest + 1)
    })
    .await
    .unwrap();
    let after = icse(String::new()).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["item"]["classification"], "nationally-illegal");

    // DE handles the report and tells NL what it did; the statuses reach NL only.
    for (status, note) in [
        ("notice-sent", "to the host's abuse desk"),
        ("content-removed", ""),
    ] {
        admin
            .call(
                &de,
                Method::POST,
                &format!("/admin/received/nl-hotline/{key}/status"),
                Some(json!({ "status": status, "note": note })),
            )
            .await
            .unwrap();
    }
    wait_until(&nl, WAIT, "statuses at NL", |n| {
        let mut k = [0u8; 16];
        hex::decode_to_slice(&key, &mut k).unwrap();
        n.store()
            .report_statuses(&"nl-hotline".parse().unwrap(), &k, 10)
            .unwrap()
            .len()
            == 2
    })
    .await
    .unwrap();
    let at_nl = admin
        .call(&nl, Method::GET, &format!("/admin/reports/{key}"), None)
        .await
        .unwrap();
    let statuses = at_nl["statuses"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "{at_nl}");
    assert!(statuses.iter().all(|s| s["by"] == "de-hotline"));
    let names: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"notice-sent") && names.contains(&"content-removed"));
    // INTERPOL has no agreement from NL for statuses to flow back on and sees none; a status
    // for a report DE does not hold, or an unknown status, is refused and creates nothing.
    assert!(
        interpol
            .store()
            .records_of_type(safeport_protocol::RecordType::ReportStatus, None, 10)
            .unwrap()
            .is_empty()
    );
    let (status, _) = admin
        .try_call(
            &de,
            Method::POST,
            &format!("/admin/received/nl-hotline/{}/status", "00".repeat(16)),
            Some(json!({ "status": "notice-sent" })),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 404);
    let (status, _) = admin
        .try_call(
            &de,
            Method::POST,
            &format!("/admin/received/nl-hotline/{key}/status"),
            Some(json!({ "status": "vanished" })),
        )
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 400);

    for node in [&nl, &de, &interpol] {
        assert!(node.store().rejections(10).unwrap().is_empty());
    }
    for node in [nl, de, interpol] {
        node.shutdown().await.unwrap();
    }
}

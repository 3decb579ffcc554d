//! What may be seen and how pictures are shown: 404 for reports outside the agreements, and
//! the blurred preview, audited reveal one at a time, and known material withheld.

use super::*;

fn scope_nl_baseline() -> Scope {
    Scope {
        record_types: vec![RecordType::Report],
        classifications: vec![Classification::Baseline],
        hosting_countries: CountryScope::Only(vec![Country::new("NL").unwrap()]),
        media: MediaAccess::Hashes,
        include_context: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_outside_the_agreement_are_404_and_pictures_are_revealed_one_at_a_time() {
    let (root_key, root_pem) = test_root(223);
    let nl = agency(&root_key, &root_pem, "nl-hotline", Role::Hotline, "NL", 93);
    let police = agency(&root_key, &root_pem, "nl-police", Role::Lea, "NL", 94);
    admit(&nl, &police);
    agree(&nl, &police, scope_nl_baseline(), 95);
    // Two pictures held by the hotline, in one report hosted in NL; a second report in DE.
    let pictures: Vec<Vec<u8>> = (0..2u8)
        .map(|n| {
            let img = image::RgbImage::from_fn(64, 48, |x, y| {
                image::Rgb([x as u8 * 4, y as u8 * 5, n * 100])
            });
            let mut png = Vec::new();
            img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            png
        })
        .collect();
    let items: Vec<_> = pictures
        .iter()
        .enumerate()
        .map(|(n, png)| {
            let mut it = item(n as u8 + 1, Classification::Baseline);
            it.sha256 =
                sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(png)).into();
            it.mime_type = "image/png".into();
            it
        })
        .collect();
    // A third item already classified baseline by a hash-list match: not shown by default.
    let mut known = item(3, Classification::Baseline);
    known.assessment.assessor = Some(safeport_protocol::report::Assessor::HashList {
        list_id: "interpol/baseline".into(),
        version: 1,
    });
    let mut items = items;
    items.push(known);
    let in_scope = report(1, "NL", &items);
    let out_of_scope = report(2, "DE", &[item(9, Classification::Baseline)]);
    nl.app.submit_report(in_scope.clone(), &items).unwrap();
    nl.app
        .submit_report(out_of_scope.clone(), &[item(9, Classification::Baseline)])
        .unwrap();
    pull(&nl, &police);

    let police = serve(police).await;
    add(&police.app, "ivo", &[PortalRole::Investigator]);
    let session = login(&police, "ivo", PASSWORD, "").await.unwrap();
    let path = |r: &safeport_protocol::report::Report| {
        format!("/reports/nl-hotline/{}", hex::encode(r.report_key))
    };
    let page = get(&police, &session, &path(&in_scope)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(&in_scope.reported_url));
    let hidden = get(&police, &session, &path(&out_of_scope)).await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    let never = get(
        &police,
        &session,
        "/reports/nl-hotline/00000000000000000000000000000000",
    )
    .await;
    assert_eq!(
        never.status(),
        StatusCode::NOT_FOUND,
        "out of scope looks like never held"
    );
    let list = get(&police, &session, "/reports")
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&in_scope.reported_url) && !list.contains(&out_of_scope.reported_url));

    // The hotline's analyst: blurred thumbnails, reveal audited, one at a time.
    let nl = serve(nl).await;
    for png in &pictures {
        nl.blobs.put(png).unwrap();
    }
    add(&nl.app, "ana", &[PortalRole::Analyst]);
    let session = login(&nl, "ana", PASSWORD, "").await.unwrap();
    let shas: Vec<String> = items.iter().map(|i| hex::encode(i.sha256)).collect();
    let media = |sha: &str, what: &str| {
        format!(
            "/media/nl-hotline/{}/{sha}/{what}",
            hex::encode(in_scope.report_key)
        )
    };
    let page = get(&nl, &session, &path(&in_scope))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/{}/thumb", shas[0])));
    assert!(page.contains("Known baseline material (hash-list match): not shown"));
    assert!(
        !page.contains(&format!("/{}/thumb", shas[2])),
        "no preview of known material"
    );
    let thumb = get(&nl, &session, &media(&shas[0], "thumb")).await;
    assert_eq!(thumb.status(), StatusCode::OK);
    assert_eq!(thumb.headers()["content-type"], "image/png");
    let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
    assert!(thumb.width() <= 160 && thumb.height() <= 160);
    assert!(
        thumb
            .to_rgb8()
            .pixels()
            .all(|p| p[0] == p[1] && p[1] == p[2]),
        "greyscale"
    );
    assert_eq!(
        get(&nl, &session, &media(&shas[0], "view")).await.status(),
        StatusCode::FORBIDDEN
    );
    let token = csrf(&nl, &session).await;
    assert_eq!(
        post(&nl, &session, &media(&shas[0], "reveal"), &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let revealed = post(
        &nl,
        &session,
        &media(&shas[0], "reveal"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(revealed.status(), StatusCode::SEE_OTHER);
    let view = get(&nl, &session, &media(&shas[0], "view")).await;
    assert_eq!(view.status(), StatusCode::OK);
    assert_eq!(view.bytes().await.unwrap().as_ref(), pictures[0].as_slice());
    post(
        &nl,
        &session,
        &media(&shas[1], "reveal"),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(
        get(&nl, &session, &media(&shas[0], "view")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&nl, &session, &media(&shas[1], "view")).await.status(),
        StatusCode::OK
    );
    let reveals: Vec<_> = nl
        .app
        .audit_entries(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.record.action == "reveal-media")
        .collect();
    assert_eq!(reveals.len(), 2);
    assert_eq!(reveals[0].record.actor, "user:ana");
    assert!(reveals[0].record.target.contains(&shas[0]));
}

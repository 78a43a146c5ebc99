//! A district that changes while the sandbox runs: batches and churn through the library API and
//! the admin endpoints, seen by pages, totals, filters, relationship and single reads.

use super::*;

/// `dateLastModified>'…'` as a query value.
fn newer_than(instant: &str) -> String {
    let filter = format!("dateLastModified>'{instant}'");
    url::form_urlencoded::byte_serialize(filter.as_bytes()).collect()
}

#[tokio::test]
async fn changes_show_in_pages_totals_filters_and_single_reads() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = roster_token(&sandbox).await;
        let before = ids(&json(get(&sandbox, &token, "users?limit=100").await).await["users"]);
        let applied = sandbox
            .apply(
                Changes::new()
                    .update(
                        CollectionId::Users,
                        "user-stu-002",
                        serde_json::json!({"familyName": "Dubois-Martin", "middleName": null}),
                    )
                    .mark_deleted(CollectionId::Users, "user-stu-003")
                    .insert(
                        CollectionId::Users,
                        serde_json::json!({"sourcedId": "user-stu-0025", "role": "student",
                            "givenName": "Ada", "familyName": "New", "username": "anew",
                            "enabledUser": true,
                            "orgs": [{"href": "h", "sourcedId": "org-school-hs", "type": "org"}]}),
                    )
                    .delete(CollectionId::Users, "user-stu-004"),
            )
            .expect("the batch applies");
        assert!(applied.at.as_str() > BASE_INSTANT, "{}", applied.at);
        assert_eq!(applied.version, 1);
        let ops: Vec<ChangeOp> = applied.changes.iter().map(|c| c.op).collect();
        assert_eq!(
            ops,
            [
                ChangeOp::Update,
                ChangeOp::MarkDeleted,
                ChangeOp::Insert,
                ChangeOp::Delete
            ]
        );

        let page = get(&sandbox, &token, "users?limit=100").await;
        assert_eq!(
            header(&page, "x-total-count"),
            Some(before.len().to_string())
        );
        let after = ids(&json(page).await["users"]);
        let mut want: Vec<String> = before
            .iter()
            .filter(|id| *id != "user-stu-004")
            .cloned()
            .chain(["user-stu-0025".to_string()])
            .collect();
        want.sort();
        assert_eq!(
            after, want,
            "the insert sorts into place, the delete is gone"
        );

        let updated = json(get(&sandbox, &token, "users/user-stu-002").await).await["user"].clone();
        assert_eq!(updated["familyName"], "Dubois-Martin");
        assert_eq!(updated["dateLastModified"], applied.at.as_str());
        assert!(updated.get("middleName").is_none());
        let original = fixture_district().get("users", "user-stu-002").unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&updated)[..3],
            keys(original)[..3],
            "members keep their order"
        );
        assert_eq!(
            json(get(&sandbox, &token, "users/user-stu-003").await).await["user"]["status"],
            "tobedeleted"
        );
        let gone = get(&sandbox, &token, "users/user-stu-004").await;
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        let inserted = json(get(&sandbox, &token, "students/user-stu-0025").await).await;
        assert_eq!(inserted["user"]["status"], "active");

        // A delta read finds exactly what changed (not the hard delete); an earlier instant finds
        // them too, among everything else.
        let delta = get(
            &sandbox,
            &token,
            &format!("users?filter={}", newer_than(BASE_INSTANT)),
        )
        .await;
        assert_eq!(header(&delta, "x-total-count").as_deref(), Some("3"));
        assert_eq!(
            ids(&json(delta).await["users"]),
            ["user-stu-002", "user-stu-0025", "user-stu-003"]
        );
        let later = get(
            &sandbox,
            &token,
            &format!("users?filter={}", newer_than(&applied.at)),
        )
        .await;
        assert_eq!(header(&later, "x-total-count").as_deref(), Some("0"));
        let whole = get(
            &sandbox,
            &token,
            &format!("users?filter={}", newer_than("2020-01-01T00:00:00Z")),
        )
        .await;
        assert_eq!(
            header(&whole, "x-total-count"),
            Some(after.len().to_string())
        );

        // Relationship reads see the new student and lose the deleted one.
        let school = ids(&json(
            get(&sandbox, &token, "schools/org-school-hs/students?limit=100").await,
        )
        .await["users"]);
        assert!(school.contains(&"user-stu-0025".to_string()));
        assert!(!school.contains(&"user-stu-004".to_string()));
        assert_eq!(sandbox.record(CollectionId::Users, "user-stu-004"), None);
        assert_eq!(sandbox.records(CollectionId::Users).len(), after.len());

        let second = sandbox
            .apply(Changes::new().mark_deleted(CollectionId::Users, "user-stu-0025"))
            .unwrap();
        assert!(second.at > applied.at, "stamps only grow");
        let delta = get(
            &sandbox,
            &token,
            &format!("users?filter={}", newer_than(&applied.at)),
        )
        .await;
        assert_eq!(ids(&json(delta).await["users"]), ["user-stu-0025"]);
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_batch_applies_whole_or_not_at_all() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let refused = |changes: Changes| sandbox.apply(changes).unwrap_err().to_string();
        let rename = serde_json::json!({"givenName": "X"});
        let message = refused(
            Changes::new()
                .update(CollectionId::Users, "user-stu-001", rename.clone())
                .delete(CollectionId::Users, "no-such-user"),
        );
        assert!(message.contains("change 1") && message.contains("no-such-user"), "{message}");
        assert_eq!(
            sandbox.record(CollectionId::Users, "user-stu-001"),
            fixture_district().get("users", "user-stu-001").cloned(),
            "the first change of a refused batch is not applied"
        );
        assert!(refused(Changes::new().insert(CollectionId::Users, serde_json::json!({"sourcedId": "user-stu-001"}))).contains("already exists"));
        assert!(refused(Changes::new().insert(CollectionId::Users, serde_json::json!({"role": "x"}))).contains("sourcedId"));
        assert!(refused(Changes::new().update(CollectionId::Users, "user-stu-001", serde_json::json!({"sourcedId": "y"}))).contains("sourcedId"));
        assert!(refused(Changes::new().update(CollectionId::Users, "user-stu-001", serde_json::json!(3))).contains("object"));

        // A deleted record can be inserted again, and an inserted one deleted without a trace.
        let again = Changes::new()
            .delete(CollectionId::Orgs, "org-school-ps")
            .insert(CollectionId::Orgs, serde_json::json!({"sourcedId": "org-school-ps", "name": "Reopened", "type": "school"}))
            .insert(CollectionId::Orgs, serde_json::json!({"sourcedId": "org-temp", "name": "Temp", "type": "school"}))
            .delete(CollectionId::Orgs, "org-temp");
        let applied = sandbox.apply(again).unwrap();
        assert_eq!(applied.version, 1, "refused batches leave no version behind");
        let orgs: Vec<Value> = sandbox.records(CollectionId::Orgs);
        assert_eq!(orgs.len(), fixture_district().records("orgs").len());
        assert_eq!(orgs.last().unwrap()["name"], "Reopened");
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn churn_is_deterministic_and_delta_reads_stay_exact_on_a_synthetic_district() {
    bounded(async {
        let options = SandboxOptions {
            district: District::Synthetic {
                users: 3_000,
                seed: 2,
            },
            ..Default::default()
        };
        let (a, b) = (start(options.clone()).await, start(options).await);
        let (first_a, first_b) = (a.churn(40, 7), b.churn(40, 7));
        assert_eq!(first_a.changes, first_b.changes, "same seed, same changes");
        assert_eq!(first_a.changes.len(), 40);
        let kinds: BTreeSet<String> = first_a
            .changes
            .iter()
            .map(|c| format!("{:?}", c.op))
            .collect();
        assert_eq!(kinds.len(), 4, "every kind of change: {kinds:?}");
        let second = a.churn(40, 7);
        assert_eq!(
            second.changes.len(),
            40,
            "the same seed again still applies"
        );
        assert_ne!(second.changes, first_a.changes);
        assert!(second.at > first_a.at);
        assert_eq!(
            a.record(CollectionId::Users, "user-stu-00000001"),
            b.record(CollectionId::Users, "user-stu-00000001")
        );

        // Everything the two batches changed or inserted, and nothing else, is newer than the base.
        let token = token(&a, "").await;
        for (collection, path) in [
            (CollectionId::Users, "users"),
            (CollectionId::Enrollments, "enrollments"),
        ] {
            let mut want: BTreeSet<String> = BTreeSet::new();
            for change in first_a.changes.iter().chain(&second.changes) {
                if change.collection != collection {
                    continue;
                }
                if change.op == ChangeOp::Delete {
                    want.remove(&change.sourced_id);
                } else {
                    want.insert(change.sourced_id.clone());
                }
            }
            let response = get(
                &a,
                &token,
                &format!("{path}?limit=1000&filter={}", newer_than(BASE_INSTANT)),
            )
            .await;
            let got: BTreeSet<String> = ids(&json(response).await[path]).into_iter().collect();
            assert_eq!(got, want, "{path}");
        }
        a.shutdown().await;
        b.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn the_admin_endpoints_change_the_district_for_scripts() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let admin = |path: &str, body: String| {
            client()
                .post(format!("{}/admin/{path}", sandbox.origin()))
                .header(CONTENT_TYPE, "application/json")
                .body(body)
                .send()
        };
        let body = r#"{"changes": [
            {"op": "update", "collection": "users", "sourcedId": "user-tch-001", "set": {"email": "new@example.org"}},
            {"op": "tobedeleted", "collection": "enrollments", "sourcedId": "enr-alg1-p1-stu-001"},
            {"op": "insert", "collection": "categories", "record": {"sourcedId": "cat-new", "title": "Extra"}},
            {"op": "delete", "collection": "classes", "sourcedId": "class-hr-9a"}
        ]}"#;
        let response = admin("changes", body.to_string()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let applied = json(response).await;
        assert_eq!(applied["version"], 1);
        assert_eq!(applied["changes"][1], serde_json::json!({"op": "tobedeleted", "collection": "enrollments", "sourcedId": "enr-alg1-p1-stu-001"}));
        assert_eq!(
            sandbox.record(CollectionId::Users, "user-tch-001").unwrap()["email"],
            "new@example.org"
        );
        assert_eq!(sandbox.record(CollectionId::Classes, "class-hr-9a"), None);

        let churned = json(admin("churn", r#"{"count": 5, "seed": 3}"#.to_string()).await.unwrap()).await;
        assert_eq!(churned["changes"].as_array().unwrap().len(), 5);
        assert!(churned["at"].as_str().unwrap() > applied["at"].as_str().unwrap());
        // Churn that removes nothing outright: every removal is a mark.
        let marked = json(admin("churn", r#"{"count": 60, "seed": 3, "outright": false}"#.to_string()).await.unwrap()).await;
        let ops: Vec<&str> = marked["changes"].as_array().unwrap().iter().map(|c| c["op"].as_str().unwrap()).collect();
        assert!(ops.len() > 40, "{ops:?}");
        assert!(ops.contains(&"tobedeleted") && !ops.contains(&"delete"), "{ops:?}");

        for (path, bad) in [
            ("changes", "not json"),
            ("changes", r#"{"changes": [{"op": "update", "collection": "pets", "sourcedId": "x", "set": {}}]}"#),
            ("changes", r#"{"changes": [{"op": "delete", "collection": "users", "sourcedId": "nobody"}]}"#),
            ("churn", r#"{"count": "many"}"#),
        ] {
            let response = admin(path, bad.to_string()).await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert!(json(response).await["error"].is_string());
        }
        assert_eq!(sandbox.stats().api_requests, 0, "admin requests are not API requests");
        sandbox.shutdown().await;
    })
    .await;
}

#[test]
fn the_admin_endpoints_refuse_other_machines() {
    let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    assert!(admin::refuse_remote(remote).is_some());
    for local in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
        assert!(
            admin::refuse_remote(local.parse().unwrap()).is_none(),
            "{local}"
        );
    }
}

#[test]
fn the_base_district_is_no_newer_than_the_base_instant() {
    let base: jiff::Timestamp = BASE_INSTANT.parse().unwrap();
    let modified = |record: &Value| -> jiff::Timestamp {
        record["dateLastModified"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    for name in fixture_district().collection_names() {
        for record in fixture_district().records(name) {
            assert!(modified(record) <= base, "{name}: {record}");
        }
    }
    let synthetic = data::Data::new(&District::Synthetic {
        users: 2_000,
        seed: 4,
    });
    for collection in CollectionId::all() {
        let n = synthetic.len(collection);
        for i in (0..n).step_by((n as usize / 50).max(1)) {
            assert!(
                modified(&synthetic.value(collection, i)) <= base,
                "{collection} {i}"
            );
        }
    }
}

//! Reads over real HTTP: `filter`, `fields`, `sort`, every relationship read against the fixture,
//! `X-Total-Count` on single records, and the scope rules of nested reads.

use super::*;

/// The fixture's records of `collection` that `keep` selects, by sourcedId.
fn fixture_ids(collection: &str, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    fixture_district()
        .records(collection)
        .iter()
        .filter(|r| keep(r))
        .map(|r| r["sourcedId"].as_str().unwrap().to_string())
        .collect()
}

fn refers(record: &Value, field: &str, id: &str) -> bool {
    match &record[field] {
        Value::Array(items) => items.iter().any(|i| i["sourcedId"] == id),
        other => other["sourcedId"] == id,
    }
}

/// Every record of a read, following `next` links (over one client: building one is slow).
async fn walk(sandbox: &Sandbox, token: &str, path: &str, key: &str) -> (Vec<String>, u64) {
    let client = client();
    let mut url = format!("{}/{path}", sandbox.base_url());
    let (mut got, mut total) = (Vec::new(), None);
    for _ in 0..100 {
        let page = client.get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{url}");
        let count: u64 = header(&page, "x-total-count").unwrap().parse().unwrap();
        assert_eq!(*total.get_or_insert(count), count, "{url}");
        let next = link(&links(&page), "next").map(str::to_string);
        got.extend(ids(&json(page).await[key]));
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    (got, total.unwrap())
}

#[tokio::test]
async fn filters_select_records_and_paging_follows_the_filtered_set() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = roster_token(&sandbox).await;
        let students = fixture_ids("users", |u| u["role"] == "student");
        assert!(students.len() > 6);
        let (got, total) = walk(
            &sandbox,
            &token,
            "users?filter=role%3D%27student%27&limit=4",
            "users",
        )
        .await;
        assert_eq!(
            (got.clone(), total),
            (students.clone(), students.len() as u64)
        );

        let page = get(
            &sandbox,
            &token,
            "users?filter=role%3D%27student%27&limit=4&offset=4",
        )
        .await;
        let l = links(&page);
        let base = sandbox.base_url();
        assert_eq!(
            link(&l, "next"),
            Some(format!("{base}/users?filter=role%3D%27student%27&limit=4&offset=8").as_str()),
            "the filter stays in the links"
        );

        let cases: [(&str, &str, Vec<String>); 6] = [
            (
                "users",
                "role='teacher' OR role='aide'",
                fixture_ids("users", |u| u["role"] == "teacher" || u["role"] == "aide"),
            ),
            (
                "users",
                "status='tobedeleted'",
                fixture_ids("users", |u| u["status"] == "tobedeleted"),
            ),
            (
                "students",
                "grades='09' AND familyName~'SMITH'",
                fixture_ids("users", |u| {
                    u["role"] == "student"
                        && u["grades"].as_array().unwrap().contains(&"09".into())
                        && u["familyName"]
                            .as_str()
                            .unwrap()
                            .to_lowercase()
                            .contains("smith")
                }),
            ),
            (
                "classes",
                "school.sourcedId='org-school-ms'",
                fixture_ids("classes", |c| c["school"]["sourcedId"] == "org-school-ms"),
            ),
            (
                "users",
                "dateLastModified>'2025-08-01T12:00:00Z'",
                Vec::new(),
            ),
            (
                "enrollments",
                "dateLastModified<='2025-08-01T12:00:00Z' AND role!='student'",
                fixture_ids("enrollments", |e| e["role"] != "student"),
            ),
        ];
        for (path, filter, want) in cases {
            let query: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
            let key = Endpoint::find(path).unwrap().collection.info().response_key;
            let (got, total) = walk(
                &sandbox,
                &token,
                &format!("{path}?limit=3&filter={query}"),
                key,
            )
            .await;
            assert_eq!(got, want, "{path} {filter}");
            assert_eq!(total, want.len() as u64, "{path} {filter}");
        }

        for (filter, code_minor) in [
            ("nickname%3D%27x%27", "invalid_filter_field"),
            ("school.name%3D%27x%27", "invalid_filter_field"),
            ("role%3Dstudent", "invalid_data"),
            (
                "role%3D%27a%27%20AND%20role%3D%27b%27%20OR%20role%3D%27c%27",
                "invalid_data",
            ),
        ] {
            let refused = get(&sandbox, &token, &format!("users?filter={filter}")).await;
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{filter}");
            let info = status_info_of(refused).await;
            assert_eq!(info.code_minor.as_deref(), Some(code_minor), "{filter}");
            assert_eq!(info.code_major.as_deref(), Some("failure"));
        }
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn fields_and_sort_shape_the_answer_or_warn() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = roster_token(&sandbox).await;
        let body =
            json(get(&sandbox, &token, "users?fields=givenName,sourcedId&limit=3").await).await;
        for user in body["users"].as_array().unwrap() {
            let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["givenName", "sourcedId"]);
        }
        assert!(
            body.get("statusInfoSet").is_none(),
            "no warning when all is well"
        );

        let warned =
            json(get(&sandbox, &token, "users?fields=sourcedId,nickname&limit=2").await).await;
        assert_eq!(warned["users"][0].as_object().unwrap().len(), 1);
        let warning = StatusInfo::from_body(warned.to_string().as_bytes()).unwrap();
        assert_eq!(
            warning.code_minor.as_deref(),
            Some("invalid_selection_field")
        );
        assert_eq!(warning.severity.as_deref(), Some("warning"));

        let blank = get(&sandbox, &token, "users?fields=").await;
        assert_eq!(blank.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_info_of(blank).await.code_minor.as_deref(),
            Some("invalid_blank_selection_field")
        );

        let sorted = json(
            get(
                &sandbox,
                &token,
                "students?sort=familyName&orderBy=desc&limit=100",
            )
            .await,
        )
        .await;
        let names: Vec<&str> = sorted["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["familyName"].as_str().unwrap())
            .collect();
        let mut want = names.clone();
        want.sort_by(|a, b| b.cmp(a));
        assert_eq!(names, want);
        assert!(sorted.get("statusInfoSet").is_none());

        let unsortable = json(get(&sandbox, &token, "users?sort=orgs&limit=100").await).await;
        assert_eq!(
            ids(&unsortable["users"]),
            fixture_ids("users", |_| true),
            "default order"
        );
        let warning = StatusInfo::from_body(unsortable.to_string().as_bytes()).unwrap();
        assert_eq!(warning.code_minor.as_deref(), Some("invalid_sort_field"));

        let one = get(&sandbox, &token, "users/user-stu-001?fields=sourcedId,role").await;
        assert_eq!(header(&one, "x-total-count").as_deref(), Some("1"));
        assert_eq!(
            json(one).await,
            serde_json::json!({"user": {"sourcedId": "user-stu-001", "role": "student"}})
        );
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn every_relationship_read_lists_what_the_fixture_relates() {
    bounded(async {
        let sandbox = start(SandboxOptions::default()).await;
        let token = token(&sandbox, "").await;
        let d = fixture_district();
        let (school, class, course, term) = (
            "org-school-hs",
            "class-alg1-p1",
            "course-alg1",
            "as-2025-t1",
        );
        let active = |r: &Value| r["status"] != "tobedeleted";
        // The users a class's active enrollments name in a role.
        let enrolled = |class: &str, role: &str| -> Vec<String> {
            let users = fixture_ids("enrollments", |e| {
                refers(e, "class", class) && e["role"] == role && active(e)
            })
            .iter()
            .map(|id| {
                d.get("enrollments", id).unwrap()["user"]["sourcedId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect::<BTreeSet<_>>();
            fixture_ids("users", |u| {
                u["role"] == role && users.contains(u["sourcedId"].as_str().unwrap())
            })
        };
        let student = enrolled(class, "student")[0].clone();
        let teacher = enrolled(class, "teacher")[0].clone();
        let classes_of = |user: &str| -> Vec<String> {
            let classes: BTreeSet<String> = d
                .records("enrollments")
                .iter()
                .filter(|e| refers(e, "user", user) && active(e))
                .map(|e| e["class"]["sourcedId"].as_str().unwrap().to_string())
                .collect();
            fixture_ids("classes", |c| {
                classes.contains(c["sourcedId"].as_str().unwrap())
            })
        };
        let line_items: Vec<String> = fixture_ids("lineItems", |l| refers(l, "class", class));
        let listed = |owner: &str, id: &str| -> Vec<String> {
            let resources: BTreeSet<&str> = d.get(owner, id).unwrap()["resources"]
                .as_array()
                .map(|r| r.iter().map(|r| r["sourcedId"].as_str().unwrap()).collect())
                .unwrap_or_default();
            fixture_ids("resources", |r| {
                resources.contains(r["sourcedId"].as_str().unwrap())
            })
        };
        let terms_of_school: BTreeSet<String> = d
            .records("classes")
            .iter()
            .filter(|c| refers(c, "school", school))
            .flat_map(|c| c["terms"].as_array().unwrap().iter())
            .map(|t| t["sourcedId"].as_str().unwrap().to_string())
            .collect();
        let categories: BTreeSet<String> = line_items
            .iter()
            .map(|l| {
                d.get("lineItems", l).unwrap()["category"]["sourcedId"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let expected: Vec<(String, &str, Vec<String>)> = vec![
            (
                format!("schools/{school}/courses"),
                "courses",
                fixture_ids("courses", |c| refers(c, "org", school)),
            ),
            (
                format!("schools/{school}/classes"),
                "classes",
                fixture_ids("classes", |c| refers(c, "school", school)),
            ),
            (
                format!("schools/{school}/enrollments"),
                "enrollments",
                fixture_ids("enrollments", |e| refers(e, "school", school)),
            ),
            (
                format!("schools/{school}/students"),
                "users",
                fixture_ids("users", |u| {
                    u["role"] == "student" && refers(u, "orgs", school)
                }),
            ),
            (
                format!("schools/{school}/teachers"),
                "users",
                fixture_ids("users", |u| {
                    u["role"] == "teacher" && refers(u, "orgs", school)
                }),
            ),
            (
                format!("schools/{school}/terms"),
                "academicSessions",
                fixture_ids("academicSessions", |s| {
                    s["type"] == "term"
                        && terms_of_school.contains(s["sourcedId"].as_str().unwrap())
                }),
            ),
            (
                format!("schools/{school}/classes/{class}/enrollments"),
                "enrollments",
                fixture_ids("enrollments", |e| {
                    refers(e, "class", class) && refers(e, "school", school)
                }),
            ),
            (
                format!("schools/{school}/classes/{class}/students"),
                "users",
                enrolled(class, "student"),
            ),
            (
                format!("schools/{school}/classes/{class}/teachers"),
                "users",
                enrolled(class, "teacher"),
            ),
            (
                format!("schools/org-school-ms/classes/{class}/students"),
                "users",
                Vec::new(),
            ),
            (
                format!("classes/{class}/students"),
                "users",
                enrolled(class, "student"),
            ),
            (
                format!("classes/{class}/teachers"),
                "users",
                enrolled(class, "teacher"),
            ),
            (
                format!("courses/{course}/classes"),
                "classes",
                fixture_ids("classes", |c| refers(c, "course", course)),
            ),
            (
                format!("terms/{term}/classes"),
                "classes",
                fixture_ids("classes", |c| refers(c, "terms", term)),
            ),
            (
                format!("terms/{term}/gradingPeriods"),
                "academicSessions",
                fixture_ids("academicSessions", |s| {
                    s["type"] == "gradingPeriod" && refers(s, "parent", term)
                }),
            ),
            (
                format!("students/{student}/classes"),
                "classes",
                classes_of(&student),
            ),
            (
                format!("teachers/{teacher}/classes"),
                "classes",
                classes_of(&teacher),
            ),
            (
                format!("users/{teacher}/classes"),
                "classes",
                classes_of(&teacher),
            ),
            (format!("teachers/{student}/classes"), "classes", Vec::new()),
            (
                format!("classes/{class}/resources"),
                "resources",
                listed("classes", class),
            ),
            (
                "courses/course-bio/resources".to_string(),
                "resources",
                listed("courses", "course-bio"),
            ),
            (
                format!("classes/{class}/lineItems"),
                "lineItems",
                line_items.clone(),
            ),
            (
                format!("classes/{class}/results"),
                "results",
                fixture_ids("results", |r| {
                    line_items.iter().any(|l| refers(r, "lineItem", l))
                }),
            ),
            (
                format!("classes/{class}/lineItems/{}/results", line_items[0]),
                "results",
                fixture_ids("results", |r| refers(r, "lineItem", &line_items[0])),
            ),
            (
                format!("classes/class-bio-p2/lineItems/{}/results", line_items[0]),
                "results",
                Vec::new(),
            ),
            (
                format!("classes/{class}/students/{student}/results"),
                "results",
                fixture_ids("results", |r| {
                    refers(r, "student", &student)
                        && line_items.iter().any(|l| refers(r, "lineItem", l))
                }),
            ),
            (
                format!("classes/{class}/categories"),
                "categories",
                fixture_ids("categories", |c| {
                    categories.contains(c["sourcedId"].as_str().unwrap())
                }),
            ),
            // An unknown parent lists nothing (docs/oneroster-notes.md §4.1: what SDS expects).
            ("schools/1000000/classes".to_string(), "classes", Vec::new()),
        ];
        let mut templates = BTreeSet::new();
        for (path, key, want) in &expected {
            let (got, total) = walk(&sandbox, &token, &format!("{path}?limit=7"), key).await;
            assert_eq!(&got, want, "{path}");
            assert_eq!(total, want.len() as u64, "{path}");
            let segments: Vec<&str> = path.split('/').collect();
            templates.insert(NestedRead::find(&segments).unwrap().0.path);
        }
        assert_eq!(
            templates.len(),
            NESTED_READS.len(),
            "every relationship read is checked"
        );
        // Only the reads meant to list nothing do.
        let empty = [
            "1000000",
            "org-school-ms/classes/",
            "teachers/user-stu",
            "class-bio-p2/lineItems",
        ];
        for (path, _, want) in &expected {
            assert_eq!(
                want.is_empty(),
                empty.iter().any(|e| path.contains(e)),
                "{path}"
            );
        }

        // Filters and paging apply to nested reads too.
        let filtered = get(
            &sandbox,
            &token,
            &format!("schools/{school}/enrollments?filter=role%3D%27teacher%27&limit=1&offset=1"),
        )
        .await;
        let teachers_enrolled = fixture_ids("enrollments", |e| {
            refers(e, "school", school) && e["role"] == "teacher"
        });
        assert_eq!(
            header(&filtered, "x-total-count"),
            Some(teachers_enrolled.len().to_string())
        );
        assert!(link(&links(&filtered), "next").unwrap().contains(&format!(
            "/schools/{school}/enrollments?filter=role%3D%27teacher%27&limit=1&offset=2"
        )));
        assert_eq!(
            ids(&json(filtered).await["enrollments"]),
            teachers_enrolled[1..2]
        );
        assert!(
            sandbox.stats().per_path["schools/{school_id}/enrollments"] > 1,
            "counted under the template"
        );
        sandbox.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn nested_roster_reads_need_roster_readonly_and_unknown_paths_are_404() {
    bounded(async {
        let sandbox = start(SandboxOptions {
            missing: vec![CollectionId::Resources],
            ..Default::default()
        })
        .await;
        let core = token(&sandbox, &uri(KnownScope::RosterCore)).await;
        assert_eq!(
            get(&sandbox, &core, "classes").await.status(),
            StatusCode::OK
        );
        let nested = get(&sandbox, &core, "classes/class-alg1-p1/students").await;
        assert_eq!(nested.status(), StatusCode::FORBIDDEN);
        let description = status_info_of(nested).await.description.unwrap();
        assert!(
            description.contains(&uri(KnownScope::Roster)),
            "{description}"
        );
        assert!(
            !description.contains(&uri(KnownScope::RosterCore)),
            "{description}"
        );

        let all = token(&sandbox, "").await;
        let missing = get(&sandbox, &all, "classes/class-alg1-p1/resources").await;
        assert_eq!(
            missing.status(),
            StatusCode::NOT_FOUND,
            "a host without resources"
        );
        for unknown in [
            "classes/class-alg1-p1/nothing",
            "schools/x/classes/y",
            "a/b/c/d/e/f",
        ] {
            assert_eq!(
                get(&sandbox, &all, unknown).await.status(),
                StatusCode::NOT_FOUND,
                "{unknown}"
            );
        }
        // Empty segments are dropped, as Microsoft's collection needs (`v1p1//classes/…`).
        let doubled = client()
            .get(format!(
                "{}//classes/class-alg1-p1/lineItems",
                sandbox.base_url()
            ))
            .bearer_auth(&all)
            .send()
            .await
            .unwrap();
        assert_eq!(doubled.status(), StatusCode::OK);
        assert!(
            !json(doubled).await["lineItems"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        sandbox.shutdown().await;
    })
    .await;
}

#[test]
fn every_member_the_districts_serve_is_one_filters_know() {
    let synthetic = data::Data::new(&District::Synthetic {
        users: 2_000,
        seed: 1,
    });
    for collection in CollectionId::all() {
        let from_synthetic = (0..synthetic.len(collection).min(200))
            .map(|i| synthetic.value(collection, i).into_owned());
        let from_fixture = fixture_district()
            .records(collection.name())
            .iter()
            .cloned();
        for record in from_fixture.chain(from_synthetic) {
            for key in record.as_object().unwrap().keys() {
                assert!(collection.member(key).is_some(), "{collection}: {key}");
            }
        }
    }
}

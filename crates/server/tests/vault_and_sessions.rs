//! The vault's guarantees and the session rules, tried through the server.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{harness, T0};
use serde_json::json;
use tearline_domain::{Role, Timestamp};
use tearline_service::VaultKeys;
use tearline_vault::VaultError;

async fn unseal(harness: &common::Harness, token: &str, id: i64) -> common::Reply {
    harness
        .call(
            Method::POST,
            &format!("/api/v1/sources/{id}/unseal"),
            Some(token),
            Some(json!({"reason": "preparing the next meeting"})),
        )
        .await
}

#[tokio::test]
async fn unsealing_fails_closed_when_the_audit_trail_cannot_record_it() {
    let harness = harness().await;
    let token = harness.demo_login(Role::Handler).await;
    let id = harness.source_id("NIGHTJAR").await;
    harness.fail_audit(true).await;
    let reply = unseal(&harness, &token, id).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.json()["code"], "audit_unavailable");
    assert!(!reply.body.contains("Samira"), "{}", reply.body);
    harness.fail_audit(false).await;
    let reply = unseal(&harness, &token, id).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["identity"]["full_name"], "Samira Haddad-Okafor");
    // What the seed's own example turns on is sealed with the identity and opened with it.
    assert_eq!(reply.json()["identity"]["relation_to_group"], "wife of the smuggling crew's quartermaster");
    assert_eq!(reply.json()["identity"]["motivation"], "to keep her sons out of the crew and to stay alive");
}

#[tokio::test]
async fn every_unseal_is_recorded_with_who_and_why() {
    let harness = harness().await;
    let token = harness.demo_login(Role::Controller).await;
    let id = harness.source_id("KESTREL").await;
    assert_eq!(unseal(&harness, &token, id).await.status, StatusCode::OK);
    let inspector = harness.demo_login(Role::Inspector).await;
    let events =
        harness.call(Method::GET, "/api/v1/audit/events?limit=1000", Some(&inspector), None).await.json();
    let unseals: Vec<_> =
        events["events"].as_array().unwrap().iter().filter(|e| e["action"] == "source.unseal").collect();
    assert_eq!(unseals.len(), 1);
    assert_eq!(unseals[0]["object"], format!("source:{id}"));
    assert_eq!(unseals[0]["reason"], "preparing the next meeting");
    assert_eq!(unseals[0]["outcome"], "allowed");
    let conrad = harness.state.store.user_by_username("conrad").await.unwrap().unwrap();
    assert_eq!(unseals[0]["actor"], conrad.id.0);
}

#[tokio::test]
async fn an_unseal_without_a_reason_is_refused_and_not_decrypted() {
    let harness = harness().await;
    let token = harness.demo_login(Role::Handler).await;
    let id = harness.source_id("NIGHTJAR").await;
    for reason in ["", "because", "          "] {
        let reply = harness
            .call(
                Method::POST,
                &format!("/api/v1/sources/{id}/unseal"),
                Some(&token),
                Some(json!({"reason": reason})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["code"], "reason_required");
    }
}

#[tokio::test]
async fn a_corrupted_vault_record_is_a_clear_error_and_loses_nothing_else() {
    let harness = harness().await;
    let token = harness.demo_login(Role::Handler).await;
    let damaged = harness.source_id("HERON").await;
    let intact = harness.source_id("KESTREL").await;
    // One byte changed for certain (a byte already 0 set to 0 would change nothing, one run
    // in 256).
    let flipped = match harness.state.store.backend() {
        tearline_store::Backend::Sqlite => format!(
            "UPDATE sources SET identity_ciphertext = CAST(substr(identity_ciphertext, 1, 40)
                 || CASE WHEN substr(identity_ciphertext, 41, 1) = X'00' THEN X'01' ELSE X'00' END
                 || substr(identity_ciphertext, 42) AS BLOB) WHERE id = {damaged}"
        ),
        tearline_store::Backend::Postgres => format!(
            "UPDATE sources SET identity_ciphertext = set_byte(identity_ciphertext, 40,
                 CASE WHEN get_byte(identity_ciphertext, 40) = 0 THEN 1 ELSE 0 END) WHERE id = {damaged}"
        ),
    };
    assert_eq!(harness.state.store.execute_unchecked(&flipped).await.unwrap(), 1);
    let reply = unseal(&harness, &token, damaged).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["code"], "vault_error");
    assert!(reply.json()["message"].as_str().unwrap().contains("altered or damaged"), "{}", reply.body);
    assert_eq!(unseal(&harness, &token, intact).await.status, StatusCode::OK);
    let listed = harness.call(Method::GET, "/api/v1/sources", Some(&token), None).await.json();
    assert_eq!(listed["sources"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_wrong_or_missing_key_file_is_refused_before_anything_changes() {
    let harness = harness().await;
    let store = &harness.state.store;
    let before = store.vault_key_checks().await.unwrap();

    let wrong = harness.dir.path().join("wrong.key");
    tearline_vault::FileKeyring::create(&wrong).unwrap();
    let error =
        VaultKeys::open(store, wrong, Timestamp(T0)).await.err().expect("a wrong key file is refused");
    assert!(error.to_string().contains("does not match"), "{error}");

    let missing = harness.dir.path().join("absent.key");
    let error = VaultKeys::open(store, missing.clone(), Timestamp(T0))
        .await
        .err()
        .expect("a missing key file is refused");
    assert!(
        matches!(error, tearline_service::StartupError::Vault(VaultError::KeyFileMissing { .. })),
        "{error}"
    );
    assert!(!missing.exists(), "a database with sealed records never gets a fresh key file");

    assert_eq!(store.vault_key_checks().await.unwrap(), before);
    let reopened = VaultKeys::open(store, harness.key_file.clone(), Timestamp(T0)).await;
    assert!(reopened.is_ok(), "the right key file still opens everything");
    let token = harness.demo_login(Role::Handler).await;
    assert_eq!(unseal(&harness, &token, harness.source_id("NIGHTJAR").await).await.status, StatusCode::OK);
}

/// Every data key a rotation to key 2 re-wraps: identities' and sealed texts'.
async fn data_keys_under_key_1(harness: &common::Harness) -> (usize, usize) {
    let store = &harness.state.store;
    let identities = store.sealed_identities_not_under(2).await.unwrap().len();
    let mut texts = 0;
    for table in tearline_store::SealedTable::ALL {
        texts += store.sealed_texts_not_under(table, 2).await.unwrap().len();
    }
    (identities, texts)
}

#[tokio::test]
async fn rotating_the_vault_key_rewraps_data_keys_and_keeps_every_identity() {
    let harness = harness().await;
    let id = harness.source_id("OSPREY").await;
    let before = harness.state.store.sealed_identity(tearline_domain::SourceId(id)).await.unwrap().unwrap();
    let (identities, texts) = data_keys_under_key_1(&harness).await;
    assert_eq!(identities, 5);
    assert!(texts > 10, "the demo's contacts, reports, welfare, risk and applications are sealed too");
    let admin = harness.demo_login(Role::Administrator).await;
    let reply = harness.call(Method::POST, "/api/v1/vault/rotate", Some(&admin), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["key_id"], 2);
    assert_eq!(reply.json()["rewrapped"], identities + texts);
    assert_eq!(data_keys_under_key_1(&harness).await, (0, 0));
    let after = harness.state.store.sealed_identity(tearline_domain::SourceId(id)).await.unwrap().unwrap();
    assert_eq!(after.key_id, 2);
    assert_eq!(after.ciphertext, before.ciphertext, "records are not re-encrypted");
    assert_ne!(after.wrapped_key, before.wrapped_key);
    // The rotation is recorded before the key file changes, and the re-wraps commit with
    // their own entry naming every record they touched.
    let log = &harness.state.log;
    let size = tearline_domain::audit::AuditLog::size(log).await.unwrap();
    let logged = tearline_domain::audit::AuditLog::read(log, 0, size).await.unwrap();
    let actions: Vec<&str> = logged.iter().map(|r| r.event.action.as_str()).collect();
    let rotate = actions.iter().rposition(|a| *a == "vault.rotate").expect("the rotation is logged");
    let rewrap = &logged[rotate + 1].event;
    assert_eq!(rewrap.action, "vault.rewrap");
    assert_eq!(rewrap.object.trim_start_matches("source:").split(',').count(), 5, "{}", rewrap.object);
    assert!(rewrap.object.split([':', ',']).any(|part| part == id.to_string()), "{}", rewrap.object);
    let token = harness.demo_login(Role::Controller).await;
    let reply = unseal(&harness, &token, id).await;
    assert_eq!(reply.json()["identity"]["full_name"], "Tariq Benhadda Lindqvist");
    // Sealed text opens under the new key: the application OSPREY waits on.
    let lifecycle =
        harness.call(Method::GET, &format!("/api/v1/sources/{id}/lifecycle"), Some(&token), None).await;
    assert_eq!(lifecycle.status, StatusCode::OK, "{}", lifecycle.body);
    assert_eq!(
        lifecycle.json()["authorisations"][0]["application"]["purpose"],
        "drug supply through the Saltford warehouses"
    );
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_account_for_a_while() {
    let harness = harness().await;
    let attempt = |password: &'static str| {
        let harness = &harness;
        async move {
            harness
                .call(
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(json!({"username": "hana", "password": password})),
                )
                .await
        }
    };
    for _ in 0..5 {
        let reply = attempt("wrong password!").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.json()["code"], "invalid_credentials");
    }
    let locked = attempt("demo-handler-pass").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.json()["code"], "account_locked");
    harness.advance(16 * 60 * 1000);
    assert_eq!(attempt("demo-handler-pass").await.status, StatusCode::OK);
    let unknown = harness
        .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"username": "nobody", "password": "x"})))
        .await;
    assert_eq!(unknown.json()["code"], "invalid_credentials", "an unknown user looks like a wrong password");
}

#[tokio::test]
async fn sessions_end_at_logout_and_at_expiry() {
    let harness = harness().await;
    let token = harness.demo_login(Role::Analyst).await;
    assert_eq!(harness.call(Method::GET, "/api/v1/me", Some(&token), None).await.status, StatusCode::OK);
    assert_eq!(
        harness.call(Method::POST, "/api/v1/auth/logout", Some(&token), None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        harness.call(Method::GET, "/api/v1/me", Some(&token), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let token = harness.demo_login(Role::Analyst).await;
    harness.advance(12 * 3600 * 1000 + 1);
    assert_eq!(
        harness.call(Method::GET, "/api/v1/me", Some(&token), None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn with_cookie(
    method: Method,
    path: &str,
    token: &str,
    csrf: Option<&str>,
    form: Option<String>,
) -> Request<Body> {
    let mut request =
        Request::builder().method(method).uri(path).header("cookie", format!("tearline_session={token}"));
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    match form {
        Some(form) => request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap(),
        None => request
            .header("content-type", "application/json")
            .body(Body::from(r#"{"reason":"checking the csrf guard"}"#))
            .unwrap(),
    }
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_every_change() {
    let harness = harness().await;
    let login = harness
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "hana", "password": "demo-handler-pass"})),
        )
        .await
        .json();
    let (token, csrf) = (login["token"].as_str().unwrap(), login["csrf_token"].as_str().unwrap());
    let id = harness.source_id("NIGHTJAR").await;
    let path = format!("/api/v1/sources/{id}/unseal");
    let refused = harness.send(with_cookie(Method::POST, &path, token, None, None)).await;
    assert_eq!(
        (refused.status, refused.json()["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf_failed"))
    );
    let forged = harness.send(with_cookie(Method::POST, &path, token, Some("forged"), None)).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(
        harness.send(with_cookie(Method::POST, &path, token, Some(csrf), None)).await.status,
        StatusCode::OK
    );
    let form = harness
        .send(with_cookie(
            Method::POST,
            &format!("/sources/{id}/unseal"),
            token,
            None,
            Some("csrf=forged&reason=checking+the+csrf+guard".into()),
        ))
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert!(!form.body.contains("Samira"));
}

#[tokio::test]
async fn the_login_form_sets_a_strict_http_only_session_cookie() {
    let harness = harness().await;
    let page = harness.app.clone();
    use tower::ServiceExt;
    let response = page.oneshot(Request::get("/login").body(Body::empty()).unwrap()).await.unwrap();
    let prelogin = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let csrf = prelogin.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let request = Request::post("/login")
        .header("cookie", format!("tearline_prelogin={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("username=hana&password=demo-handler-pass&csrf={csrf}")))
        .unwrap();
    let response = harness.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("tearline_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let forged = Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("username=hana&password=demo-handler-pass&csrf={csrf}")))
        .unwrap();
    assert_eq!(harness.app.clone().oneshot(forged).await.unwrap().status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let harness = harness().await;
    let handler = harness.demo_login(Role::Handler).await;
    let admin = harness.demo_login(Role::Administrator).await;
    let raw = |path: &str, token: &str, body: &'static str| {
        Request::post(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let cases = [
        (raw("/api/v1/sources", &handler, "{not json"), "invalid_json"),
        (raw("/api/v1/sources", &handler, r#"{"code_name":"X1","identity":{}}"#), "invalid_json"),
        (
            raw(
                "/api/v1/sources",
                &handler,
                r#"{"code_name":"<b>","controller":"conrad","identity":{"full_name":"A"}}"#,
            ),
            "invalid_code_name",
        ),
        (
            raw(
                "/api/v1/sources",
                &handler,
                r#"{"code_name":"GOOD","controller":"olga","identity":{"full_name":"A"}}"#,
            ),
            "invalid_assignment",
        ),
        (
            raw(
                "/api/v1/sources",
                &handler,
                r#"{"code_name":"GOOD","controller":"conrad","identity":{"full_name":" "}}"#,
            ),
            "invalid_identity",
        ),
        (
            raw(
                "/api/v1/sources",
                &handler,
                r#"{"code_name":"NIGHTJAR","controller":"conrad","identity":{"full_name":"A"}}"#,
            ),
            "conflict",
        ),
        (raw("/api/v1/sources/abc/unseal", &handler, r#"{"reason":"long enough reason"}"#), "invalid_id"),
        (
            raw(
                "/api/v1/users",
                &admin,
                r#"{"username":"x","role":"analyst","unit":"U","password":"long enough pass"}"#,
            ),
            "invalid_username",
        ),
        (
            raw(
                "/api/v1/users",
                &admin,
                r#"{"username":"newbie","role":"root","unit":"U","password":"long enough pass"}"#,
            ),
            "invalid_json",
        ),
        (
            raw(
                "/api/v1/users",
                &admin,
                r#"{"username":"newbie","role":"analyst","unit":"U","password":"short"}"#,
            ),
            "weak_password",
        ),
        (
            raw(
                "/api/v1/users",
                &admin,
                r#"{"username":"hana","role":"analyst","unit":"U","password":"long enough pass"}"#,
            ),
            "conflict",
        ),
    ];
    for (request, code) in cases {
        let path = request.uri().to_string();
        let reply = harness.send(request).await;
        assert!(reply.status.is_client_error(), "{path}: {} {}", reply.status, reply.body);
        assert_eq!(reply.json()["code"], code, "{path}: {}", reply.body);
        assert!(!reply.json()["message"].as_str().unwrap_or_default().is_empty());
    }
    let listed = harness.call(Method::GET, "/api/v1/sources", Some(&handler), None).await.json();
    assert_eq!(listed["sources"].as_array().unwrap().len(), 4, "nothing was added");
    assert_eq!(harness.state.store.users().await.unwrap().len(), 9, "no account was added");
    let unknown = harness.call(Method::GET, "/api/v1/nothing-here", Some(&handler), None).await;
    assert_eq!((unknown.status, unknown.json()["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

fn form_post(path: &str, token: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn the_ui_hands_a_case_role_over_and_rotates_the_vault_key_only_for_those_allowed() {
    let harness = harness().await;
    let id = harness.source_id("HERON").await;
    let path = format!("/sources/{id}/assignments");
    let handler = harness.demo_login(Role::Handler).await;
    let refused = harness.send(form_post(&path, &handler, "csrf=x&role=controller&username=conrad")).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "a handler cannot reassign");
    let controller = harness.demo_login(Role::Controller).await;
    let bad = harness.send(form_post(&path, &controller, "csrf=x&role=handler&username=anders")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "an analyst cannot become a handler");
    let moved = harness.send(form_post(&path, &controller, "csrf=x&role=handler&username=hana")).await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER);
    let history = harness.state.store.assignments(tearline_domain::SourceId(id)).await.unwrap();
    assert_eq!(history.iter().filter(|a| a.until.is_some()).count(), 1, "the previous term was closed");

    let analyst = harness.demo_login(Role::Analyst).await;
    assert_eq!(
        harness.send(form_post("/vault/rotate", &analyst, "csrf=x")).await.status,
        StatusCode::FORBIDDEN
    );
    let admin = harness.demo_login(Role::Administrator).await;
    let (identities, texts) = data_keys_under_key_1(&harness).await;
    assert!(identities + texts > 0, "data keys to re-wrap");
    let rotated = harness.send(form_post("/vault/rotate", &admin, "csrf=x")).await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER, "the rotation redirects: a reload rotates nothing");
    assert_eq!(data_keys_under_key_1(&harness).await, (0, 0), "every data key re-wrapped under key 2");
    let page = harness.call(Method::GET, "/users?done=rotate", Some(&admin), None).await;
    assert!(page.body.contains("A new vault key is active"), "{}", page.body);
    assert!(page.body.contains("wrapped by vault key 2"), "{}", page.body);
}

/// A handler that panics (a bug) answers 500 `{code: internal}` without the panic's text,
/// and the server goes on answering.
#[tokio::test]
async fn a_panicking_handler_answers_500_in_the_contract_and_the_server_goes_on() {
    use tower::ServiceExt;
    let harness = harness().await;
    let boom = axum::Router::new().route(
        "/api/v1/boom",
        axum::routing::get(|| async {
            // A bug: a value the handler assumed is not there.
            let held: Vec<&str> = Vec::new();
            held.first()
                .copied()
                .map_or_else(|| panic!("the handler held Samira Haddad-Okafor"), str::to_owned)
        }),
    );
    let app = tearline_server::router_with(harness.state.clone(), boom);
    let request = || Request::builder().uri("/api/v1/boom").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request()).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("\"internal\"") && !body.contains("Samira"), "{body}");
    let after = app.oneshot(Request::builder().uri("/api/v1/me").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "the server goes on");
}

//! A server in-process over a fresh store, seeded with the demo unit plus a second unit,
//! driven request by request without a network.

#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tearline_demo as demo;
use tearline_domain::{Role, Timestamp};
use tearline_service::accounts::{create_user, NewUserRequest};
use tearline_service::{open_audit_log, AppState, ServerSettings, VaultKeys};
use tearline_store::testing::{fresh_store, TestDatabase};
use tearline_store::Backend;
use tower::ServiceExt;

pub const T0: i64 = 1_795_000_000_000;

pub struct Harness {
    pub state: AppState,
    pub app: Router,
    pub now: Arc<AtomicI64>,
    pub key_file: std::path::PathBuf,
    pub database: TestDatabase,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

pub async fn harness() -> Harness {
    harness_on(Backend::Sqlite).await
}

pub async fn harness_on(backend: Backend) -> Harness {
    harness_with(backend, ServerSettings::default()).await
}

pub async fn harness_with(backend: Backend, settings: ServerSettings) -> Harness {
    let (store, database) = fresh_store(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("vault.key");
    let now = Arc::new(AtomicI64::new(T0));
    let keys = VaultKeys::open(&store, key_file.clone(), Timestamp(T0)).await.unwrap();
    let log = open_audit_log(&store, &dir.path().join("audit-signing.key")).await.unwrap();
    let clock_source = Arc::clone(&now);
    let state = AppState::new(
        store.clone(),
        log,
        keys,
        Arc::new(move || Timestamp(clock_source.load(Ordering::SeqCst))),
        settings,
        Arc::new(tearline_search::SearchIndex::in_memory().unwrap()),
    );
    demo::seed(&state.kernel, &state.keys).await.unwrap();
    let harness =
        Harness { app: tearline_server::router(state.clone()), state, now, key_file, database, dir };
    harness.seed_other_unit().await;
    harness
}

impl Harness {
    /// Makes every write to the audit tables fail, or work again (see
    /// `tearline_store::testing::fail_audit_writes`).
    pub async fn fail_audit(&self, failing: bool) {
        tearline_store::testing::fail_audit_writes(&self.state.store, failing).await;
    }

    /// A second unit, "Riverside Unit", with its own officers and one source, FALCON.
    async fn seed_other_unit(&self) {
        for (username, role) in [("olga", Role::Handler), ("otto", Role::Controller)] {
            let request = NewUserRequest {
                seniority: Default::default(),
                username: username.into(),
                display_name: None,
                role,
                unit: "Riverside Unit".into(),
                password: zeroize::Zeroizing::new(format!("{username}-password-long")),
            };
            create_user(&self.state.kernel, &self.state.cpu, None, &request).await.unwrap();
        }
        let token = self.login("olga", "olga-password-long").await;
        let reply = self
            .call(Method::POST, "/api/v1/sources", Some(&token), Some(json!({
                "code_name": "FALCON", "controller": "otto",
                "identity": {"full_name": "Rosalind Quennell-Abara", "phone_numbers": ["+44 7700 900999"], "addresses": ["9 Weir Cottages, Millbrook"]}
            })))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    /// A second warning officer of the demo unit, "wanda", to approve or draft what "wren"
    /// may not do alone. Returns her token.
    pub async fn second_warning_officer(&self) -> String {
        let request = NewUserRequest {
            seniority: Default::default(),
            username: "wanda".into(),
            display_name: None,
            role: Role::WarningOfficer,
            unit: demo::DEMO_UNIT.into(),
            password: zeroize::Zeroizing::new("wanda-password-long".into()),
        };
        let _ = create_user(&self.state.kernel, &self.state.cpu, None, &request).await;
        self.login("wanda", "wanda-password-long").await
    }

    /// An issued warning of the Riverside unit, which no one of the demo unit may see.
    pub async fn other_unit_warning(&self) -> i64 {
        let request = NewUserRequest {
            seniority: Default::default(),
            username: "wolf".into(),
            display_name: None,
            role: Role::WarningOfficer,
            unit: "Riverside Unit".into(),
            password: zeroize::Zeroizing::new("wolf-password-long".into()),
        };
        create_user(&self.state.kernel, &self.state.cpu, None, &request).await.unwrap();
        let token = self.login("wolf", "wolf-password-long").await;
        let draft = json!({"status": "Exercise", "infos": [{"language": "en-GB", "categories": ["Security"], "event": "Riverside",
            "urgency": "Immediate", "severity": "Severe", "certainty": "Likely", "expires": "2026-11-19T10:00:00-00:00",
            "headline": "Riverside warning", "areas": [{"description": "Mill", "circles": [{"centre": {"lat": 52.9, "lon": 1.1}, "radius_km": 1.0}]}]}]});
        let reply = self.call(Method::POST, "/api/v1/warnings", Some(&token), Some(draft)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.json()["id"].as_i64().unwrap()
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let reply = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "login {username}: {}", reply.body);
        reply.json()["token"].as_str().unwrap().to_owned()
    }

    pub async fn demo_login(&self, role: Role) -> String {
        let (_, username, _, password) = demo::DEMO_USERS.iter().find(|(r, ..)| *r == role).unwrap();
        self.login(username, password).await
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => {
                request.header("content-type", "application/json").body(Body::from(body.to_string()))
            }
            None => request.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    /// Sends a request and checks the answer against the API document: every error an
    /// API or CAP route answers must carry a code the document lists for that operation and
    /// status, so the per-operation lists stay true for every request any test makes.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let (method, path) = (request.method().clone(), request.uri().path().to_owned());
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap();
        let reply = Reply { status, body: String::from_utf8_lossy(&bytes).into_owned() };
        if (path.starts_with("/api/") || path.starts_with("/cap/"))
            && (status.is_client_error() || status.is_server_error())
        {
            check_documented(&method, &path, &reply);
        }
        reply
    }

    /// Another officer of the demo unit, with a seniority of our choosing. Returns a token.
    pub async fn officer(&self, username: &str, role: Role, seniority: tearline_domain::Seniority) -> String {
        self.account_in(demo::DEMO_UNIT, username, role, seniority).await
    }

    /// An account made by the installation (so in effect at once) in `unit`, logged in; its
    /// password is `{username}-password-long`. Returns a token.
    pub async fn account_in(
        &self,
        unit: &str,
        username: &str,
        role: Role,
        seniority: tearline_domain::Seniority,
    ) -> String {
        let password = format!("{username}-password-long");
        let request = NewUserRequest {
            seniority,
            username: username.into(),
            display_name: None,
            role,
            unit: unit.into(),
            password: zeroize::Zeroizing::new(password.clone()),
        };
        create_user(&self.state.kernel, &self.state.cpu, None, &request).await.unwrap();
        self.login(username, &password).await
    }

    pub fn advance(&self, millis: i64) {
        self.now.fetch_add(millis, Ordering::SeqCst);
    }

    pub async fn source_id(&self, code_name: &str) -> i64 {
        let units = self.state.store.units().await.unwrap();
        for unit in units {
            for source in self.state.store.sources_in_unit(unit.id).await.unwrap() {
                if source.code_name == code_name {
                    return source.id.0;
                }
            }
        }
        panic!("no source {code_name}")
    }
}

/// The API document, parsed once.
fn api_document() -> &'static Value {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::from_str(tearline_server::api::OPENAPI).expect("openapi.json parses"))
}

/// The document's path template that `path` matches, preferring literal segments over
/// parameters (`/warnings/recipients` over `/warnings/{id}`).
pub fn operation_path(path: &str) -> Option<String> {
    let paths = api_document()["paths"].as_object()?;
    let segments: Vec<&str> = path.split('/').collect();
    paths
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s);
            matches.then(|| (parts.iter().filter(|t| !t.starts_with('{')).count(), template.clone()))
        })
        .max()
        .map(|(_, template)| template)
}

/// The error codes the document lists for an operation's answer with `status`.
pub fn documented_codes(template: &str, method: &Method, status: StatusCode) -> Vec<String> {
    let operation = &api_document()["paths"][template][method.as_str().to_lowercase()];
    let response = &operation["responses"][status.as_str()];
    response["content"]["application/json"]["schema"]["properties"]["code"]["enum"]
        .as_array()
        .map(|codes| codes.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn check_documented(method: &Method, path: &str, reply: &Reply) {
    if reply.body.trim_start().starts_with("<!doctype html>") {
        // A page for people (the acknowledgement link's): the document must say so.
        let template = operation_path(path).unwrap_or_default();
        let operation = &api_document()["paths"][template.as_str()][method.as_str().to_lowercase()];
        assert!(
            operation["responses"][reply.status.as_str()]["content"]["text/html"].is_object(),
            "{method} {path} answered {} with an HTML page, which openapi.json does not describe",
            reply.status
        );
        return;
    }
    let code = reply.json()["code"].as_str().map(str::to_owned);
    let Some(code) = code else {
        panic!("{method} {path} answered {} without an error code: {}", reply.status, reply.body)
    };
    if let Ok(file) = std::env::var("TEARLINE_RECORD_ERROR_CODES") {
        use std::io::Write;
        let template = operation_path(path).unwrap_or_default();
        let mut out = std::fs::OpenOptions::new().create(true).append(true).open(file).unwrap();
        writeln!(out, "{method}\t{template}\t{}\t{code}", reply.status.as_u16()).unwrap();
        return;
    }
    let template = operation_path(path);
    let known_method = template
        .as_deref()
        .is_some_and(|t| api_document()["paths"][t].get(method.as_str().to_lowercase()).is_some());
    match template {
        Some(template) if known_method => {
            let listed = documented_codes(&template, method, reply.status);
            assert!(
                listed.contains(&code),
                "{method} {template} answered {} {code}, which openapi.json does not list for it (it lists {listed:?})",
                reply.status
            );
        }
        // No such operation: only the framework's own answers are possible.
        Some(_) => {
            assert_eq!((reply.status, code.as_str()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"))
        }
        None => assert_eq!((reply.status, code.as_str()), (StatusCode::NOT_FOUND, "not_found")),
    }
}

/// Every identity value the fixtures seal: what must never reach an unauthorised caller.
pub fn sealed_values() -> Vec<String> {
    let mut values = vec![
        "Rosalind Quennell-Abara".to_owned(),
        "+44 7700 900999".to_owned(),
        "9 Weir Cottages".to_owned(),
        "Quennell".to_owned(),
    ];
    for source in demo::DEMO_SOURCES.iter() {
        values.push(source.full_name.to_owned());
        values.extend(source.aliases.iter().map(|a| a.to_string()));
        values.extend(source.phone_numbers.iter().map(|p| p.to_string()));
        values.extend(source.addresses.iter().map(|a| a.to_string()));
        values.extend(source.family.iter().map(|f| f.to_string()));
        values.push(source.relation_to_group.to_owned());
        values.push(source.motivation.to_owned());
        values.push(source.date_of_birth.to_owned());
    }
    values
}

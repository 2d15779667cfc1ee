//! Who may do what, tried from the outside: every role against every endpoint, and the
//! ways an identity could escape to someone who must never see it.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::{harness, sealed_values, Harness};
use serde_json::{json, Value};
use tearline_domain::Role;

/// One endpoint as the matrix calls it. `{own}` is a source of the demo unit, handled by the
/// demo handler; `{other}` is a source of another unit.
struct Endpoint {
    method: Method,
    path: &'static str,
    body: Option<fn(Role) -> Value>,
    /// The roles that get a 2xx; every other role must get 403 or 404.
    allowed: &'static [Role],
}

use Role::*;

fn endpoints() -> Vec<Endpoint> {
    let all: &'static [Role] = &Role::ALL;
    vec![
        Endpoint { method: Method::GET, path: "/api/v1/me", body: None, allowed: all },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources",
            body: Some(
                |role| json!({"code_name": format!("NEW {}", role.as_str()), "handler": "hana", "controller": "conrad", "identity": {"full_name": "Matrix Person"}}),
            ),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/sources/{own}",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint { method: Method::GET, path: "/api/v1/sources/{other}", body: None, allowed: &[] },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/unseal",
            body: Some(|_| json!({"reason": "authorisation matrix check"})),
            allowed: &[Handler, Controller],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{other}/unseal",
            body: Some(|_| json!({"reason": "authorisation matrix check"})),
            allowed: &[],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/sources/{own}/assignments",
            body: Some(|_| json!({"role": "handler", "username": "hana"})),
            allowed: &[Controller],
        },
        Endpoint { method: Method::GET, path: "/api/v1/users", body: None, allowed: &[Administrator] },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/users",
            body: Some(
                |role| json!({"username": format!("new-{}", role.as_str()), "role": "analyst", "unit": "Harbour District Unit", "password": "a long enough password"}),
            ),
            allowed: &[Administrator],
        },
        Endpoint {
            method: Method::POST,
            path: "/api/v1/vault/rotate",
            body: None,
            allowed: &[Administrator],
        },
        Endpoint { method: Method::GET, path: "/api/v1/audit/events", body: None, allowed: &[Inspector] },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/checkpoints",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/entries?start=0&end=1",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/proof/inclusion?index=0&size=1",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/api/v1/audit/proof/consistency?from=1&to=1",
            body: None,
            allowed: &[Inspector],
        },
        Endpoint { method: Method::GET, path: "/", body: None, allowed: all },
        Endpoint {
            method: Method::GET,
            path: "/sources",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint {
            method: Method::GET,
            path: "/sources/{own}",
            body: None,
            allowed: &[Handler, Controller, AuthorisingOfficer, Inspector],
        },
        Endpoint { method: Method::GET, path: "/users", body: None, allowed: &[Administrator] },
        Endpoint { method: Method::GET, path: "/audit", body: None, allowed: &[Inspector] },
    ]
}

async fn resolve(harness: &Harness, path: &str) -> String {
    let own = harness.source_id("NIGHTJAR").await;
    let other = harness.source_id("FALCON").await;
    path.replace("{own}", &own.to_string()).replace("{other}", &other.to_string())
}

#[tokio::test]
async fn every_role_gets_exactly_its_allowed_set_of_endpoints() {
    let harness = harness().await;
    let mut mismatches = Vec::new();
    for role in Role::ALL {
        let token = harness.demo_login(role).await;
        for endpoint in endpoints() {
            let path = resolve(&harness, endpoint.path).await;
            let body = endpoint.body.map(|make| make(role));
            let reply = harness.call(endpoint.method.clone(), &path, Some(&token), body).await;
            let expected = endpoint.allowed.contains(&role);
            let granted = reply.status.is_success();
            let refused = matches!(reply.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND);
            if (expected && !granted) || (!expected && !refused) {
                mismatches
                    .push(format!("{role} {} {path}: {} {}", endpoint.method, reply.status, reply.body));
            }
        }
    }
    assert!(mismatches.is_empty(), "policy mismatches:\n{}", mismatches.join("\n"));
}

#[tokio::test]
async fn without_a_session_only_public_endpoints_answer() {
    let harness = harness().await;
    for endpoint in endpoints() {
        let path = resolve(&harness, endpoint.path).await;
        let reply =
            harness.call(endpoint.method.clone(), &path, None, endpoint.body.map(|b| b(Role::Handler))).await;
        let api = path.starts_with("/api/");
        if api {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(reply.json()["code"], "unauthenticated");
        } else {
            assert_eq!(reply.status, StatusCode::SEE_OTHER, "{path} redirects to the login page");
        }
    }
    assert_eq!(harness.call(Method::GET, "/api/v1/health", None, None).await.status, StatusCode::OK);
    assert_eq!(harness.call(Method::GET, "/api/v1/openapi.json", None, None).await.status, StatusCode::OK);
}

/// The matrix must cover what the API documents, so a new endpoint cannot slip past it.
#[test]
fn the_matrix_covers_every_documented_endpoint() {
    let document: Value = serde_json::from_str(tearline_server::api::OPENAPI).unwrap();
    let public = [
        "/api/v1/health",
        "/api/v1/openapi.json",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/audit/checkpoint",
    ];
    let mut documented = BTreeSet::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            if !public.contains(&path.as_str()) {
                documented.insert(format!("{} {}", method.to_uppercase(), path.replace("{id}", "{own}")));
            }
        }
    }
    let tested: BTreeSet<String> = endpoints()
        .iter()
        .filter(|e| e.path.starts_with("/api/"))
        .map(|e| {
            format!(
                "{} {}",
                e.method,
                e.path.replace("{other}", "{own}").split('?').next().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(documented, tested);
}

#[tokio::test]
async fn an_analyst_never_receives_an_identity_through_any_endpoint() {
    let harness = harness().await;
    let handler = harness.demo_login(Handler).await;
    for code_name in ["NIGHTJAR", "KESTREL", "HERON"] {
        let id = harness.source_id(code_name).await;
        let reply = harness
            .call(
                Method::POST,
                &format!("/api/v1/sources/{id}/unseal"),
                Some(&handler),
                Some(json!({"reason": "checking before a meeting"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let secrets = sealed_values();
    for role in [Analyst, WarningOfficer, Administrator, AuthorisingOfficer, Inspector] {
        let token = harness.demo_login(role).await;
        let mut paths: Vec<(Method, String, Option<Value>)> = Vec::new();
        for endpoint in endpoints() {
            paths.push((
                endpoint.method.clone(),
                resolve(&harness, endpoint.path).await,
                endpoint.body.map(|b| b(role)),
            ));
        }
        for id in 0..8 {
            paths.push((Method::GET, format!("/api/v1/sources/{id}"), None));
            paths.push((
                Method::POST,
                format!("/api/v1/sources/{id}/unseal"),
                Some(json!({"reason": "I would like to see it"})),
            ));
            paths.push((Method::GET, format!("/sources/{id}"), None));
        }
        paths.push((Method::GET, "/api/v1/sources/not-a-number".into(), None));
        paths.push((Method::POST, "/api/v1/sources/1/unseal".into(), Some(json!({"reason": 5}))));
        for (method, path, body) in paths {
            let reply = harness.call(method.clone(), &path, Some(&token), body).await;
            for secret in &secrets {
                assert!(!reply.body.contains(secret.as_str()), "{role} {method} {path} revealed {secret:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_handler_sees_only_their_own_sources() {
    let harness = harness().await;
    let olga = harness.login("olga", "olga-password-long").await;
    let listed = harness.call(Method::GET, "/api/v1/sources", Some(&olga), None).await.json();
    let names: Vec<&str> =
        listed["sources"].as_array().unwrap().iter().map(|s| s["code_name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["FALCON"]);
    let controller = harness.demo_login(Controller).await;
    let listed = harness.call(Method::GET, "/api/v1/sources", Some(&controller), None).await.json();
    assert_eq!(
        listed["sources"].as_array().unwrap().len(),
        4,
        "the controller sees the whole unit, and only it"
    );
}

#[tokio::test]
async fn a_source_record_never_carries_its_identity() {
    let harness = harness().await;
    let token = harness.demo_login(Controller).await;
    let id = harness.source_id("NIGHTJAR").await;
    let reply = harness.call(Method::GET, &format!("/api/v1/sources/{id}"), Some(&token), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.body.contains("Samira") && !reply.body.contains("900461"), "{}", reply.body);
    let detail = reply.json();
    assert_eq!(detail["source"]["code_name"], "NIGHTJAR");
    assert!(detail["source"]["reference"].as_str().unwrap().starts_with("SR-"));
    assert_eq!(detail["assignments"].as_array().unwrap().len(), 2);
}

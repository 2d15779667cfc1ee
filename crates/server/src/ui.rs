//! The server-rendered web UI: small askama templates, plain forms, no script. Pages call
//! the same operations as the API, so the policy and the audit trail apply unchanged.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::source::SourceRecord;
use tearline_domain::{Role, SourceId, Timestamp};
use tearline_vault::Identity;
use zeroize::Zeroizing;

use crate::api::IdPath;
use crate::auth::{self, cookie_value, Session};
use crate::error::{ApiError, ErrorCode};
use crate::feedback::{DoneOp, Feedback};
use tearline_service::accounts::{self, NewUserRequest};
use tearline_service::audit::AuditQuery;
use tearline_service::auth::Caller;
use tearline_service::sources::{self, NewSourceRequest};
use tearline_service::{AppState, ServiceError};

const PRELOGIN_COOKIE: &str = "tearline_prelogin";
const STYLESHEET: &str = include_str!("../assets/tearline.css");
const FAVICON: &str = include_str!("../assets/favicon.svg");
const WARN_MAP_SCRIPT: &str = include_str!("../assets/warn-map.js");
const LEAFLET_SCRIPT: &str = include_str!("../assets/vendor/leaflet.js");
const LEAFLET_STYLESHEET: &str = include_str!("../assets/vendor/leaflet.css");
/// Natural Earth 1:10m countries and land as TopoJSON (world-atlas), decoded in the browser
/// by topojson-client: land and water, coastlines and boundaries with no network at all.
const BASEMAP: &str = include_str!("../assets/vendor/countries-10m.json");
const TOPOJSON_SCRIPT: &str = include_str!("../assets/vendor/topojson-client.min.js");
const GRAPH_SCRIPT: &str = include_str!("../assets/intel-graph.js");
const CYTOSCAPE_SCRIPT: &str = include_str!("../assets/vendor/cytoscape.min.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/sources", get(source_list).post(create_source))
        .route("/sources/{id}", get(source_page))
        .route("/sources/{id}/unseal", post(unseal))
        .route("/sources/{id}/identity", get(identity_page))
        .route("/sources/{id}/assignments", post(reassign))
        .route("/vault/rotate", post(rotate_vault_key))
        .route("/users", get(users_page).post(create_user))
        .route("/users/{id}/approval", post(approve_user))
        .route("/users/changes", post(change_user))
        .route("/users/status", post(set_user_status))
        .route("/account-changes/{id}/approval", post(approve_account_change))
        .route("/account-changes/{id}/refusal", post(refuse_account_change))
        .route("/audit", get(audit_page))
        .route("/assets/tearline.css", get(|| asset("text/css; charset=utf-8", STYLESHEET)))
        .route("/assets/favicon.svg", get(|| asset("image/svg+xml", FAVICON)))
        .route("/assets/warn-map.js", get(|| asset("text/javascript; charset=utf-8", WARN_MAP_SCRIPT)))
        .route("/assets/vendor/leaflet.js", get(|| asset("text/javascript; charset=utf-8", LEAFLET_SCRIPT)))
        .route("/assets/intel-graph.js", get(|| asset("text/javascript; charset=utf-8", GRAPH_SCRIPT)))
        .route(
            "/assets/vendor/cytoscape.min.js",
            get(|| asset("text/javascript; charset=utf-8", CYTOSCAPE_SCRIPT)),
        )
        .route("/assets/vendor/leaflet.css", get(|| asset("text/css; charset=utf-8", LEAFLET_STYLESHEET)))
        .route("/assets/vendor/countries-10m.json", get(|| asset("application/json", BASEMAP)))
        .route("/assets/map-context.json", get(map_context))
        .route(
            "/assets/vendor/topojson-client.min.js",
            get(|| asset("text/javascript; charset=utf-8", TOPOJSON_SCRIPT)),
        )
        .route("/favicon.ico", get(|| async { Redirect::permanent("/assets/favicon.svg") }))
}

/// The deployment's roads and places for the maps, as checked at start; an empty layer when
/// none is configured, so a map never asks for something missing.
async fn map_context(State(state): State<AppState>) -> Response {
    let body = match &state.settings.map_overlay {
        Some(overlay) => serde_json::to_string(overlay.as_ref()).unwrap_or_default(),
        None => r#"{"roads":[],"places":[]}"#.to_owned(),
    };
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "public, max-age=3600")], body)
        .into_response()
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body)
}

/// The sections of the console, one a link in the header; a page names the one it belongs to
/// so that the header marks it as current.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Home,
    Sources,
    Users,
    Audit,
    Threats,
    Warnings,
    Recipients,
    Register,
    Intelligence,
}

/// One section the caller's role opens: where it is, what it is called, whether it is current.
pub struct NavLink {
    pub(crate) href: &'static str,
    pub(crate) label: &'static str,
    pub(crate) current: bool,
}

/// What the header shows: who is logged in and the sections their role opens.
pub struct Nav {
    pub(crate) username: String,
    pub(crate) role_title: &'static str,
    pub(crate) csrf: String,
    pub(crate) links: Vec<NavLink>,
}

impl Nav {
    /// The header of a page in `section`; a section is offered when the policy lets the
    /// caller's role do what its page does.
    pub fn of(caller: &Caller, section: Section) -> Nav {
        let may = |action| authorize(&caller.actor, action).is_ok();
        let unit_id = caller.actor.unit_id;
        let sections = [
            (Section::Home, "/", "Home", true),
            (Section::Sources, "/sources", "Sources", may(Action::ListSources)),
            (Section::Users, "/users", "Users and keys", may(Action::ManageUsers)),
            (Section::Audit, "/audit", "Audit log", may(Action::ReadAuditTrail)),
            (Section::Threats, "/threats", "Threats", may(Action::ReadThreats { unit_id })),
            (Section::Warnings, "/warnings", "Warnings", may(Action::ReadWarnings { unit_id })),
            (Section::Recipients, "/recipients", "Recipients", may(Action::ManageRecipients)),
            (Section::Register, "/register", "Register", may(Action::ReadAuthorisationRegister { unit_id })),
            (Section::Intelligence, "/intel", "Intelligence", may(Action::ReadIntelligence { unit_id })),
        ];
        Nav {
            username: caller.user.username.clone(),
            role_title: caller.actor.role.title(),
            csrf: caller.csrf_token.clone(),
            links: sections
                .into_iter()
                .filter(|(.., open)| *open)
                .map(|(id, href, label, _)| NavLink { href, label, current: id == section })
                .collect(),
        }
    }

    /// Whether the caller's role opens the section at `href`.
    pub fn opens(&self, href: &str) -> bool {
        self.links.iter().any(|link| link.href == href)
    }
}

/// A UI failure: a login redirect when unauthenticated, otherwise an error page.
pub struct UiError(ApiError);

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> UiError {
        UiError(error)
    }
}

impl From<tearline_service::ServiceError> for UiError {
    fn from(error: tearline_service::ServiceError) -> UiError {
        UiError(error.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if self.0.status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/login").into_response();
        }
        let page = ErrorPage {
            nav: None,
            title: self.0.status.canonical_reason().unwrap_or("Error"),
            code: self.0.code.as_str(),
            message: &self.0.message,
        };
        (self.0.status, render(&page)).into_response()
    }
}

pub type Page = Result<Response, UiError>;

pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => ApiError::internal("template", &error).into_response(),
    }
}

pub fn signed_in(caller: Result<Session, ApiError>) -> Result<Caller, UiError> {
    caller.map(|Session(caller)| caller).map_err(UiError)
}

/// The fields of a page whose forms all post to one route, naming their operation in `op`.
pub type Fields = std::collections::HashMap<String, String>;

/// A form field's value; empty when the form did not send it.
pub fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map(String::as_str).unwrap_or("")
}

/// A form naming an operation its page does not offer.
pub fn unknown_operation() -> ServiceError {
    ServiceError::refused(ErrorCode::InvalidOperation, "the form names no operation this page knows")
}

/// A form field that must be a whole number.
pub fn number(fields: &Fields, name: &str) -> Result<i64, ServiceError> {
    field(fields, name)
        .trim()
        .parse()
        .map_err(|_| ServiceError::refused(ErrorCode::InvalidField, format!("{name} must be a whole number")))
}

/// How long ago `at` was, or how far ahead it is, in the largest whole unit: "3 days ago",
/// "in 5 hours", "just now". Work queues show it beside each item.
pub fn age(at: Timestamp, now: Timestamp) -> String {
    let minutes = (now.0 - at.0) / 60_000;
    let (amount, unit) = match minutes.abs() {
        m if m < 1 => return "just now".to_owned(),
        m if m < 60 => (m, "minute"),
        m if m < 48 * 60 => (m / 60, "hour"),
        m => (m / (24 * 60), "day"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    if minutes > 0 {
        format!("{amount} {unit}{plural} ago")
    } else {
        format!("in {amount} {unit}{plural}")
    }
}

/// Every time the console shows: one format, with its zone. The server keeps UTC and says so.
pub fn format_time(at: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok()
        })
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Option<Nav>,
    title: &'a str,
    code: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    csrf: String,
    error: Option<String>,
    /// The page to return to after logging in ("" for the home page).
    next: String,
}

/// The login form carries a double-submit token: a random value in a `SameSite=Strict`
/// cookie and the same value in the form, so another site cannot log a victim in.
fn login_form(error: Option<String>, status: StatusCode, next: Option<&str>) -> Response {
    let csrf = tearline_service::auth::random_token();
    let cookie = format!("{PRELOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600");
    let next = next.and_then(local_page).unwrap_or_default().to_owned();
    let page = render(&LoginPage { nav: None, csrf, error, next });
    (status, [(header::SET_COOKIE, cookie)], page).into_response()
}

/// A page of this console to go to after logging in: a path on this server, never another
/// site (`//host`, `/\host`) nor the login itself.
fn local_page(next: &str) -> Option<&str> {
    let ours = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2048
        && next.chars().all(|c| c.is_ascii_graphic())
        && !next.starts_with("/login")
        && !next.starts_with("/logout");
    ours.then_some(next)
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

async fn login_page(
    query: Result<axum::extract::Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = query.ok().and_then(|axum::extract::Query(q)| q.next);
    login_form(None, StatusCode::OK, next.as_deref())
}

/// A page opened without a session sends to the login form, which brings the reader back to
/// it: the one place that knows the page asked for (the handlers answer "log in" alone).
pub async fn return_after_login(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let asked = (request.method() == axum::http::Method::GET)
        .then(|| request.uri().path_and_query().map(|p| p.as_str().to_owned()))
        .flatten();
    let mut response = next.run(request).await;
    let to_login = response.headers().get(header::LOCATION).is_some_and(|l| l == "/login");
    if let (true, Some(asked)) = (to_login, asked.as_deref().and_then(local_page)) {
        if asked != "/" {
            let query = serde_urlencoded::to_string([("next", asked)]).unwrap_or_default();
            if let Ok(location) = header::HeaderValue::from_str(&format!("/login?{query}")) {
                response.headers_mut().insert(header::LOCATION, location);
            }
        }
    }
    response
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: Zeroizing<String>,
    csrf: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    client: auth::ClientAddress,
    headers: axum::http::HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_form(Some("Enter a username and a password.".into()), StatusCode::BAD_REQUEST, None);
    };
    let next = Some(form.next.as_str());
    if cookie_value(&headers, PRELOGIN_COOKIE) != Some(form.csrf.as_str()) {
        return login_form(Some("The form expired; please try again.".into()), StatusCode::FORBIDDEN, next);
    }
    match tearline_service::auth::log_in(&state, client.0.as_deref(), &form.username, &form.password)
        .await
        .map_err(ApiError::from)
    {
        Ok(session) => {
            let cookie = auth::session_cookie(&state.settings, Some(&session.token));
            let to = local_page(&form.next).unwrap_or("/").to_owned();
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, to)]).into_response()
        }
        Err(error) => login_form(Some(error.message), error.status, next),
    }
}

/// A form that carries nothing but its CSRF token (a button that does one thing).
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<CsrfForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    tearline_service::auth::log_out(&state, &caller).await?;
    let cookie = auth::session_cookie(&state.settings, None);
    Ok((StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/login".to_owned())])
        .into_response())
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Option<Nav>,
    display_name: String,
    role_title: &'static str,
    unit_name: String,
    duties: &'static str,
    links: Vec<(&'static str, &'static str)>,
    /// Warnings waiting for this officer's approval: (version id, headline, drafted, age).
    awaiting: Vec<(i64, String, String, String)>,
    /// What is due about the caller's sources: (source id, code name, what, when, age).
    due: Vec<(i64, String, &'static str, String, String)>,
    /// Intelligence reports waiting for this controller's release: (source, report, title, age).
    release: Vec<(i64, i64, String, String)>,
    /// Accounts of the unit waiting for this senior controller: (id, username, role title).
    accounts: Vec<(i64, String, &'static str)>,
    /// Changes of account waiting for this senior controller: (change id, username, from, to).
    account_changes: Vec<(i64, String, String, String)>,
    /// Threats whose window closed with no outcome: (id, title, window end).
    outcomes_due: Vec<(i64, String, String)>,
    feedback: Feedback,
    /// Threats under review: (threat id, title, why).
    reviews: Vec<(i64, String, String)>,
    csrf: String,
}

fn duties(role: Role) -> &'static str {
    match role {
        Role::Handler => "You meet your sources and keep their records. You see your own sources and can open a source's sealed identity when you state why; every opening is recorded.",
        Role::Controller => "You supervise the handlers of your unit and see all of the unit's sources. Opening a sealed identity is recorded with your reason.",
        Role::AuthorisingOfficer => "You judge the authorisation of your unit's sources from their records. You never see a source's identity, and you never authorise your own case.",
        Role::Analyst => "You work with sanitised intelligence below the tearline: pseudonymous references and grading, never a source's identity or record.",
        Role::WarningOfficer => "You turn threat assessments into public warnings for an area and follow their delivery. Source records are closed to you.",
        Role::Inspector => "You inspect the unit's records read-only and verify the audit trail. Every record you read is itself recorded.",
        Role::Administrator => "You manage accounts and the vault's keys. Separation of duties keeps source records and identities closed to you.",
    }
}

/// What the home page says after the forms that lead back to it.
fn said_on_home(op: &str) -> Option<(&'static str, &'static str)> {
    match op {
        "approve-account" => Some(("Account approved: it can log in now.", "")),
        "approve-change" => Some(("Change approved: the account has its new role and unit now.", "")),
        "refuse-change" => Some(("Change refused: the account stays as it was.", "")),
        _ => None,
    }
}

async fn home(State(state): State<AppState>, caller: Result<Session, ApiError>, done: DoneOp) -> Page {
    let caller = signed_in(caller)?;
    let nav = Nav::of(&caller, Section::Home);
    let links = nav.links.iter().skip(1).map(|link| (link.href, link.label)).collect();
    let unit_name = accounts::my_unit_name(&state, &caller).await?;
    let now = state.now();
    let awaiting = crate::warn::service::awaiting_my_approval(&state, &caller)
        .await?
        .iter()
        .map(|v| {
            (v.id, tearline_store::headline_of(&v.alert), format_time(v.drafted_at), age(v.drafted_at, now))
        })
        .collect();
    let due = if nav.opens("/sources") {
        crate::lifecycle::due_for(&state, &caller)
            .await?
            .into_iter()
            .map(|d| {
                let label = crate::lifecycle::due_label(d.kind);
                (d.source_id.0, d.code_name, label, format_time(d.at), age(d.at, now))
            })
            .collect()
    } else {
        Vec::new()
    };
    let release = crate::intel::awaiting_release(&state, &caller)
        .await?
        .into_iter()
        .map(|(source, report)| (source.0, report.id, report.title, age(report.drafted_at, now)))
        .collect();
    let accounts = accounts::awaiting_my_approval(&state, &caller)
        .await?
        .into_iter()
        .map(|a| (a.id.0, a.username, a.role.title()))
        .collect();
    let account_changes = accounts::changes_awaiting_my_approval(&state, &caller)
        .await?
        .into_iter()
        .map(|waiting| {
            let a = &waiting.account;
            let from = standing_words(a.role, a.seniority, &waiting.unit_now);
            let c = &waiting.change;
            let to = standing_words(c.role, c.seniority, &waiting.unit_asked);
            (c.id, a.username.clone(), from, to)
        })
        .collect();
    let threat_work = crate::warn::chain::work(&state, &caller).await?;
    Ok(render(&HomePage {
        feedback: done.feedback(said_on_home),
        outcomes_due: threat_work
            .outcomes_due
            .iter()
            .map(|t| (t.id, t.assessment.title.clone(), format_time(t.assessment.window_end)))
            .collect(),
        reviews: threat_work
            .reviews
            .iter()
            .map(|(review, title)| {
                let why = match review.cause {
                    tearline_store::ReviewCause::Corrected => "a supporting report was corrected",
                    tearline_store::ReviewCause::Withdrawn => "a supporting report was withdrawn",
                };
                (review.threat_id, title.clone(), why.to_owned())
            })
            .collect(),
        accounts,
        account_changes,
        csrf: caller.csrf_token.clone(),
        release,
        due,
        nav: Some(nav),
        display_name: caller.user.display_name.clone(),
        role_title: caller.actor.role.title(),
        unit_name,
        duties: duties(caller.actor.role),
        links,
        awaiting,
    }))
}

struct SourceRow {
    id: i64,
    code_name: String,
    reference: String,
    status: &'static str,
    handler: String,
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    nav: Option<Nav>,
    csrf: String,
    rows: Vec<SourceRow>,
    may_create: bool,
    counterpart_label: &'static str,
    counterpart_default: String,
    feedback: Feedback,
}

async fn sources_page(state: &AppState, caller: &Caller, feedback: Feedback) -> Result<SourcesPage, UiError> {
    let listed: Vec<SourceRecord> = sources::list(state, caller).await?;
    let handlers =
        sources::usernames(state, &listed.iter().map(|s| s.handler_id).collect::<Vec<_>>()).await?;
    let rows = listed
        .into_iter()
        .zip(handlers)
        .map(|(source, handler)| SourceRow {
            id: source.id.0,
            code_name: source.code_name,
            reference: source.reference.to_string(),
            status: source.status.as_str(),
            handler,
        })
        .collect();
    let may_create = authorize(&caller.actor, Action::CreateSource { unit_id: caller.actor.unit_id }).is_ok();
    let counterpart_role =
        if caller.actor.role == Role::Controller { Role::Handler } else { Role::Controller };
    let counterpart_default =
        accounts::colleague_in_role(state, caller, counterpart_role).await?.unwrap_or_default();
    Ok(SourcesPage {
        nav: Some(Nav::of(caller, Section::Sources)),
        csrf: caller.csrf_token.clone(),
        rows,
        may_create,
        counterpart_label: if counterpart_role == Role::Handler { "Handler" } else { "Controller" },
        counterpart_default,
        feedback,
    })
}

async fn source_list(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&sources_page(&state, &caller, Feedback::Fresh).await?))
}

#[derive(Deserialize)]
struct NewSourceForm {
    csrf: String,
    code_name: String,
    #[serde(default)]
    counterpart: String,
    full_name: Zeroizing<String>,
    #[serde(default)]
    date_of_birth: Zeroizing<String>,
    #[serde(default)]
    aliases: Zeroizing<String>,
    #[serde(default)]
    phone_numbers: Zeroizing<String>,
    #[serde(default)]
    addresses: Zeroizing<String>,
    #[serde(default)]
    address_points: Zeroizing<String>,
    #[serde(default)]
    family: Zeroizing<String>,
    #[serde(default)]
    relation_to_group: Zeroizing<String>,
    #[serde(default)]
    motivation: Zeroizing<String>,
    #[serde(default)]
    notes: Zeroizing<String>,
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect()
}

async fn create_source(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<NewSourceForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let counterpart = Some(form.counterpart.clone()).filter(|name| !name.trim().is_empty());
    let (handler, controller) =
        if caller.actor.role == Role::Controller { (counterpart, None) } else { (None, counterpart) };
    let mut identity = Identity::default();
    identity.full_name = form.full_name.trim().to_owned();
    identity.date_of_birth = Some(form.date_of_birth.trim().to_owned()).filter(|d| !d.is_empty());
    identity.aliases = lines(&form.aliases);
    identity.phone_numbers = lines(&form.phone_numbers);
    identity.addresses = lines(&form.addresses);
    // "lat, lon" a line; what does not read as two numbers is refused by the identity's checks.
    identity.address_points = lines(&form.address_points)
        .iter()
        .map(|line| {
            let mut numbers =
                line.split([',', ' ']).filter(|n| !n.is_empty()).map(|n| n.parse().unwrap_or(f64::NAN));
            [numbers.next().unwrap_or(f64::NAN), numbers.next().unwrap_or(f64::NAN)]
        })
        .collect();
    identity.family = lines(&form.family);
    identity.relation_to_group = form.relation_to_group.trim().to_owned();
    identity.motivation = form.motivation.trim().to_owned();
    identity.notes = form.notes.trim().to_owned();
    let request =
        NewSourceRequest { code_name: form.code_name.clone(), status: None, handler, controller, identity };
    match sources::create(&state, &caller, request).await.map_err(ApiError::from) {
        Ok(created) => {
            Ok(crate::feedback::done(&format!("/sources/{}", created.id.0), "registered", "").into_response())
        }
        Err(error) if error.status == StatusCode::BAD_REQUEST || error.status == StatusCode::CONFLICT => {
            let typed = [
                ("code_name", form.code_name.as_str()),
                ("counterpart", form.counterpart.as_str()),
                ("full_name", form.full_name.as_str()),
                ("date_of_birth", form.date_of_birth.as_str()),
                ("aliases", form.aliases.as_str()),
                ("phone_numbers", form.phone_numbers.as_str()),
                ("addresses", form.addresses.as_str()),
                ("address_points", form.address_points.as_str()),
                ("family", form.family.as_str()),
                ("relation_to_group", form.relation_to_group.as_str()),
                ("motivation", form.motivation.as_str()),
                ("notes", form.notes.as_str()),
            ];
            let refused = Feedback::refused_with("register", &typed, error.message);
            let page = sources_page(&state, &caller, refused).await?;
            Ok((error.status, render(&page)).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Template)]
#[template(path = "source.html")]
struct SourcePage {
    nav: Option<Nav>,
    csrf: String,
    source: SourceRecord,
    registered: String,
    assignments: Vec<(&'static str, String, String, String)>,
    may_unseal: bool,
    may_reassign: bool,
    feedback: Feedback,
}

async fn source_view(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    feedback: Feedback,
) -> Result<SourcePage, UiError> {
    let sources::SourceRead { source, assignments: history, .. } = sources::read(state, caller, id).await?;
    let assignments = history
        .into_iter()
        .map(|a| {
            (
                a.role.as_str(),
                a.username,
                format_time(a.from),
                a.until.map(format_time).unwrap_or_else(|| "current".into()),
            )
        })
        .collect();
    Ok(SourcePage {
        nav: Some(Nav::of(caller, Section::Sources)),
        csrf: caller.csrf_token.clone(),
        registered: format_time(source.created_at),
        may_unseal: sources::may_unseal(caller, &source),
        may_reassign: authorize(&caller.actor, Action::ReassignSource(sources::scope(&source))).is_ok(),
        source,
        assignments,
        feedback,
    })
}

async fn source_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    done: DoneOp,
) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&source_view(&state, &caller, SourceId(id), done.feedback(said_on_source)).await?))
}

/// What a source's page says after its forms.
fn said_on_source(op: &str) -> Option<(&'static str, &'static str)> {
    Some(match op {
        "registered" => ("Source registered: the identity is sealed in the vault.", ""),
        "reassign" => ("Role handed over; the history below keeps who held it before.", "roles"),
        _ => return None,
    })
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    nav: Option<Nav>,
    code_name: String,
    source_id: i64,
    identity: Identity,
    /// How long this opening lasts, in minutes.
    minutes: i64,
}

/// Unsealing, as a form: a confirmation first (what is recorded, for how long the identity
/// shows), then the unsealing is recorded and the browser is sent to the identity's page
/// with a ticket, so that reloading it never sends the form, nor records an unsealing, again.
/// A reason the service refuses comes back in the form, as typed.
async fn unseal(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(fields): Form<Fields>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(field(&fields, "csrf"))?;
    let reason = field(&fields, "reason");
    let (state, caller) = (&state, &caller);
    let refused = |error: ServiceError| async move {
        let (code, said) = (error.code(), error.to_string());
        let refused = Feedback::refused_with("unseal", &[("reason", reason)], said).with_code(code);
        let page = source_view(state, caller, SourceId(id), refused).await?;
        Ok((StatusCode::BAD_REQUEST, render(&page)).into_response())
    };
    if let Err(error) = sources::validate_reason(reason) {
        return refused(error).await;
    }
    if !crate::confirm::confirmed(&fields) {
        let page = source_view(state, caller, SourceId(id), Feedback::Fresh).await?;
        if page.may_unseal {
            let confirmation = crate::confirm::Confirmation {
                title: format!("Open the identity of {}?", page.source.code_name),
                consequences: vec![
                    format!("Your opening is recorded in the audit log, with your name and your reason: \u{201c}{}\u{201d}.", reason.trim()),
                    format!(
                        "The identity shows for {} minutes; after that, it takes a new unsealing with a reason.",
                        sources::OPENING_MILLIS / 60_000
                    ),
                ],
                verb: "Open the identity".into(),
                note: crate::confirm::Note::None,
                danger: true,
            };
            let back = format!("/sources/{id}");
            let nav = Nav::of(caller, Section::Sources);
            return Ok(crate::confirm::ask(nav, &format!("{back}/unseal"), &back, &fields, confirmation));
        }
    }
    match sources::record_unseal(state, caller, SourceId(id), reason).await {
        Ok(ticket) => {
            let query = serde_urlencoded::to_string([("opening", ticket.as_str())]).unwrap_or_default();
            Ok(Redirect::to(&format!("/sources/{id}/identity?{query}")).into_response())
        }
        Err(error) if error.code() == ErrorCode::ReasonRequired => refused(error).await,
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
struct OpeningQuery {
    #[serde(default)]
    opening: String,
}

/// The identity an unsealing opened, while its ticket lasts; each showing is recorded
/// before anything is decrypted. After that, the source's page says to unseal again.
async fn identity_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    query: Result<axum::extract::Query<OpeningQuery>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let caller = signed_in(caller)?;
    let opening = query.map(|axum::extract::Query(q)| q.opening).unwrap_or_default();
    match sources::open_unsealed(&state, &caller, SourceId(id), &opening).await {
        Ok(sources::Unsealed { code_name, identity }) => Ok(render(&IdentityPage {
            nav: Some(Nav::of(&caller, Section::Sources)),
            code_name,
            source_id: id,
            identity,
            minutes: sources::OPENING_MILLIS / 60_000,
        })),
        Err(error) if error.code() == ErrorCode::StateChanged => {
            let ended = Feedback::refused_with("unseal", &[], error.to_string());
            let page = source_view(&state, &caller, SourceId(id), ended).await?;
            Ok((StatusCode::GONE, render(&page)).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

#[derive(Deserialize)]
struct ReassignForm {
    csrf: String,
    #[serde(flatten)]
    request: sources::ReassignRequest,
}

async fn reassign(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(form): Form<ReassignForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let (kept_role, kept_username) = (form.request.role.as_str(), form.request.username.clone());
    match sources::reassign(&state, &caller, SourceId(id), form.request).await {
        Ok(_) => Ok(crate::feedback::done(&format!("/sources/{id}"), "reassign", "roles").into_response()),
        Err(error) if error.code() == ErrorCode::InvalidAssignment => {
            let typed = [("role", kept_role), ("username", kept_username.as_str())];
            let refused = Feedback::refused_with("reassign", &typed, error.to_string());
            let page = source_view(&state, &caller, SourceId(id), refused).await?;
            Ok((StatusCode::BAD_REQUEST, render(&page)).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

async fn rotate_vault_key(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<CsrfForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    sources::rotate_vault_key_as(&state, &caller).await?;
    Ok(crate::feedback::done("/users", "rotate", "").into_response())
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Option<Nav>,
    csrf: String,
    /// (username, name, role and seniority, unit, status)
    users: Vec<(String, String, String, String, String)>,
    /// The accounts the caller may change, every one but their own: (id, username).
    changeable: Vec<(i64, String)>,
    unit_names: Vec<String>,
    roles: Vec<(&'static str, &'static str)>,
    active_key: u32,
    feedback: Feedback,
}

/// "Controller (senior) in Harbour District Unit".
fn standing_words(role: Role, seniority: tearline_domain::Seniority, unit: &str) -> String {
    format!("{} ({}) in {unit}", role.title(), seniority.as_str())
}

async fn users_view(state: &AppState, caller: &Caller, feedback: Feedback) -> Result<UsersPage, UiError> {
    let (users, units) = accounts::list(state, caller).await?;
    let changeable =
        users.iter().filter(|u| u.id != caller.user.id).map(|u| (u.id.0, u.username.clone())).collect();
    let users = users
        .into_iter()
        .map(|u| {
            let status = match (&u.pending_change, u.disabled, u.awaiting_approval) {
                (_, true, _) => "disabled".to_owned(),
                (_, _, true) => "awaits a senior controller's approval".to_owned(),
                (Some(change), _, _) => format!(
                    "active; a change to {} awaits a senior controller's approval",
                    standing_words(
                        change.role,
                        change.seniority,
                        &accounts::unit_name_of(&units, change.unit_id)
                    )
                ),
                (None, false, false) => "active".to_owned(),
            };
            let role = format!("{} ({})", u.role.title(), u.seniority.as_str());
            (u.username, u.display_name, role, accounts::unit_name_of(&units, u.unit_id), status)
        })
        .collect();
    Ok(UsersPage {
        nav: Some(Nav::of(caller, Section::Users)),
        csrf: caller.csrf_token.clone(),
        users,
        changeable,
        unit_names: units.into_iter().map(|u| u.name).collect(),
        roles: Role::ALL.iter().map(|r| (r.as_str(), r.title())).collect(),
        active_key: state.keys.active_key_id(),
        feedback,
    })
}

async fn users_page(State(state): State<AppState>, caller: Result<Session, ApiError>, done: DoneOp) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&users_view(&state, &caller, done.feedback(said_on_users)).await?))
}

/// What the users page says after its forms.
fn said_on_users(op: &str) -> Option<(&'static str, &'static str)> {
    Some(match op {
        "add-user" => ("Account added. A handler's or controller's account takes effect when a senior controller of its unit approves it.", ""),
        "change-user" => ("Account changed: the change has taken effect.", ""),
        "change-user-requested" => ("Change requested: it widens what the account reaches among identities, so it takes effect when a senior controller of its unit approves it. Until then the account works as before.", ""),
        "disable-user" => ("Account disabled: it cannot log in, and its sessions have ended.", ""),
        "enable-user" => ("Account enabled. A handler's or controller's account takes effect again when a senior controller of its unit approves it.", ""),
        "rotate" => ("A new vault key is active (its number is below); every data key was re-wrapped under it.", ""),
        _ => return None,
    })
}

#[derive(Deserialize)]
struct NewUserForm {
    csrf: String,
    #[serde(flatten)]
    user: NewUserRequest,
}

async fn create_user(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<NewUserForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    match accounts::create_user_as(&state, &caller, &form.user).await.map_err(ApiError::from) {
        Ok(_) => Ok(crate::feedback::done("/users", "add-user", "").into_response()),
        Err(error) if error.status.is_client_error() => {
            let user = &form.user;
            // Everything typed but the password.
            let typed = [
                ("username", user.username.as_str()),
                ("display_name", user.display_name.as_deref().unwrap_or("")),
                ("role", user.role.as_str()),
                ("unit", user.unit.as_str()),
            ];
            let page = users_view(&state, &caller, Feedback::refused_with("add-user", &typed, error.message))
                .await?;
            Ok((error.status, render(&page)).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

/// The account change form: the account, and the role, seniority and unit it is to have.
#[derive(Deserialize)]
struct ChangeUserForm {
    csrf: String,
    account: String,
    #[serde(flatten)]
    change: accounts::AccountChangeRequest,
}

/// The page's answer to a refused form: the users page again, what was typed kept, with
/// the refusal's status.
async fn users_refused(
    state: &AppState,
    caller: &Caller,
    op: &str,
    typed: &[(&str, &str)],
    error: ApiError,
) -> Page {
    if !error.status.is_client_error() {
        return Err(error.into());
    }
    let feedback = Feedback::refused_with(op, typed, error.message).with_code(error.code);
    let page = users_view(state, caller, feedback).await?;
    Ok((error.status, render(&page)).into_response())
}

/// The account a form names by id: a malformed one is refused like a missing one.
fn account_named(field: &str) -> Result<tearline_domain::UserId, ApiError> {
    field.trim().parse().map(tearline_domain::UserId).map_err(|_| ApiError::not_found("account"))
}

async fn change_user(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<ChangeUserForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let changed = match account_named(&form.account) {
        Ok(id) => accounts::change_account(&state, &caller, id, &form.change).await.map_err(ApiError::from),
        Err(error) => Err(error),
    };
    match changed {
        Ok(view) => {
            let op = if view.pending_change.is_some() { "change-user-requested" } else { "change-user" };
            Ok(crate::feedback::done("/users", op, "").into_response())
        }
        Err(error) => {
            let change = &form.change;
            let typed = [
                ("account", form.account.as_str()),
                ("role", change.role.as_str()),
                ("seniority", change.seniority.as_str()),
                ("unit", change.unit.as_str()),
            ];
            users_refused(&state, &caller, "change-user", &typed, error).await
        }
    }
}

/// The disable/enable form: the account and the button pressed.
#[derive(Deserialize)]
struct UserStatusForm {
    csrf: String,
    account: String,
    op: String,
}

async fn set_user_status(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    Form(form): Form<UserStatusForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    let done = match (account_named(&form.account), form.op.as_str()) {
        (Ok(id), "disable-user") => {
            accounts::disable_account(&state, &caller, id).await.map_err(ApiError::from)
        }
        (Ok(id), "enable-user") => {
            accounts::enable_account(&state, &caller, id).await.map_err(ApiError::from)
        }
        (Ok(_), _) => return Err(ApiError::from(unknown_operation()).into()),
        (Err(error), _) => Err(error),
    };
    match done {
        Ok(_) => Ok(crate::feedback::done("/users", &form.op, "").into_response()),
        Err(error) => {
            let typed = [("account", form.account.as_str())];
            users_refused(&state, &caller, "user-status", &typed, error).await
        }
    }
}

/// A senior controller decides a change of account from the home page.
async fn decide_account_change(
    state: &AppState,
    caller: Result<Session, ApiError>,
    id: i64,
    form: &CsrfForm,
    decision: accounts::ChangeDecision,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    accounts::decide_change(state, &caller, id, decision).await?;
    let op = match decision {
        accounts::ChangeDecision::Approve => "approve-change",
        accounts::ChangeDecision::Refuse => "refuse-change",
    };
    Ok(crate::feedback::done("/", op, "").into_response())
}

async fn approve_account_change(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    crate::api::IdPath(id): crate::api::IdPath,
    Form(form): Form<CsrfForm>,
) -> Page {
    decide_account_change(&state, caller, id, &form, accounts::ChangeDecision::Approve).await
}

async fn refuse_account_change(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    crate::api::IdPath(id): crate::api::IdPath,
    Form(form): Form<CsrfForm>,
) -> Page {
    decide_account_change(&state, caller, id, &form, accounts::ChangeDecision::Refuse).await
}

/// A senior controller approves an account from the home page.
async fn approve_user(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    crate::api::IdPath(id): crate::api::IdPath,
    Form(form): Form<CsrfForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    accounts::approve(&state, &caller, tearline_domain::UserId(id)).await?;
    Ok(crate::feedback::done("/", "approve-account", "").into_response())
}

/// One event as the audit page shows it.
struct AuditRow {
    index: u64,
    at: String,
    actor: String,
    action: String,
    object: String,
    /// Where the reader can open the object, when they may.
    href: Option<String>,
    reason: String,
    outcome: &'static str,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    /// The latest checkpoint: the log size it signs, and the note.
    checkpoint: Option<(u64, String)>,
    status: Result<String, String>,
    verifier_key: String,
    rows: Vec<AuditRow>,
    filter: AuditFilter,
    /// The query string of the next older page, when there is one.
    older: Option<String>,
    /// Whether this page starts below the newest entry (a link back to it is offered).
    paged: bool,
    searched: (u64, u64),
    /// Why the filter could not be read, if it could not.
    refused: Option<String>,
}

/// The audit page's filter as typed: usernames and dates, as a person writes them.
#[derive(Deserialize, Default, Clone, serde::Serialize)]
struct AuditFilter {
    #[serde(default)]
    actor: String,
    /// The action, or its start (named `event` so that it is not read as a form's operation).
    #[serde(default)]
    event: String,
    #[serde(default)]
    object: String,
    /// YYYY-MM-DD, from the start of that day (UTC).
    #[serde(default)]
    from: String,
    /// YYYY-MM-DD, to the end of that day (UTC).
    #[serde(default)]
    to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<u64>,
}

/// The audit page's filter without its place in the log: the newest page of the same search.
fn newest_page(filter: &AuditFilter) -> String {
    serde_urlencoded::to_string(AuditFilter { before: None, ..filter.clone() }).unwrap_or_default()
}

/// A day as the console writes it (YYYY-MM-DD, UTC), as the time it starts.
fn day_start(text: &str, label: &str) -> Result<Option<Timestamp>, ServiceError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]"))
        .map(|day| Some(Timestamp(day.midnight().assume_utc().unix_timestamp() * 1000)))
        .map_err(|_| {
            ServiceError::refused(ErrorCode::InvalidDate, format!("{label} must be written YYYY-MM-DD"))
        })
}

impl AuditFilter {
    /// The query the service searches with; a username no account has matches nothing.
    fn query(
        &self,
        names: &std::collections::HashMap<tearline_domain::UserId, String>,
    ) -> Result<AuditQuery, ServiceError> {
        let actor = match self.actor.trim() {
            "" => None,
            name => Some(
                names
                    .iter()
                    .find(|(_, username)| username.as_str() == name)
                    .map_or(tearline_domain::UserId(-1), |(id, _)| *id),
            ),
        };
        let day = 24 * 60 * 60 * 1000;
        Ok(AuditQuery {
            actor,
            action: self.event.clone(),
            object: self.object.clone(),
            from: day_start(&self.from, "From")?,
            until: day_start(&self.to, "To")?.map(|t| t.plus_millis(day)),
        })
    }
}

/// Checks the latest checkpoint as an inspector would: its signature with the log's key, and
/// its root against the tree recomputed from the stored hashes.
async fn checkpoint_status(
    state: &AppState,
) -> Result<(Option<(u64, String)>, Result<String, String>), ServiceError> {
    let Some((size, note)) = state.log.latest_checkpoint().await? else {
        return Ok((None, Err("no checkpoint has been signed yet".into())));
    };
    let status = match tearline_auditlog::checkpoint::verify(note.as_bytes(), state.log.verifier_key()) {
        Err(error) => Err(format!("the signature does not verify: {error}")),
        Ok(signed) => match state.log.root(size).await {
            Ok(root) if root == signed.root => {
                Ok(format!("signature valid; the root matches the {size} stored entries"))
            }
            Ok(_) => Err("the signed root does not match the stored tree".into()),
            Err(error) => Err(format!("the stored tree could not be read: {error}")),
        },
    };
    Ok((Some((size, note)), status))
}

/// The audit log for inspection: events with usernames and the objects' names, linked where
/// the reader may open them; filters by actor, action, object and time; paging over the whole
/// log; the latest checkpoint whole, to keep.
async fn audit_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    filter: Result<axum::extract::Query<AuditFilter>, axum::extract::rejection::QueryRejection>,
) -> Page {
    let caller = signed_in(caller)?;
    let nav = Nav::of(&caller, Section::Audit);
    let filter = filter.map(|axum::extract::Query(f)| f).unwrap_or_default();
    let names = crate::lifecycle::names(&state).await?;
    let (page, refused) = match filter.query(&names) {
        Ok(query) => {
            (Some(tearline_service::audit::search(&state, &caller, &query, filter.before).await?), None)
        }
        Err(error) => {
            tearline_service::audit::require(&state, &caller, Action::ReadAuditTrail, "audit.read").await?;
            (None, Some(error.to_string()))
        }
    };
    // Code names label the sources the reader may list; other objects keep their reference.
    let sources: std::collections::HashMap<i64, String> = if nav.opens("/sources") {
        sources::list(&state, &caller).await?.into_iter().map(|s| (s.id.0, s.code_name)).collect()
    } else {
        std::collections::HashMap::new()
    };
    let label = |object: &str| -> (String, Option<String>) {
        let Some((kind, id)) = object.split_once(':') else { return (object.to_owned(), None) };
        let Ok(number) = id.parse::<i64>() else { return (object.to_owned(), None) };
        let opens = |href: &str, path: String| nav.opens(href).then_some(path);
        match kind {
            "source" => match sources.get(&number) {
                Some(code_name) => (format!("source {code_name}"), Some(format!("/sources/{number}"))),
                None => (object.to_owned(), None),
            },
            "user" => {
                let name = names.get(&tearline_domain::UserId(number)).cloned();
                (name.map_or_else(|| object.to_owned(), |n| format!("account {n}")), None)
            }
            "warning-version" => {
                (object.to_owned(), opens("/warnings", format!("/warnings/versions/{number}")))
            }
            "threat" => (object.to_owned(), opens("/threats", format!("/threats/{number}"))),
            "intel" | "intel-report" => {
                (format!("report #{number}"), opens("/intel", format!("/intel/reports/{number}")))
            }
            _ => (object.to_owned(), None),
        }
    };
    let (rows, older, searched) = match page {
        Some(page) => {
            let rows = page
                .events
                .into_iter()
                .map(|r| {
                    let actor = r.event.actor.map_or_else(
                        || "the server".to_owned(),
                        |a| names.get(&a).cloned().unwrap_or_else(|| format!("user {}", a.0)),
                    );
                    let (object, href) = label(&r.event.object);
                    AuditRow {
                        index: r.index,
                        at: format_time(r.event.at),
                        actor,
                        action: r.event.action,
                        object,
                        href,
                        reason: r.event.reason.unwrap_or_default(),
                        outcome: r.event.outcome.as_str(),
                    }
                })
                .collect();
            let older = page.older.map(|before| {
                serde_urlencoded::to_string(AuditFilter { before: Some(before), ..filter.clone() })
                    .unwrap_or_default()
            });
            (rows, older, page.searched)
        }
        None => (Vec::new(), None, (0, 0)),
    };
    let (checkpoint, status) = checkpoint_status(&state).await?;
    let verifier_key = state.log.verifier_key().to_owned();
    let status_code = if refused.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let page = render(&AuditPage {
        nav: Some(nav),
        checkpoint,
        status,
        verifier_key,
        rows,
        paged: filter.before.is_some(),
        filter,
        older,
        searched,
        refused,
    });
    Ok((status_code, page).into_response())
}

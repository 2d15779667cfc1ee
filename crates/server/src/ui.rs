//! The server-rendered web UI: small askama templates, plain forms, no script. Pages call
//! the same operations as the API, so the policy and the audit trail apply unchanged.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tearline_domain::audit::Outcome;
use tearline_domain::policy::{authorize, Action};
use tearline_domain::source::SourceRecord;
use tearline_domain::{Role, SourceId, Timestamp};
use tearline_vault::Identity;
use zeroize::Zeroizing;

use crate::api::IdPath;
use crate::auth::{self, cookie_value, Session};
use crate::error::{ApiError, ErrorCode};
use tearline_service::accounts::{self, NewUserRequest};
use tearline_service::audit::{record, require};
use tearline_service::auth::Caller;
use tearline_service::sources::{self, NewSourceRequest};
use tearline_service::{AppState, ServiceError};

const PRELOGIN_COOKIE: &str = "tearline_prelogin";
const STYLESHEET: &str = include_str!("../assets/tearline.css");
const FAVICON: &str = include_str!("../assets/favicon.svg");
const WARN_MAP_SCRIPT: &str = include_str!("../assets/warn-map.js");
const LEAFLET_SCRIPT: &str = include_str!("../assets/vendor/leaflet.js");
const LEAFLET_STYLESHEET: &str = include_str!("../assets/vendor/leaflet.css");
const COUNTRY_OUTLINES: &str = include_str!("../assets/vendor/countries-110m.geojson");
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
        .route("/sources/{id}/assignments", post(reassign))
        .route("/vault/rotate", post(rotate_vault_key))
        .route("/users", get(users_page).post(create_user))
        .route("/users/{id}/approval", post(approve_user))
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
        .route(
            "/assets/vendor/countries-110m.geojson",
            get(|| asset("application/geo+json", COUNTRY_OUTLINES)),
        )
        .route("/favicon.ico", get(|| async { Redirect::permanent("/assets/favicon.svg") }))
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body)
}

/// What the header shows: who is logged in and the sections their role opens.
pub struct Nav {
    pub(crate) username: String,
    pub(crate) role_title: &'static str,
    pub(crate) csrf: String,
    pub(crate) sources: bool,
    pub(crate) users: bool,
    pub(crate) audit: bool,
    pub(crate) warnings: bool,
    pub(crate) threats: bool,
    pub(crate) recipients: bool,
    pub(crate) register: bool,
    pub(crate) intelligence: bool,
}

impl Nav {
    pub fn of(caller: &Caller) -> Nav {
        let may = |action| authorize(&caller.actor, action).is_ok();
        Nav {
            username: caller.user.username.clone(),
            role_title: caller.actor.role.title(),
            csrf: caller.csrf_token.clone(),
            sources: may(Action::ListSources),
            users: may(Action::ManageUsers),
            audit: may(Action::ReadAuditTrail),
            warnings: may(Action::ReadWarnings { unit_id: caller.actor.unit_id }),
            threats: may(Action::ReadThreats { unit_id: caller.actor.unit_id }),
            recipients: may(Action::ManageRecipients),
            register: may(Action::ReadAuthorisationRegister { unit_id: caller.actor.unit_id }),
            intelligence: may(Action::ReadIntelligence { unit_id: caller.actor.unit_id }),
        }
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

pub fn format_time(at: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]")).ok()
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
}

/// The login form carries a double-submit token: a random value in a `SameSite=Strict`
/// cookie and the same value in the form, so another site cannot log a victim in.
fn login_form(error: Option<String>, status: StatusCode) -> Response {
    let csrf = tearline_service::auth::random_token();
    let cookie = format!("{PRELOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600");
    let page = render(&LoginPage { nav: None, csrf, error });
    (status, [(header::SET_COOKIE, cookie)], page).into_response()
}

async fn login_page() -> Response {
    login_form(None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: Zeroizing<String>,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    client: auth::ClientAddress,
    headers: axum::http::HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return login_form(Some("Enter a username and a password.".into()), StatusCode::BAD_REQUEST);
    };
    if cookie_value(&headers, PRELOGIN_COOKIE) != Some(form.csrf.as_str()) {
        return login_form(Some("The form expired; please try again.".into()), StatusCode::FORBIDDEN);
    }
    match tearline_service::auth::log_in(&state, client.0.as_deref(), &form.username, &form.password)
        .await
        .map_err(ApiError::from)
    {
        Ok(session) => {
            let cookie = auth::session_cookie(&state.settings, Some(&session.token));
            (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/".to_owned())])
                .into_response()
        }
        Err(error) => login_form(Some(error.message), error.status),
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
    /// Warnings waiting for this officer's approval: (version id, headline).
    awaiting: Vec<(i64, String)>,
    /// What is due about the caller's sources: (source id, code name, what, when).
    due: Vec<(i64, String, &'static str, String)>,
    /// Intelligence reports waiting for this controller's release: (source, report, title).
    release: Vec<(i64, i64, String)>,
    /// Accounts of the unit waiting for this senior controller: (id, username, role title).
    accounts: Vec<(i64, String, &'static str)>,
    /// Threats whose window closed with no outcome: (id, title, window end).
    outcomes_due: Vec<(i64, String, String)>,
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

async fn home(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    let nav = Nav::of(&caller);
    let links = [
        (nav.sources, "/sources", "Sources"),
        (nav.users, "/users", "Users and keys"),
        (nav.audit, "/audit", "Audit log"),
        (nav.threats, "/threats", "Threat assessments"),
        (nav.warnings, "/warnings", "Warnings"),
        (nav.recipients, "/recipients", "Recipients"),
        (nav.intelligence, "/intel", "Intelligence: search and link chart"),
        (nav.register, "/register", "Register of authorisations"),
    ]
    .into_iter()
    .filter(|(open, ..)| *open)
    .map(|(_, path, label)| (path, label))
    .collect();
    let unit_name = accounts::my_unit_name(&state, &caller).await?;
    let awaiting = crate::warn::service::awaiting_my_approval(&state, &caller)
        .await?
        .iter()
        .map(|v| (v.id, tearline_store::headline_of(&v.alert)))
        .collect();
    let due = if nav.sources {
        crate::lifecycle::due_for(&state, &caller)
            .await?
            .into_iter()
            .map(|d| (d.source_id.0, d.code_name, crate::lifecycle::due_label(d.kind), format_time(d.at)))
            .collect()
    } else {
        Vec::new()
    };
    let release: Vec<(i64, i64, String)> = crate::intel::awaiting_release(&state, &caller)
        .await?
        .into_iter()
        .map(|(source, report)| (source.0, report.id, report.title))
        .collect();
    let accounts = accounts::awaiting_my_approval(&state, &caller)
        .await?
        .into_iter()
        .map(|a| (a.id.0, a.username, a.role.title()))
        .collect();
    let threat_work = crate::warn::chain::work(&state, &caller).await?;
    Ok(render(&HomePage {
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
    error: Option<String>,
}

async fn sources_page(
    state: &AppState,
    caller: &Caller,
    error: Option<String>,
) -> Result<SourcesPage, UiError> {
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
        nav: Some(Nav::of(caller)),
        csrf: caller.csrf_token.clone(),
        rows,
        may_create,
        counterpart_label: if counterpart_role == Role::Handler { "Handler" } else { "Controller" },
        counterpart_default,
        error,
    })
}

async fn source_list(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&sources_page(&state, &caller, None).await?))
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
        Ok(created) => Ok(Redirect::to(&format!("/sources/{}", created.id.0)).into_response()),
        Err(error) if error.status == StatusCode::BAD_REQUEST || error.status == StatusCode::CONFLICT => {
            let page = sources_page(&state, &caller, Some(error.message)).await?;
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
    error: Option<String>,
}

async fn source_view(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
    error: Option<String>,
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
        nav: Some(Nav::of(caller)),
        csrf: caller.csrf_token.clone(),
        registered: format_time(source.created_at),
        may_unseal: sources::may_unseal(caller, &source),
        may_reassign: authorize(&caller.actor, Action::ReassignSource(sources::scope(&source))).is_ok(),
        source,
        assignments,
        error,
    })
}

async fn source_page(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&source_view(&state, &caller, SourceId(id), None).await?))
}

#[derive(Deserialize)]
struct UnsealForm {
    csrf: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "identity.html")]
struct IdentityPage {
    nav: Option<Nav>,
    code_name: String,
    source_id: i64,
    identity: Identity,
}

async fn unseal(
    State(state): State<AppState>,
    caller: Result<Session, ApiError>,
    IdPath(id): IdPath,
    Form(form): Form<UnsealForm>,
) -> Page {
    let caller = signed_in(caller)?;
    caller.check_csrf(&form.csrf)?;
    match sources::unseal(&state, &caller, SourceId(id), &form.reason).await {
        Ok(sources::Unsealed { code_name, identity }) => {
            Ok(render(&IdentityPage { nav: Some(Nav::of(&caller)), code_name, source_id: id, identity }))
        }
        Err(error) if error.code() == ErrorCode::ReasonRequired => {
            let page = source_view(&state, &caller, SourceId(id), Some(error.to_string())).await?;
            Ok((StatusCode::BAD_REQUEST, render(&page)).into_response())
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
    match sources::reassign(&state, &caller, SourceId(id), form.request).await {
        Ok(_) => Ok(Redirect::to(&format!("/sources/{id}")).into_response()),
        Err(error) if error.code() == ErrorCode::InvalidAssignment => {
            let page = source_view(&state, &caller, SourceId(id), Some(error.to_string())).await?;
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
    let report = sources::rotate_vault_key_as(&state, &caller).await?;
    let notice = format!(
        "Vault key {} is now active; {} data keys were re-wrapped under it.",
        report.key_id, report.rewrapped
    );
    let mut page = users_view(&state, &caller, None).await?;
    page.notice = Some(notice);
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Option<Nav>,
    csrf: String,
    /// (username, name, role, unit, status)
    users: Vec<(String, String, &'static str, String, &'static str)>,
    roles: Vec<(&'static str, &'static str)>,
    active_key: u32,
    notice: Option<String>,
    error: Option<String>,
}

async fn users_view(state: &AppState, caller: &Caller, error: Option<String>) -> Result<UsersPage, UiError> {
    let (users, units) = accounts::list(state, caller).await?;
    let unit_name = |id| units.iter().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_default();
    let users = users
        .into_iter()
        .map(|u| {
            let status = if u.awaiting_approval { "awaits a senior controller's approval" } else { "active" };
            (u.username, u.display_name, u.role.title(), unit_name(u.unit_id), status)
        })
        .collect();
    Ok(UsersPage {
        nav: Some(Nav::of(caller)),
        csrf: caller.csrf_token.clone(),
        users,
        roles: Role::ALL.iter().map(|r| (r.as_str(), r.title())).collect(),
        active_key: state.keys.active_key_id(),
        notice: None,
        error,
    })
}

async fn users_page(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    Ok(render(&users_view(&state, &caller, None).await?))
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
        Ok(_) => Ok(Redirect::to("/users").into_response()),
        Err(error) if error.status.is_client_error() => {
            let page = users_view(&state, &caller, Some(error.message.clone())).await?;
            Ok((error.status, render(&page)).into_response())
        }
        Err(error) => Err(error.into()),
    }
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
    Ok(Redirect::to("/").into_response())
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    checkpoint: Option<String>,
    status: Result<String, String>,
    verifier_key: String,
    rows: Vec<(u64, String, String, String, String, String, &'static str)>,
}

/// Checks the latest checkpoint as an inspector would: its signature with the log's key, and
/// its root against the tree recomputed from the stored hashes.
async fn checkpoint_status(
    state: &AppState,
) -> Result<(Option<String>, Result<String, String>), ServiceError> {
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
    Ok((Some(note), status))
}

async fn audit_page(State(state): State<AppState>, caller: Result<Session, ApiError>) -> Page {
    let caller = signed_in(caller)?;
    require(&state, &caller, Action::ReadAuditTrail, "audit.read").await?;
    record(&state, Some(caller.user.id), "audit.read", "audit:latest", None, Outcome::Allowed).await?;
    let failed = |e: tearline_domain::audit::AuditError| ApiError::internal("audit read", &e);
    let size = tearline_domain::audit::AuditLog::size(&state.log).await.map_err(failed)?;
    let events = tearline_domain::audit::AuditLog::read(&state.log, size.saturating_sub(200), 200)
        .await
        .map_err(failed)?;
    let rows = events
        .into_iter()
        .rev()
        .map(|r| {
            let actor = r.event.actor.map_or_else(|| "—".to_owned(), |a| format!("user:{}", a.0));
            (
                r.index,
                format_time(r.event.at),
                actor,
                r.event.action,
                r.event.object,
                r.event.reason.unwrap_or_default(),
                r.event.outcome.as_str(),
            )
        })
        .collect();
    let (checkpoint, status) = checkpoint_status(&state).await?;
    let verifier_key = state.log.verifier_key().to_owned();
    Ok(render(&AuditPage { nav: Some(Nav::of(&caller)), checkpoint, status, verifier_key, rows }))
}

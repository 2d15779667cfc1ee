//! CSV exports for oversight and disclosure: the register of authorisations, one source's
//! full record set (Source Records Regulations reg. 3) and a source's payments over a
//! period. Cells that a spreadsheet would run as a formula are neutralised.

use std::collections::HashMap;

use tearline_domain::audit::Outcome;
use tearline_domain::policy::Action;
use tearline_domain::{SourceId, Timestamp, UserId};
use tearline_store::RegisterRow;

use super::Disclosure;
use crate::above_line;
use crate::audit::record;
use crate::auth::Caller;
use crate::error::ServiceError;
use crate::sources;
use crate::state::AppState;

/// RFC 3339 in UTC, as spreadsheets and people read it.
pub fn iso(at: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn iso_or_blank(at: Option<Timestamp>) -> String {
    at.map(iso).unwrap_or_default()
}

/// A cell starting with `=`, `+`, `-`, `@`, tab or CR would run as a formula in a
/// spreadsheet; a leading apostrophe keeps it text.
fn cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

fn document(header: &[&str], rows: Vec<Vec<String>>) -> Result<String, ServiceError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: &dyn std::fmt::Display| ServiceError::internal("csv", e);
    writer.write_record(header).map_err(|e| failed(&e))?;
    for row in rows {
        writer.write_record(row.iter().map(|v| cell(v))).map_err(|e| failed(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| failed(&e))?;
    String::from_utf8(bytes).map_err(|e| failed(&e))
}

fn name(names: &HashMap<UserId, String>, id: Option<UserId>) -> String {
    id.map(|id| names.get(&id).cloned().unwrap_or_else(|| format!("user {}", id.0))).unwrap_or_default()
}

/// The register: one row per event of every authorisation, so refused attempts show.
pub fn register_csv<T>(
    rows: &[RegisterRow<T>],
    names: &HashMap<UserId, String>,
) -> Result<String, ServiceError> {
    let mut out = Vec::new();
    for row in rows {
        let a = &row.authorisation;
        for event in &row.events {
            out.push(vec![
                format!("AUTH-{}", a.id),
                row.code_name.clone(),
                row.reference.clone(),
                a.application.kind.as_str().to_owned(),
                a.state.as_str().to_owned(),
                iso(a.applied_at),
                name(names, Some(a.applicant_id)),
                iso_or_blank(a.grant.map(|g| g.starts_at)),
                name(names, a.authoriser_id),
                iso_or_blank(a.grant.map(|g| g.expires_at)),
                event.kind.as_str().to_owned(),
                iso(event.at),
                event.actor.clone(),
                iso_or_blank(event.expires_at),
                event.note.clone(),
            ]);
        }
    }
    document(
        &[
            "authorisation",
            "code_name",
            "reference",
            "kind",
            "state",
            "applied_at",
            "applicant",
            "granted_at",
            "authorised_by",
            "expires_at",
            "event",
            "event_at",
            "event_by",
            "event_expires_at",
            "event_note",
        ],
        out,
    )
}

pub fn disclosure_csv(
    disclosure: &Disclosure,
    names: &HashMap<UserId, String>,
) -> Result<String, ServiceError> {
    let rows = disclosure
        .payments
        .iter()
        .map(|p| {
            vec![
                format!("PAY-{}", p.id),
                disclosure.code_name.clone(),
                disclosure.reference.clone(),
                iso(p.requested_at),
                name(names, Some(p.requested_by)),
                p.amount.to_string(),
                p.purpose.clone(),
                p.state.as_str().to_owned(),
                p.thresholds_crossed.join(" + "),
                name(names, p.decided_by),
                iso_or_blank(p.decided_at),
                name(names, p.paid_by),
                name(names, p.witness_id),
                iso_or_blank(p.paid_at),
                p.receipt_code_name.clone().unwrap_or_default(),
                iso_or_blank(p.receipt_at),
            ]
        })
        .collect();
    document(
        &[
            "payment",
            "code_name",
            "reference",
            "requested_at",
            "requested_by",
            "amount",
            "purpose",
            "state",
            "thresholds_crossed",
            "decided_by",
            "decided_at",
            "paid_by",
            "witness",
            "paid_at",
            "receipt_signed_as",
            "receipt_at",
        ],
        rows,
    )
}

/// One source's full record set for an inspector: every fact reg. 3 asks for that the
/// record holds, one row each. The identity stays sealed: inspectors never unseal.
pub async fn record_set(
    state: &AppState,
    caller: &Caller,
    id: SourceId,
) -> Result<(String, String), ServiceError> {
    let source = sources::load_for(
        state,
        caller,
        id,
        |scope| Action::ExportRecords { unit_id: scope.unit_id },
        "source.records.export",
    )
    .await?;
    let names = super::names(state).await?;
    let object = format!("source:{}", source.id.0);
    let read =
        record(state, Some(caller.user.id), "source.records.export", &object, None, Outcome::Allowed).await?;
    let view = super::view(state, caller, &source, &read).await?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |section: &str, at: Option<Timestamp>, by: Option<UserId>, detail: String| {
        rows.push(vec![section.to_owned(), iso_or_blank(at), name(&names, by), detail]);
    };
    row(
        "identity",
        None,
        None,
        "sealed in the vault; not exported (only the source's handler or controller may unseal it, with a recorded reason)".into(),
    );
    row("code name", None, None, source.code_name.clone());
    row("reference", None, None, source.reference.to_string());
    row("status", None, None, source.status.to_string());
    row("recruited", Some(source.recruited_at), None, String::new());
    for a in state.store.assignments(source.id).await? {
        let until = a.until.map(|u| format!(" until {}", iso(u))).unwrap_or_else(|| " (current)".into());
        row(a.role.as_str(), Some(a.from), Some(a.user_id), format!("held{until}"));
    }
    for a in &view.authorisations {
        let detail = format!(
            "AUTH-{} {} ({}), state {}; purpose: {}",
            a.id,
            a.application.kind.as_str(),
            if a.application.vulnerable { "vulnerable" } else { "not vulnerable" },
            a.state.as_str(),
            a.application.case.purpose
        );
        row("authorisation", Some(a.applied_at), Some(a.applicant_id), detail);
    }
    for e in &view.events {
        let expiry = e.expires_at.map(|x| format!(" expires {}", iso(x))).unwrap_or_default();
        row(
            "authorisation event",
            Some(e.at),
            Some(e.actor_id),
            format!("AUTH-{} {}{expiry}: {}", e.authorisation_id, e.kind.as_str(), e.note),
        );
    }
    for r in &view.risk_assessments {
        let detail = format!(
            "version {}, {} risk; risks explained to and understood by the source: yes; {}; mitigations: {}",
            r.version, r.risk_level, r.text.summary, r.text.mitigations
        );
        row("risk assessment", Some(r.assessed_at), Some(r.assessed_by), detail);
    }
    for w in &view.welfare {
        row("welfare", Some(w.at), Some(w.recorded_by), format!("{}: {}", w.kind, w.text.notes));
    }
    for t in &view.tasks {
        let acknowledged =
            t.acknowledged_at.map(|a| format!(" (acknowledged {})", iso(a))).unwrap_or_default();
        row("task", Some(t.given_at), Some(t.given_by), format!("{}{acknowledged}", t.description));
    }
    for c in &view.contacts {
        let control = if c.authorised { "" } else { " [no live authorisation]" };
        row(
            "contact",
            Some(c.at),
            Some(c.logged_by),
            format!("{} at {}{control}: {}", c.method, c.text.place, c.text.summary),
        );
    }
    for c in above_line::open_all(state, &read, &source, state.store.contact_reports_of(source.id).await?)? {
        row(
            "contact report",
            Some(c.met_at),
            Some(c.handler_id),
            format!("{} at {}; present: {}", c.method, c.text.place, c.text.present),
        );
    }
    // Information obtained and where it was passed (reg. 3).
    for report in state.store.intel_reports_of_source(source.id).await? {
        let detail = format!(
            "#{} version {} \"{}\" ({}, {}, {})",
            report.id,
            report.version,
            report.title,
            report.state.as_str(),
            report.grading.admiralty,
            report.grading.tlp.as_str()
        );
        row("information obtained", Some(report.drafted_at), report.drafted_by, detail);
        for passed in state.store.disseminations(report.id).await? {
            row(
                "passed on",
                Some(passed.passed_at),
                Some(passed.recorded_by),
                format!("#{} to {}", report.id, passed.recipient),
            );
        }
    }
    for p in view.payments.iter().flatten() {
        let detail = format!("PAY-{} {} for {}: {}", p.id, p.amount, p.purpose, p.state.as_str());
        row("payment", Some(p.requested_at), Some(p.requested_by), detail);
    }
    let body = document(&["section", "at", "by", "detail"], rows)?;
    Ok((format!("record-set-{}.csv", source.reference), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_escaped() {
        let csv = document(&["a", "b"], vec![vec!["=HYPERLINK(\"x\")".into(), "plain, with comma".into()]])
            .expect("written");
        assert_eq!(csv, "a,b\n\"'=HYPERLINK(\"\"x\"\")\",\"plain, with comma\"\n");
    }
}

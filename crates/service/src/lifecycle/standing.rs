//! A source's standing: the reliability grade it carries, what became of the reports
//! released under its reference (its track record, built from threat outcomes), and the
//! controllers' validations of the grade against that record.

use serde::{Deserialize, Serialize};
use tearline_domain::policy::Action;
use tearline_domain::source::SourceRecord;
use tearline_domain::SourceId;
use tearline_intel::grading::Reliability;
use tearline_intel::track::TrackRecord;
use tearline_store::Validation;

use super::{invalid, object, text};
use crate::auth::Caller;
use crate::error::{ErrorCode, ServiceError};
use crate::guard;
use crate::sources;
use crate::state::AppState;

/// Where the grade a source carries comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GradeBasis {
    /// A controller's latest validation.
    Validation,
    /// The grade given to its latest released report, never validated.
    LatestReport,
}

#[derive(Debug, Serialize)]
pub struct Standing {
    pub grade: Option<Reliability>,
    pub grade_basis: Option<GradeBasis>,
    pub track_record: TrackRecord,
    /// The record speaks against the grade (`TrackRecord::contradicts`).
    pub contradicted: bool,
    /// Latest first.
    pub validations: Vec<Validation>,
}

pub(crate) async fn standing(state: &AppState, source: &SourceRecord) -> Result<Standing, ServiceError> {
    let reports = state.store.released_under_reference(source.reference.as_str()).await?;
    let track_record = TrackRecord::of(&reports);
    let validations = state.store.validations(source.id).await?;
    let (grade, grade_basis) = match validations.first() {
        Some(latest) => (Some(latest.reliability), Some(GradeBasis::Validation)),
        None => match reports.last() {
            Some(latest) => {
                let report = state.store.intel_report(latest.id).await?;
                (report.map(|r| r.grading.admiralty.reliability), Some(GradeBasis::LatestReport))
            }
            None => (None, None),
        },
    };
    Ok(Standing {
        contradicted: grade.is_some_and(|g| track_record.contradicts(g)),
        grade,
        grade_basis,
        track_record,
        validations,
    })
}

#[derive(Debug, Deserialize)]
pub struct ValidationRequest {
    /// The Admiralty reliability letter the controller judges the source to merit.
    pub reliability: String,
    /// Why, against the record.
    pub note: String,
}

/// A controller validates a source's grade against its track record; the yearly validation
/// and a contradicted grade stop being due.
pub async fn validate(
    state: &AppState,
    caller: &Caller,
    source: SourceId,
    request: ValidationRequest,
) -> Result<Validation, ServiceError> {
    let source = sources::load_for(state, caller, source, Action::ValidateSource, "source.validate").await?;
    let reliability = Reliability::from_letter(request.reliability.trim())
        .ok_or_else(|| invalid(ErrorCode::InvalidGrading, "reliability is one Admiralty letter, A to F"))?;
    let note = text("note", &request.note, 2_000)?;
    // Read by authorising officers and inspectors, who may not unseal.
    guard::refuse_identity(state, caller, &source, "source.validate", &[("note", &note)]).await?;
    let id = state
        .change(caller, "source.validate", &object(source.id), None)
        .validate_source(source.id, reliability, &note, caller.user.id, state.now())
        .await?;
    let validations = state.store.validations(source.id).await?;
    validations.into_iter().find(|v| v.id == id).ok_or_else(|| ServiceError::not_found("validation"))
}

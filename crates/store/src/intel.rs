//! Intelligence records: contact reports (above the line), intelligence reports (below it)
//! with their versions, leak-guard verdicts and disseminations, and the entities linking
//! released reports. A released report is immutable: the database refuses to change it.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use tearline_domain::{SourceId, Timestamp, UnitId, UserId};
use tearline_intel::entities::{Entity, EntityKind};
use tearline_intel::grading::{
    Admiralty, Credibility, HandlingCode, IntelligenceAssessment, SourceEvaluation, Tlp,
};

use tearline_lifecycle::above_line::ContactReportText;

use crate::above_line::{bind_sealed, sealed_record, sealed_text, SEALED_COLUMNS};
use crate::{SealedColumns, Store, StoreError, Writer};

/// A meeting written up in full, above the line; `T` is its text (where, who was there,
/// what the source said, tasks, welfare), sealed as stored: never searched or shared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactReport<T = SealedColumns> {
    pub id: i64,
    pub source_id: SourceId,
    pub handler_id: UserId,
    pub met_at: Timestamp,
    pub method: String,
    #[serde(flatten)]
    pub text: T,
    /// The source's situation (or that of the family member their help turns on) changed:
    /// a welfare check and a risk review fall due.
    pub situation_changed: bool,
    pub created_at: Timestamp,
}
sealed_record!(
    ContactReport,
    ContactReportText,
    [id, source_id, handler_id, met_at, method, situation_changed, created_at]
);

/// Every scale of a report's grading, each separate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grading {
    pub admiralty: Admiralty,
    pub source_evaluation: SourceEvaluation,
    pub intelligence_assessment: IntelligenceAssessment,
    pub handling: HandlingCode,
    pub tlp: Tlp,
}

/// Where a report's content happened, if it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportPlace {
    pub name: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportState {
    Draft,
    Submitted,
    Released,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Draft => "draft",
            ReportState::Submitted => "submitted",
            ReportState::Released => "released",
        }
    }

    fn parse(s: &str) -> Option<ReportState> {
        [ReportState::Draft, ReportState::Submitted, ReportState::Released]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A field the leak guard found naming the source, and how (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakFinding {
    pub field: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntelReport {
    pub id: i64,
    pub unit_id: UnitId,
    pub contact_report_id: Option<i64>,
    pub partner_stix_id: Option<String>,
    pub source_reference: Option<String>,
    pub version: i64,
    pub supersedes: Option<i64>,
    pub title: String,
    pub body: String,
    pub grading: Grading,
    pub place: Option<ReportPlace>,
    pub state: ReportState,
    /// How many times the draft was edited; a submission names the revision it checked.
    pub revision: i64,
    pub drafted_by: Option<UserId>,
    pub drafted_at: Timestamp,
    pub leak_findings: Vec<LeakFinding>,
    /// Risky phrasing the controller acknowledges by releasing.
    pub phrasing_warnings: Vec<String>,
    pub released_by: Option<UserId>,
    pub released_at: Option<Timestamp>,
}

/// The content of a report, as drafted or corrected.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportContent {
    pub title: String,
    pub body: String,
    pub grading: Grading,
    pub place: Option<ReportPlace>,
}

pub struct NewContactReport<'a> {
    pub source_id: SourceId,
    pub handler_id: UserId,
    pub met_at: Timestamp,
    pub method: &'a str,
    pub text: &'a SealedColumns,
    pub situation_changed: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dissemination {
    pub id: i64,
    pub report_id: i64,
    pub recipient: String,
    pub passed_at: Timestamp,
    pub recorded_by: UserId,
}

/// An entity as stored, with where it is when an analyst placed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEntity {
    pub id: i64,
    pub entity: Entity,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A link of the chart: a released report mentions an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportLink {
    pub report_id: i64,
    pub entity_id: i64,
    pub source_reference: Option<String>,
    pub tagged_by: Option<UserId>,
}

const REPORT_COLUMNS: &str =
    "id, unit_id, contact_report_id, partner_stix_id, source_reference, version, supersedes,
    title, body, reliability, credibility, source_evaluation, intelligence_assessment, handling_code,
    handling_conditions, tlp, place_name, latitude, longitude, state, revision, drafted_by, drafted_at, leak_findings,
    phrasing_warnings, released_by, released_at";

fn corrupt(id: i64, what: &str) -> StoreError {
    StoreError::Corrupt(format!("intelligence report {id}: {what}"))
}

fn from_wire<T: serde::de::DeserializeOwned>(
    id: i64,
    what: &str,
    value: serde_json::Value,
) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|_| corrupt(id, what))
}

fn report_from_row(row: &AnyRow) -> Result<IntelReport, StoreError> {
    let id: i64 = row.try_get("id")?;
    let credibility =
        u8::try_from(row.try_get::<i64, _>("credibility")?).map_err(|_| corrupt(id, "credibility"))?;
    let evaluation = u8::try_from(row.try_get::<i64, _>("source_evaluation")?)
        .map_err(|_| corrupt(id, "source evaluation"))?;
    let handling = match row.try_get::<String, _>("handling_code")?.as_str() {
        "P" => HandlingCode::P,
        "C" => HandlingCode::C(row.try_get("handling_conditions")?),
        _ => return Err(corrupt(id, "handling code")),
    };
    let grading = Grading {
        admiralty: Admiralty {
            reliability: from_wire(
                id,
                "reliability",
                serde_json::Value::String(row.try_get("reliability")?),
            )?,
            credibility: Credibility::try_from(credibility).map_err(|_| corrupt(id, "credibility"))?,
        },
        source_evaluation: SourceEvaluation::try_from(evaluation)
            .map_err(|_| corrupt(id, "source evaluation"))?,
        intelligence_assessment: from_wire(
            id,
            "intelligence assessment",
            serde_json::Value::String(row.try_get("intelligence_assessment")?),
        )?,
        handling,
        tlp: Tlp::parse(&row.try_get::<String, _>("tlp")?).map_err(|_| corrupt(id, "tlp"))?,
    };
    let place_name: String = row.try_get("place_name")?;
    let place = (!place_name.is_empty()).then(|| -> Result<ReportPlace, StoreError> {
        Ok(ReportPlace {
            name: place_name,
            latitude: row.try_get("latitude")?,
            longitude: row.try_get("longitude")?,
        })
    });
    let json_list = |column: &str| -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&row.try_get::<String, _>(column)?).map_err(|_| corrupt(id, column))
    };
    Ok(IntelReport {
        id,
        unit_id: UnitId(row.try_get("unit_id")?),
        contact_report_id: row.try_get("contact_report_id")?,
        partner_stix_id: row.try_get("partner_stix_id")?,
        source_reference: row.try_get("source_reference")?,
        version: row.try_get("version")?,
        supersedes: row.try_get("supersedes")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        grading,
        place: place.transpose()?,
        state: ReportState::parse(&row.try_get::<String, _>("state")?).ok_or_else(|| corrupt(id, "state"))?,
        revision: row.try_get("revision")?,
        drafted_by: row.try_get::<Option<i64>, _>("drafted_by")?.map(UserId),
        drafted_at: Timestamp(row.try_get("drafted_at")?),
        leak_findings: from_wire(id, "leak findings", json_list("leak_findings")?)?,
        phrasing_warnings: from_wire(id, "phrasing warnings", json_list("phrasing_warnings")?)?,
        released_by: row.try_get::<Option<i64>, _>("released_by")?.map(UserId),
        released_at: row.try_get::<Option<i64>, _>("released_at")?.map(Timestamp),
    })
}

/// A report's content as its columns: the grading by the scales' wire names, and the place.
struct ContentColumns<'a> {
    content: &'a ReportContent,
    reliability: String,
    credibility: i64,
    source_evaluation: i64,
    intelligence_assessment: String,
    handling_code: &'static str,
    handling_conditions: &'a str,
    place_name: &'a str,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl<'a> ContentColumns<'a> {
    fn of(content: &'a ReportContent) -> ContentColumns<'a> {
        let wire = |value: serde_json::Value| value.as_str().unwrap_or_default().to_owned();
        let grading = &content.grading;
        let (handling_code, handling_conditions) = match &grading.handling {
            HandlingCode::P => ("P", ""),
            HandlingCode::C(conditions) => ("C", conditions.as_str()),
        };
        ContentColumns {
            content,
            reliability: wire(serde_json::json!(grading.admiralty.reliability)),
            credibility: i64::from(u8::from(grading.admiralty.credibility)),
            source_evaluation: i64::from(u8::from(grading.source_evaluation)),
            intelligence_assessment: wire(serde_json::json!(grading.intelligence_assessment)),
            handling_code,
            handling_conditions,
            place_name: content.place.as_ref().map_or("", |p| p.name.as_str()),
            latitude: content.place.as_ref().and_then(|p| p.latitude),
            longitude: content.place.as_ref().and_then(|p| p.longitude),
        }
    }

    /// Binds the content's twelve columns, in the order `CONTENT_COLUMN_NAMES` lists them.
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        query
            .bind(self.content.title.as_str())
            .bind(self.content.body.as_str())
            .bind(self.reliability.as_str())
            .bind(self.credibility)
            .bind(self.source_evaluation)
            .bind(self.intelligence_assessment.as_str())
            .bind(self.handling_code)
            .bind(self.handling_conditions)
            .bind(self.content.grading.tlp.as_str())
            .bind(self.place_name)
            .bind(self.latitude)
            .bind(self.longitude)
    }
}

const CONTENT_COLUMN_NAMES: [&str; 12] = [
    "title",
    "body",
    "reliability",
    "credibility",
    "source_evaluation",
    "intelligence_assessment",
    "handling_code",
    "handling_conditions",
    "tlp",
    "place_name",
    "latitude",
    "longitude",
];

/// Where a new report row comes from: a draft (with its contact report, and the report it
/// corrects) or a partner's bundle.
pub enum Origin<'a> {
    Draft {
        contact_report: i64,
        source_reference: &'a str,
        drafted_by: UserId,
        supersedes: Option<&'a IntelReport>,
    },
    Partner {
        stix_id: &'a str,
    },
}

impl Store {
    pub async fn contact_report(&self, id: i64) -> Result<Option<ContactReport>, StoreError> {
        Ok(self.contact_reports_where("id = $1", id).await?.into_iter().next())
    }

    /// A source's contact reports, newest first.
    pub async fn contact_reports_of(&self, source: SourceId) -> Result<Vec<ContactReport>, StoreError> {
        self.contact_reports_where("source_id = $1", source.0).await
    }

    async fn contact_reports_where(
        &self,
        condition: &str,
        value: i64,
    ) -> Result<Vec<ContactReport>, StoreError> {
        let sql = format!("SELECT * FROM contact_reports WHERE {condition} ORDER BY met_at DESC, id DESC");
        let rows = sqlx::query(&sql).bind(value).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let id: i64 = row.try_get("id")?;
                Ok(ContactReport {
                    id,
                    source_id: SourceId(row.try_get("source_id")?),
                    handler_id: UserId(row.try_get("handler_id")?),
                    met_at: Timestamp(row.try_get("met_at")?),
                    method: row.try_get("method")?,
                    text: sealed_text(row, &format!("contact report {id}"))?,
                    situation_changed: row.try_get::<i64, _>("situation_changed")? != 0,
                    created_at: Timestamp(row.try_get("created_at")?),
                })
            })
            .collect()
    }

    pub async fn intel_report(&self, id: i64) -> Result<Option<IntelReport>, StoreError> {
        let sql = format!("SELECT {REPORT_COLUMNS} FROM intel_reports WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(report_from_row).transpose()
    }

    /// Reports drafted from a source's contact reports, newest first (for the handler).
    pub async fn intel_reports_of_source(&self, source: SourceId) -> Result<Vec<IntelReport>, StoreError> {
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM intel_reports WHERE contact_report_id IN
                (SELECT id FROM contact_reports WHERE source_id = $1) ORDER BY id DESC"
        );
        let rows = sqlx::query(&sql).bind(source.0).fetch_all(&self.pool).await?;
        rows.iter().map(report_from_row).collect()
    }

    /// The unit's reports in one state, oldest first.
    pub async fn intel_reports_in_state(
        &self,
        unit: UnitId,
        state: ReportState,
    ) -> Result<Vec<IntelReport>, StoreError> {
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM intel_reports WHERE unit_id = $1 AND state = $2 ORDER BY id"
        );
        let rows = sqlx::query(&sql).bind(unit.0).bind(state.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(report_from_row).collect()
    }

    /// Up to `limit` reports of every unit released after `after` (a release time and a
    /// report id, the previous page's last), in release order: the search index of each
    /// server follows the releases made through any of them.
    pub async fn released_after(
        &self,
        after: (Timestamp, i64),
        limit: i64,
    ) -> Result<Vec<IntelReport>, StoreError> {
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM intel_reports WHERE state = 'released'
             AND (released_at > $1 OR (released_at = $1 AND id > $2))
             ORDER BY released_at, id LIMIT $3"
        );
        let rows = sqlx::query(&sql).bind(after.0 .0).bind(after.1).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(report_from_row).collect()
    }

    /// Released reports of every unit with ids above `after`, in id order, for indexing.
    pub async fn released_reports_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<IntelReport>, StoreError> {
        let sql = format!(
            "SELECT {REPORT_COLUMNS} FROM intel_reports WHERE state = 'released' AND id > $1 ORDER BY id LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(after).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(report_from_row).collect()
    }

    pub async fn released_report_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM intel_reports WHERE state = 'released'")
            .fetch_one(&self.pool)
            .await?)
    }

    /// The version that corrects `id`, if one was drafted.
    pub async fn correction_of(&self, id: i64) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM intel_reports WHERE supersedes = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn disseminations(&self, report: i64) -> Result<Vec<Dissemination>, StoreError> {
        let rows = sqlx::query("SELECT * FROM disseminations WHERE report_id = $1 ORDER BY passed_at, id")
            .bind(report)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Dissemination {
                    id: row.try_get("id")?,
                    report_id: row.try_get("report_id")?,
                    recipient: row.try_get("recipient")?,
                    passed_at: Timestamp(row.try_get("passed_at")?),
                    recorded_by: UserId(row.try_get("recorded_by")?),
                })
            })
            .collect()
    }

    /// The link chart of a unit's released reports: every entity and every link.
    pub async fn link_chart(&self, unit: UnitId) -> Result<(Vec<StoredEntity>, Vec<ReportLink>), StoreError> {
        let links = sqlx::query(
            "SELECT l.report_id, l.entity_id, l.tagged_by, r.source_reference FROM report_entities l
             JOIN intel_reports r ON r.id = l.report_id WHERE r.unit_id = $1 AND r.state = 'released'
             ORDER BY l.report_id, l.entity_id",
        )
        .bind(unit.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(ReportLink {
                report_id: row.try_get("report_id")?,
                entity_id: row.try_get("entity_id")?,
                source_reference: row.try_get("source_reference")?,
                tagged_by: row.try_get::<Option<i64>, _>("tagged_by")?.map(UserId),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let entities = sqlx::query(
            "SELECT DISTINCT e.id, e.kind, e.entity_key, e.name, e.latitude, e.longitude FROM entities e
             JOIN report_entities l ON l.entity_id = e.id JOIN intel_reports r ON r.id = l.report_id
             WHERE e.unit_id = $1 AND r.unit_id = $1 AND r.state = 'released' ORDER BY e.id",
        )
        .bind(unit.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            let kind = EntityKind::parse(&row.try_get::<String, _>("kind")?)
                .ok_or_else(|| StoreError::Corrupt(format!("entity {id}: kind")))?;
            Ok(StoredEntity {
                id,
                entity: Entity { kind, name: row.try_get("name")?, key: row.try_get("entity_key")? },
                latitude: row.try_get("latitude")?,
                longitude: row.try_get("longitude")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((entities, links))
    }
}

impl Writer<'_> {
    pub async fn create_contact_report(self, new: NewContactReport<'_>) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO contact_reports (source_id, handler_id, met_at, method, situation_changed, created_at,
                {SEALED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id"
        );
        let query = sqlx::query(&sql)
            .bind(new.source_id.0)
            .bind(new.handler_id.0)
            .bind(new.met_at.0)
            .bind(new.method)
            .bind(i64::from(new.situation_changed))
            .bind(new.created_at.0);
        let id: i64 = bind_sealed(query, new.text).fetch_one(&mut *write.tx).await?.try_get(0)?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Stores a new report: a draft from a contact report (a correction when it supersedes
    /// a released report), or a partner's report, stored released as external intelligence
    /// (once per STIX id).
    pub async fn add_intel_report(
        self,
        unit: UnitId,
        origin: Origin<'_>,
        content: &ReportContent,
        at: Timestamp,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id = insert_report(&mut write, unit, origin, content, at).await?;
        write.commit().await?;
        Ok(id)
    }

    /// Stores a partner's bundle in one transaction: every report released, with the
    /// entities it mentions. A collision, or any other failure, stores none of them.
    pub async fn import_partner_reports(
        self,
        unit: UnitId,
        reports: &[PartnerImport<'_>],
        at: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        let mut write = self.begin_write().await?;
        let mut ids = Vec::with_capacity(reports.len());
        for report in reports {
            let origin = Origin::Partner { stix_id: report.stix_id };
            let id = insert_report(&mut write, unit, origin, report.content, at).await?;
            link_all(&mut write.tx, id, &report.entities, None).await?;
            ids.push(id);
        }
        write.commit().await?;
        Ok(ids)
    }

    /// Replaces a draft's content and clears its last verdict (the text changed).
    pub async fn update_draft(self, id: i64, content: &ReportContent) -> Result<(), StoreError> {
        let assignments: Vec<String> =
            CONTENT_COLUMN_NAMES.iter().enumerate().map(|(i, name)| format!("{name} = ${}", i + 1)).collect();
        let sql = format!(
            "UPDATE intel_reports SET {}, leak_findings = '[]', phrasing_warnings = '[]', revision = revision + 1
             WHERE id = $13 AND state = 'draft'",
            assignments.join(", ")
        );
        let columns = ContentColumns::of(content);
        let mut write = self.begin_write().await?;
        let rows = columns.bind(sqlx::query(&sql)).bind(id).execute(&mut *write.tx).await?.rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged("only a draft can be edited"));
        }
        write.commit().await
    }

    /// Records the leak guard's verdict and the phrasing warnings; a clear draft moves on to
    /// the controller, a draft that names the source stays a draft.
    ///
    /// `checked` is the revision whose text the guard read: if the draft was edited since,
    /// nothing is recorded and the submission answers that the draft changed, so a verdict
    /// never stands for text the guard did not see.
    pub async fn record_check(
        self,
        id: i64,
        checked: i64,
        findings: &[LeakFinding],
        warnings: &[String],
    ) -> Result<ReportState, StoreError> {
        let next = if findings.is_empty() { ReportState::Submitted } else { ReportState::Draft };
        let mut write = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE intel_reports SET leak_findings = $2, phrasing_warnings = $3, state = $4
             WHERE id = $1 AND state = 'draft' AND revision = $5",
        )
        .bind(id)
        .bind(serde_json::to_string(findings).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(warnings).unwrap_or_else(|_| "[]".into()))
        .bind(next.as_str())
        .bind(checked)
        .execute(&mut *write.tx)
        .await?
        .rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged(
                "the draft was edited or submitted while it was checked; submit it again",
            ));
        }
        write.commit().await?;
        Ok(next)
    }

    /// Releases a submitted report (the controller's approval), or sends it back to draft.
    /// Releases a submitted report (linking the entities the rules found in it, and placing
    /// those that come with coordinates, in the same transaction) or sends it back.
    pub async fn decide_release(
        self,
        id: i64,
        release: bool,
        by: UserId,
        at: Timestamp,
        entities: &[(Entity, Option<(f64, f64)>)],
    ) -> Result<(), StoreError> {
        let mut write = self.begin_write().await?;
        let query = if release {
            sqlx::query(
                "UPDATE intel_reports SET state = 'released', released_by = $2, released_at = $3
                 WHERE id = $1 AND state = 'submitted'",
            )
            .bind(id)
            .bind(by.0)
            .bind(at.0)
        } else {
            sqlx::query("UPDATE intel_reports SET state = 'draft' WHERE id = $1 AND state = 'submitted'")
                .bind(id)
        };
        let rows = query.execute(&mut *write.tx).await?.rows_affected();
        if rows != 1 {
            return Err(StoreError::StateChanged("only a submitted report can be released or sent back"));
        }
        if release {
            link_all(&mut write.tx, id, entities, None).await?;
        }
        write.commit().await
    }

    pub async fn record_dissemination(
        self,
        report: i64,
        recipient: &str,
        passed_at: Timestamp,
        by: UserId,
    ) -> Result<i64, StoreError> {
        let mut write = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO disseminations (report_id, recipient, passed_at, recorded_by) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(report)
        .bind(recipient)
        .bind(passed_at.0)
        .bind(by.0)
        .fetch_one(&mut *write.tx)
        .await?;
        write.created(id);
        write.commit().await?;
        Ok(id)
    }

    /// Links entities to a report in one transaction, creating each the first time its key
    /// is seen and placing those given coordinates. Returns the entities' ids in order.
    pub async fn link_entities(
        self,
        report: i64,
        entities: &[(Entity, Option<(f64, f64)>)],
        tagged_by: Option<UserId>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut write = self.begin_write().await?;
        let ids = link_all(&mut write.tx, report, entities, tagged_by).await?;
        write.commit().await?;
        Ok(ids)
    }

    /// Removes a wrong link (an analyst's correction of the rules).
    pub async fn unlink_entity(self, report: i64, entity: i64) -> Result<bool, StoreError> {
        let mut write = self.begin_write().await?;
        let rows = sqlx::query("DELETE FROM report_entities WHERE report_id = $1 AND entity_id = $2")
            .bind(report)
            .bind(entity)
            .execute(&mut *write.tx)
            .await?
            .rows_affected();
        write.commit().await?;
        Ok(rows == 1)
    }
}

/// One report row inside a write; `kind:new` in the audit entry becomes its id.
async fn insert_report(
    write: &mut crate::WriteTx<'_>,
    unit: UnitId,
    origin: Origin<'_>,
    content: &ReportContent,
    at: Timestamp,
) -> Result<i64, StoreError> {
    let (contact_report, stix_id, reference, drafted_by, supersedes, state) = match &origin {
        Origin::Draft { contact_report, source_reference, drafted_by, supersedes } => (
            Some(*contact_report),
            None,
            Some(*source_reference),
            Some(drafted_by.0),
            *supersedes,
            ReportState::Draft,
        ),
        Origin::Partner { stix_id } => (None, Some(*stix_id), None, None, None, ReportState::Released),
    };
    let released_at = (state == ReportState::Released).then_some(at.0);
    let columns = ContentColumns::of(content);
    let sql = format!(
        "INSERT INTO intel_reports ({}, unit_id, contact_report_id, partner_stix_id, source_reference, version,
            supersedes, state, drafted_by, drafted_at, released_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
         RETURNING id",
        CONTENT_COLUMN_NAMES.join(", ")
    );
    let id: i64 = columns
        .bind(sqlx::query(&sql))
        .bind(unit.0)
        .bind(contact_report)
        .bind(stix_id)
        .bind(reference)
        .bind(supersedes.map_or(1, |s| s.version + 1))
        .bind(supersedes.map(|s| s.id))
        .bind(state.as_str())
        .bind(drafted_by)
        .bind(at.0)
        .bind(released_at)
        .fetch_one(&mut *write.tx)
        .await
        .map_err(crate::conflict_as(match origin {
            Origin::Draft { .. } => "a correction of that report",
            Origin::Partner { .. } => "a partner report with that STIX id",
        }))?
        .try_get(0)?;
    write.created(id);
    Ok(id)
}

/// A partner's report as a bundle import stores it.
pub struct PartnerImport<'a> {
    pub stix_id: &'a str,
    pub content: &'a ReportContent,
    pub entities: Vec<(Entity, Option<(f64, f64)>)>,
}

/// Links and places entities inside a transaction; their ids in order.
async fn link_all(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    report: i64,
    entities: &[(Entity, Option<(f64, f64)>)],
    tagged_by: Option<UserId>,
) -> Result<Vec<i64>, StoreError> {
    // An entity belongs to the unit of the report that mentions it.
    let unit: i64 = sqlx::query_scalar("SELECT unit_id FROM intel_reports WHERE id = $1")
        .bind(report)
        .fetch_one(&mut **tx)
        .await?;
    let mut ids = Vec::with_capacity(entities.len());
    for (entity, place) in entities {
        let id = link_in(tx, unit, report, entity, tagged_by).await?;
        if let Some((latitude, longitude)) = place {
            sqlx::query("UPDATE entities SET latitude = $2, longitude = $3 WHERE id = $1")
                .bind(id)
                .bind(latitude)
                .bind(longitude)
                .execute(&mut **tx)
                .await?;
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Links an entity to a report inside a transaction, creating the unit's entity the first
/// time its key is seen in the unit. Idempotent under concurrency: whoever inserts first
/// wins, the other finds the row.
async fn link_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    unit: i64,
    report: i64,
    entity: &Entity,
    tagged_by: Option<UserId>,
) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO entities (unit_id, kind, entity_key, name) VALUES ($1, $2, $3, $4)
         ON CONFLICT (unit_id, kind, entity_key) DO NOTHING",
    )
    .bind(unit)
    .bind(entity.kind.as_str())
    .bind(&entity.key)
    .bind(&entity.name)
    .execute(&mut **tx)
    .await?;
    let id: i64 =
        sqlx::query_scalar("SELECT id FROM entities WHERE unit_id = $1 AND kind = $2 AND entity_key = $3")
            .bind(unit)
            .bind(entity.kind.as_str())
            .bind(&entity.key)
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query(
        "INSERT INTO report_entities (report_id, entity_id, tagged_by) VALUES ($1, $2, $3)
         ON CONFLICT (report_id, entity_id) DO NOTHING",
    )
    .bind(report)
    .bind(id)
    .bind(tagged_by.map(|u| u.0))
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

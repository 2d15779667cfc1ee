//! Text said about a source above the line, as the store holds it: sealed. The store never
//! sees it in the clear (`tearline_service::above_line` seals and opens it); what it reads
//! comes back as [`SealedColumns`] inside each record, and [`SealedRecord`] is how the
//! service opens one, after recording the read.

use sqlx::any::AnyRow;
use sqlx::Row;
use tearline_domain::source::PseudonymousRef;
use tearline_domain::SourceId;
use tearline_lifecycle::above_line::{
    AboveLine, CaseDetails, ContactNotes, ContactReportText, RiskNarrative, WelfareNotes,
};

use crate::records::reference_of;
use crate::{Rewrap, SealedColumns, Store, StoreError, Writer};

/// The tables that hold sealed text, each with one kind of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedTable {
    Contacts,
    Welfare,
    Risk,
    Authorisations,
    ContactReports,
}

impl SealedTable {
    pub const ALL: [SealedTable; 5] = [
        SealedTable::Contacts,
        SealedTable::Welfare,
        SealedTable::Risk,
        SealedTable::Authorisations,
        SealedTable::ContactReports,
    ];

    fn table(self) -> &'static str {
        match self {
            SealedTable::Contacts => "contacts",
            SealedTable::Welfare => "welfare_records",
            SealedTable::Risk => "risk_assessments",
            SealedTable::Authorisations => "authorisations",
            SealedTable::ContactReports => "contact_reports",
        }
    }

    /// The kind of text the table holds, as the seal's binding names it.
    pub fn kind(self) -> &'static str {
        match self {
            SealedTable::Contacts => ContactNotes::KIND,
            SealedTable::Welfare => WelfareNotes::KIND,
            SealedTable::Risk => RiskNarrative::KIND,
            SealedTable::Authorisations => CaseDetails::KIND,
            SealedTable::ContactReports => ContactReportText::KIND,
        }
    }
}

/// The sealed columns, in the order [`bind_sealed`] binds them.
pub(crate) const SEALED_COLUMNS: &str = "sealed_key_id, sealed_wrapped_key, sealed_text";

/// The sealed text of a row read with [`SEALED_COLUMNS`].
pub(crate) fn sealed_text(row: &AnyRow, what: &str) -> Result<SealedColumns, StoreError> {
    match (
        row.try_get::<Option<i64>, _>("sealed_key_id")?,
        row.try_get::<Option<Vec<u8>>, _>("sealed_wrapped_key")?,
        row.try_get::<Option<Vec<u8>>, _>("sealed_text")?,
    ) {
        (Some(key_id), Some(wrapped_key), Some(ciphertext)) => {
            Ok(SealedColumns { key_id, wrapped_key, ciphertext })
        }
        _ => Err(StoreError::Corrupt(format!(
            "{what} was written before text was sealed and is not sealed yet; start the server once to seal it"
        ))),
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the three sealed columns, in [`SEALED_COLUMNS`]' order.
pub(crate) fn bind_sealed<'q>(query: AnyQuery<'q>, sealed: &SealedColumns) -> AnyQuery<'q> {
    query.bind(sealed.key_id).bind(sealed.wrapped_key.clone()).bind(sealed.ciphertext.clone())
}

/// A record whose text the store holds sealed: the service opens `Text` and gets `Opened`,
/// the same record with its text in the clear.
pub trait SealedRecord: Sized {
    type Text: AboveLine;
    type Opened;
    fn source_id(&self) -> SourceId;
    fn sealed(&self) -> &SealedColumns;
    fn opened(self, text: Self::Text) -> Self::Opened;
}

/// The same record with other text (`with_text`: every field but `text` carried over), and
/// [`SealedRecord`] for the stored one.
macro_rules! sealed_record {
    ($record:ident, $text:ty, [$($field:ident),+]) => {
        impl<T> $record<T> {
            pub fn with_text<U>(self, text: U) -> $record<U> {
                $record { text, $($field: self.$field),+ }
            }
        }

        impl $crate::above_line::SealedRecord for $record {
            type Text = $text;
            type Opened = $record<$text>;
            fn source_id(&self) -> tearline_domain::SourceId {
                self.source_id
            }
            fn sealed(&self) -> &$crate::SealedColumns {
                &self.text
            }
            fn opened(self, text: $text) -> $record<$text> {
                self.with_text(text)
            }
        }
    };
}
pub(crate) use sealed_record;

/// Text written before sealing, waiting for the server to seal it into its record.
pub struct UnsealedText {
    pub table: SealedTable,
    pub record_id: i64,
    pub reference: PseudonymousRef,
    /// The record's text fields as a JSON object; wiped when dropped.
    pub fields: String,
}

impl Drop for UnsealedText {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.fields);
    }
}

impl Store {
    /// Up to `limit` rows of text written before sealing, of one table.
    pub async fn unsealed_text(
        &self,
        table: SealedTable,
        limit: i64,
    ) -> Result<Vec<UnsealedText>, StoreError> {
        let sql = format!(
            "SELECT u.record_id, u.fields, s.reference FROM above_line_unsealed u
             JOIN {table} t ON t.id = u.record_id JOIN sources s ON s.id = t.source_id
             WHERE u.kind = $1 ORDER BY u.record_id LIMIT $2",
            table = table.table()
        );
        let rows = sqlx::query(&sql).bind(table.kind()).bind(limit).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(UnsealedText {
                    table,
                    record_id: row.try_get("record_id")?,
                    reference: reference_of(row)?,
                    fields: row.try_get("fields")?,
                })
            })
            .collect()
    }

    /// Every sealed text of `table` whose data key is not yet wrapped under `key_id`.
    pub async fn sealed_texts_not_under(
        &self,
        table: SealedTable,
        key_id: i64,
    ) -> Result<Vec<(i64, PseudonymousRef, SealedColumns)>, StoreError> {
        let sql = format!(
            "SELECT t.id, s.reference, t.sealed_key_id, t.sealed_wrapped_key, t.sealed_text
             FROM {table} t JOIN sources s ON s.id = t.source_id
             WHERE t.sealed_key_id <> $1 ORDER BY t.id",
            table = table.table()
        );
        let rows = sqlx::query(&sql).bind(key_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, reference_of(row)?, sealed_text(row, table.table())?)))
            .collect()
    }
}

impl Writer<'_> {
    /// Seals text written before sealing into its records and deletes it from the holding
    /// table, in one transaction. A record sealed meanwhile by another server is left alone.
    pub async fn seal_unsealed_text(
        self,
        table: SealedTable,
        sealed: &[(i64, SealedColumns)],
    ) -> Result<usize, StoreError> {
        let mut write = self.begin_write().await?;
        let update = format!(
            "UPDATE {table} SET sealed_key_id = $1, sealed_wrapped_key = $2, sealed_text = $3
             WHERE id = $4 AND sealed_text IS NULL",
            table = table.table()
        );
        let mut done = 0;
        for (record_id, columns) in sealed {
            let deleted = sqlx::query("DELETE FROM above_line_unsealed WHERE kind = $1 AND record_id = $2")
                .bind(table.kind())
                .bind(*record_id)
                .execute(&mut *write.tx)
                .await?
                .rows_affected();
            if deleted == 1 {
                bind_sealed(sqlx::query(&update), columns).bind(*record_id).execute(&mut *write.tx).await?;
                done += 1;
            }
        }
        write.commit().await?;
        Ok(done)
    }

    /// Replaces sealed texts' wrapped data keys; see [`Writer::replace_keys`].
    pub async fn replace_text_wrapped_keys(
        self,
        table: SealedTable,
        replacements: &[Rewrap<'_, i64>],
    ) -> Result<Vec<i64>, StoreError> {
        let update = format!(
            "UPDATE {table} SET sealed_key_id = $1, sealed_wrapped_key = $2
             WHERE id = $3 AND sealed_key_id = $4 AND sealed_wrapped_key = $5",
            table = table.table()
        );
        self.replace_keys(&update, replacements, |id| id).await
    }

    /// Replaces records' wrapped data keys in one transaction with `update` (new key id,
    /// new wrapped key, record id, key id read, wrapped key read), each only if it is still
    /// the one that was read, so a concurrent change is never overwritten. Returns the
    /// records whose key was replaced.
    pub(crate) async fn replace_keys<Id: Copy>(
        self,
        update: &str,
        replacements: &[Rewrap<'_, Id>],
        row_id: impl Fn(Id) -> i64,
    ) -> Result<Vec<Id>, StoreError> {
        let mut write = self.begin_write().await?;
        let mut replaced = Vec::with_capacity(replacements.len());
        for rewrap in replacements {
            let changed = sqlx::query(update)
                .bind(rewrap.key_id)
                .bind(rewrap.wrapped_key.clone())
                .bind(row_id(rewrap.id))
                .bind(rewrap.previous.key_id)
                .bind(rewrap.previous.wrapped_key.clone())
                .execute(&mut *write.tx)
                .await?
                .rows_affected();
            if changed == 1 {
                replaced.push(rewrap.id);
            }
        }
        write.commit().await?;
        Ok(replaced)
    }
}

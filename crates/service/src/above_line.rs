//! What is said about a source above the line — contacts, contact reports, welfare
//! records, risk assessments, the case of an application — sealed in the vault under a data
//! key per record, bound to its kind and its source's reference (`contact/SR-…`), as
//! identities are. The store holds ciphertext only.
//!
//! Architecture invariant: nothing is opened without a [`Recorded`] read: [`open`] takes
//! the receipt [`tearline_kernel::Kernel::record`] returns once the read's entry is durable,
//! for the source or its unit, so sealed text is never decrypted before its trace exists.

use tearline_domain::source::{PseudonymousRef, SourceRecord};
use tearline_kernel::{Kernel, Recorded};
use tearline_lifecycle::above_line::AboveLine;
use tearline_store::{SealedColumns, SealedRecord, SealedTable};
use zeroize::Zeroizing;

use crate::error::ServiceError;
use crate::sources::sealed_from_columns;
use crate::state::{AppState, VaultKeys};

pub(crate) fn binding(kind: &str, reference: &PseudonymousRef) -> Vec<u8> {
    format!("{kind}/{}", reference.as_str()).into_bytes()
}

/// Seals `text` for one record of the source with this reference.
pub fn seal<T: AboveLine>(
    keys: &VaultKeys,
    reference: &PseudonymousRef,
    text: &T,
) -> Result<SealedColumns, ServiceError> {
    let json = Zeroizing::new(
        serde_json::to_vec(text).map_err(|error| ServiceError::internal("above-line text", &error))?,
    );
    seal_json(keys, T::KIND, reference, &json)
}

fn seal_json(
    keys: &VaultKeys,
    kind: &str,
    reference: &PseudonymousRef,
    json: &[u8],
) -> Result<SealedColumns, ServiceError> {
    let sealed = tearline_vault::seal_record(keys.provider().as_ref(), json, &binding(kind, reference))?;
    Ok(SealedColumns {
        key_id: i64::from(sealed.key_id),
        wrapped_key: sealed.wrapped_key,
        ciphertext: sealed.ciphertext,
    })
}

/// Opens one record of `source` whose read `read` recorded (on the source, or on its unit).
pub fn open<R: SealedRecord>(
    state: &AppState,
    read: &Recorded,
    source: &SourceRecord,
    record: R,
) -> Result<R::Opened, ServiceError> {
    check_read(read, source)?;
    open_checked(state, source, record)
}

/// Opens every record of `source` in `records`, under one recorded read.
pub fn open_all<R: SealedRecord>(
    state: &AppState,
    read: &Recorded,
    source: &SourceRecord,
    records: Vec<R>,
) -> Result<Vec<R::Opened>, ServiceError> {
    check_read(read, source)?;
    records.into_iter().map(|record| open_checked(state, source, record)).collect()
}

/// The read recorded names the source or its unit.
fn check_read(read: &Recorded, source: &SourceRecord) -> Result<(), ServiceError> {
    let covered = [format!("source:{}", source.id.0), format!("unit:{}", source.unit_id.0)];
    if covered.iter().any(|object| object == read.object()) {
        Ok(())
    } else {
        Err(ServiceError::internal("above-line text", &"opened under a read of another object"))
    }
}

/// Opens a record of `source` once its read is checked.
fn open_checked<R: SealedRecord>(
    state: &AppState,
    source: &SourceRecord,
    record: R,
) -> Result<R::Opened, ServiceError> {
    if record.source_id() != source.id {
        return Err(ServiceError::internal("above-line text", &"a record of another source"));
    }
    let sealed = sealed_from_columns(record.sealed())?;
    let binding = binding(R::Text::KIND, &source.reference);
    let json = state.keys.using(|keys| tearline_vault::open_record(keys, &sealed, &binding))?;
    let text = serde_json::from_slice(&json)
        .map_err(|_| ServiceError::Vault(tearline_vault::VaultError::CorruptRecord))?;
    Ok(record.opened(text))
}

/// Rows sealed per transaction when text written before sealing is sealed at start.
const SEALS_PER_CHANGE: i64 = 256;

/// Seals the text written before version 13 of the schema into its records, in changes of
/// up to 256 rows each committing with its entry (`above-line.seal` naming the records).
/// Runs at start, before the server serves; several servers starting at once each seal
/// what the others have not. Returns how many records it sealed.
pub async fn seal_text_written_before_sealing(
    kernel: &Kernel,
    keys: &VaultKeys,
) -> Result<usize, ServiceError> {
    let mut sealed_total = 0;
    for table in SealedTable::ALL {
        loop {
            let pending = kernel.store().unsealed_text(table, SEALS_PER_CHANGE).await?;
            if pending.is_empty() {
                break;
            }
            let sealed = pending
                .iter()
                .map(|row| {
                    Ok((
                        row.record_id,
                        seal_json(keys, row.table.kind(), &row.reference, row.fields.as_bytes())?,
                    ))
                })
                .collect::<Result<Vec<_>, ServiceError>>()?;
            let ids: Vec<String> = pending.iter().map(|row| row.record_id.to_string()).collect();
            let object = format!("{}:{}", table.kind(), ids.join(","));
            sealed_total += kernel
                .change(None, "above-line.seal", &object, None)
                .seal_unsealed_text(table, &sealed)
                .await?;
        }
    }
    Ok(sealed_total)
}

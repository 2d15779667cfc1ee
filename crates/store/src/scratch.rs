//! Scratch schemas on a PostgreSQL server: an isolated, empty place for a test or a
//! benchmark run, on a server whose database may already hold other data.

use rand::Rng;
use sqlx::{Connection, Executor};

use crate::StoreError;

/// A fresh schema on the server at `base_url`, and a URL that works inside it.
pub struct ScratchSchema {
    pub schema: String,
    pub url: String,
}

/// Creates an empty schema named `<prefix>_<random>` and returns a URL whose connections
/// use it as their search path.
pub async fn create(base_url: &str, prefix: &str) -> Result<ScratchSchema, StoreError> {
    sqlx::any::install_default_drivers();
    let schema = format!("{prefix}_{:016x}", rand::thread_rng().gen::<u64>());
    let mut connection = sqlx::AnyConnection::connect(base_url).await?;
    connection.execute(format!("CREATE SCHEMA {schema}").as_str()).await?;
    connection.close().await?;
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
    Ok(ScratchSchema { schema, url })
}

/// Drops a schema made by [`create`], with everything in it.
pub async fn drop(base_url: &str, schema: &str) -> Result<(), StoreError> {
    let mut connection = sqlx::AnyConnection::connect(base_url).await?;
    connection.execute(format!("DROP SCHEMA {schema} CASCADE").as_str()).await?;
    connection.close().await?;
    Ok(())
}

//! `tearline bench search`: a generated corpus of released reports, indexed by Tearline's
//! search (tantivy), by PostgreSQL full-text search (a stored tsvector with a GIN index) and
//! by SQLite FTS5, then the same fixed queries against all three: indexing rate, and p50/p99
//! latency of a relevance-ranked top 20. Before timing, every query's match count must agree
//! across the engines, so the race is over the same answers.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use tearline_search::{IndexedReport, SearchIndex, SearchQuery};
use tearline_store::scratch;

use crate::bench::{print_rows, Measurement};

#[derive(Args)]
pub struct SearchBenchArgs {
    /// Released reports in the generated corpus.
    #[arg(long, default_value_t = 1_000_000)]
    reports: usize,
    /// Runs of each query per engine.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Distinct words in the corpus, drawn by Zipf's law as natural language is. A small
    /// vocabulary makes every query match most reports: a stress case, not a realistic one.
    #[arg(long, default_value_t = 20_000)]
    vocabulary: usize,
    /// The PostgreSQL server for the full-text peer; work happens in a scratch schema
    /// dropped afterwards.
    #[arg(
        long,
        env = "TEARLINE_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
}

/// The words the queries use, placed through the vocabulary from most to least common; the
/// rest of the vocabulary is made-up words. Words are drawn by Zipf's law (a word's frequency
/// falls as 1/rank), as in natural language.
const WORDS: &[&str] = &[
    "van",
    "quay",
    "crates",
    "night",
    "market",
    "lorry",
    "warehouse",
    "harbour",
    "delivery",
    "driver",
    "saturday",
    "dawn",
    "boxes",
    "drums",
    "yard",
    "chandlery",
    "boat",
    "ferry",
    "container",
    "road",
    "bridge",
    "station",
    "garage",
    "depot",
    "trailer",
    "pallets",
    "cash",
    "phone",
    "meeting",
    "buyer",
    "seller",
    "courier",
    "parcel",
    "shipment",
    "cargo",
    "fuel",
    "weapons",
    "tobacco",
    "cannabis",
    "cocaine",
    "money",
    "transfer",
    "account",
    "invoice",
    "ledger",
    "contract",
    "permit",
    "licence",
    "customs",
    "border",
    "checkpoint",
    "patrol",
    "camera",
    "witness",
    "neighbour",
    "landlord",
    "tenant",
    "flat",
    "house",
    "shop",
    "cafe",
    "restaurant",
    "hotel",
    "motel",
    "church",
    "school",
    "clinic",
    "pharmacy",
    "bakery",
    "butcher",
    "tannery",
    "mill",
    "factory",
    "workshop",
    "forge",
    "dock",
    "pier",
    "jetty",
    "slipway",
    "marina",
    "grey",
    "white",
    "blue",
    "red",
    "black",
    "green",
    "silver",
    "old",
    "new",
    "large",
    "small",
    "heavy",
    "light",
    "early",
    "late",
    "weekly",
    "daily",
    "monthly",
    "twice",
    "often",
    "rarely",
    "always",
    "never",
];

/// The fixed queries, in each engine's syntax: (label, tantivy, PostgreSQL websearch, FTS5).
const QUERIES: &[(&str, &str, &str, &str)] = &[
    ("one common word", "van", "van", "van"),
    ("one rare word", "slipway", "slipway", "slipway"),
    ("two words", "crates quay", "crates quay", "crates quay"),
    ("three words", "grey van night", "grey van night", "grey van night"),
    ("phrase", "\"white van\"", "\"white van\"", "\"white van\""),
    ("rare and common", "tannery drums", "tannery drums", "tannery drums"),
];

/// The vocabulary by rank: the query words spread quadratically from the most common rank
/// to the rarest, made-up words (unique syllable strings) everywhere else.
fn vocabulary(size: usize) -> Vec<String> {
    let size = size.max(WORDS.len());
    let mut words: Vec<Option<String>> = vec![None; size];
    for (i, word) in WORDS.iter().enumerate() {
        let mut rank = i * i * (size - 1) / ((WORDS.len() - 1) * (WORDS.len() - 1));
        while words[rank].is_some() {
            rank += 1;
        }
        words[rank] = Some((*word).to_owned());
    }
    const SYLLABLES: [&str; 20] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "du", "ga", "fi", "ho", "je", "bu", "ze", "wa",
        "xi", "yo", "qu",
    ];
    words
        .into_iter()
        .enumerate()
        .map(|(rank, word)| {
            word.unwrap_or_else(|| {
                let (mut n, mut made) = (rank + 8_000, String::new());
                while n > 0 {
                    made.push_str(SYLLABLES[n % 20]);
                    n /= 20;
                }
                made
            })
        })
        .collect()
}

/// A deterministic generator: the same corpus every run.
struct Corpus<'a> {
    state: u64,
    vocabulary: &'a [String],
}

impl Corpus<'_> {
    fn next(&mut self) -> u64 {
        self.state =
            self.state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.state >> 11
    }

    /// A word with Zipf's 1/rank skew.
    fn word(&mut self) -> &str {
        let u = (self.next() as f64) / ((1u64 << 53) as f64);
        let size = self.vocabulary.len();
        let rank = ((size as f64 + 1.0).powf(u) - 1.0) as usize;
        &self.vocabulary[rank.min(size - 1)]
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words).map(|_| self.word().to_owned()).collect::<Vec<_>>().join(" ")
    }

    fn report(&mut self) -> (String, String) {
        let title_words = 4 + (self.next() % 4) as usize;
        let body_words = 30 + (self.next() % 30) as usize;
        (self.sentence(title_words), self.sentence(body_words))
    }
}

fn corpus(count: usize, vocabulary_size: usize) -> Vec<(String, String)> {
    let vocabulary = vocabulary(vocabulary_size);
    let mut generator = Corpus { state: 0x7ea1_14e5, vocabulary: &vocabulary };
    (0..count).map(|_| generator.report()).collect()
}

pub async fn run(args: SearchBenchArgs) -> Result<()> {
    if args.reports == 0 || args.runs == 0 {
        bail!("--reports and --runs must be at least 1");
    }
    let progress = indicatif::ProgressBar::new_spinner();
    progress.set_message(format!("generating {} reports", args.reports));
    let documents = corpus(args.reports, args.vocabulary);
    let dir = tempfile::tempdir().context("a temporary directory for the index and the SQLite file")?;
    let mut rows = Vec::new();

    progress.set_message("indexing with tantivy");
    let (index, indexing) = tantivy_index(&documents, &dir.path().join("index"))?;
    rows.push(indexing);
    progress.set_message("loading SQLite FTS5");
    let (sqlite, loading) = sqlite_index(&documents, &dir.path().join("fts.db")).await?;
    rows.push(loading);
    progress.set_message("loading PostgreSQL and building its GIN index");
    let schema =
        scratch::create(&args.postgres, "tearline_bench").await.context("a scratch schema on --postgres")?;
    let outcome = async {
        let postgres = PgPoolOptions::new().max_connections(2).connect(&schema.url).await?;
        rows.push(postgres_index(&documents, &postgres).await?);
        progress.set_message("checking that the engines agree");
        for (label, ours, pg, fts) in QUERIES {
            let counts = (
                index.search(&SearchQuery { count: true, ..query(ours, 1) })?.total.unwrap_or_default()
                    as i64,
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM docs, websearch_to_tsquery('simple', $1) q WHERE tsv @@ q",
                )
                .bind(pg)
                .fetch_one(&postgres)
                .await?,
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM docs WHERE docs MATCH $1")
                    .bind(fts)
                    .fetch_one(&sqlite)
                    .await?,
            );
            if counts.0 != counts.1 || counts.0 != counts.2 {
                bail!(
                    "{label}: the engines disagree on what matches (tantivy {}, PostgreSQL {}, FTS5 {})",
                    counts.0,
                    counts.1,
                    counts.2
                );
            }
        }
        progress.set_message("querying");
        for (label, ours, pg, fts) in QUERIES {
            rows.push(
                timed("tantivy", label, args.runs, || async {
                    index.search(&query(ours, 20)).map(|_| ()).map_err(Into::into)
                })
                .await?,
            );
            rows.push(
                timed("postgres", label, args.runs, || async {
                    sqlx::query(
                        "SELECT id, ts_rank(tsv, q) AS rank FROM docs, websearch_to_tsquery('simple', $1) q
                         WHERE tsv @@ q ORDER BY rank DESC LIMIT 20",
                    )
                    .bind(pg)
                    .fetch_all(&postgres)
                    .await
                    .map(|_| ())
                    .map_err(Into::into)
                })
                .await?,
            );
            rows.push(
                timed("fts5", label, args.runs, || async {
                    sqlx::query(
                        "SELECT rowid, bm25(docs) FROM docs WHERE docs MATCH $1 ORDER BY rank LIMIT 20",
                    )
                    .bind(fts)
                    .fetch_all(&sqlite)
                    .await
                    .map(|_| ())
                    .map_err(Into::into)
                })
                .await?,
            );
        }
        postgres.close().await;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    scratch::drop(&args.postgres, &schema.schema).await.context("dropping the scratch schema")?;
    outcome?;
    progress.finish_and_clear();

    println!(
        "Search over {} released reports, {} runs per query (relevance-ranked top 20):",
        args.reports, args.runs
    );
    print_rows(&rows);
    println!();
    println!("| query                | tantivy p50 ms | PostgreSQL p50 ms | FTS5 p50 ms | vs PostgreSQL | vs FTS5 |");
    println!("|----------------------|---------------:|------------------:|------------:|--------------:|--------:|");
    for (label, ..) in QUERIES {
        let p50 = |engine: &str| {
            rows.iter()
                .find(|r| r.backend == engine && r.operation == *label)
                .map_or(0.0, |r| r.percentile(0.5))
        };
        let (ours, pg, fts) = (p50("tantivy"), p50("postgres"), p50("fts5"));
        let ratio = |peer: f64| peer / ours.max(1e-6);
        println!(
            "| {label:<20} | {ours:>14.3} | {pg:>17.3} | {fts:>11.3} | {:>12.1}x | {:>6.1}x |",
            ratio(pg),
            ratio(fts)
        );
    }
    // Every query's samples together: what an analyst running this mix would see.
    let overall = |engine: &'static str| Measurement {
        backend: engine,
        operation: "all queries".into(),
        count: 0,
        elapsed: Duration::from_nanos(1),
        latencies: rows
            .iter()
            .filter(|r| r.backend == engine && !r.latencies.is_empty())
            .flat_map(|r| r.latencies.iter().copied())
            .collect(),
    };
    let (ours, pg, fts) = (overall("tantivy"), overall("postgres"), overall("fts5"));
    for (label, p) in [("all queries, p50", 0.5), ("all queries, p99", 0.99)] {
        let (a, b, c) = (ours.percentile(p), pg.percentile(p), fts.percentile(p));
        println!(
            "| {label:<20} | {a:>14.3} | {b:>17.3} | {c:>11.3} | {:>12.1}x | {:>6.1}x |",
            b / a.max(1e-6),
            c / a.max(1e-6)
        );
    }
    Ok(())
}

fn query(text: &str, limit: usize) -> SearchQuery {
    SearchQuery { text: text.into(), unit: 1, limit, ..SearchQuery::default() }
}

fn indexed<'a>(id: usize, (title, body): &'a (String, String)) -> IndexedReport<'a> {
    IndexedReport {
        id: id as i64 + 1,
        unit: 1,
        title,
        body,
        reliability: ["A", "B", "C", "D", "E", "F"][id % 6],
        credibility: (id % 6) as u8 + 1,
        handling: if id.is_multiple_of(4) { "C" } else { "P" },
        tlp: "TLP:AMBER",
        released_at: 1_790_000_000_000 + id as i64 * 60_000,
        latitude: Some(52.0 + (id % 1000) as f64 / 1000.0),
        longitude: Some(1.0 + (id % 997) as f64 / 1000.0),
    }
}

fn tantivy_index(documents: &[(String, String)], dir: &Path) -> Result<(SearchIndex, Measurement)> {
    let index = SearchIndex::open(dir)?;
    let started = Instant::now();
    for (id, document) in documents.iter().enumerate() {
        index.add(&indexed(id, document))?;
    }
    index.commit()?;
    let measurement = Measurement {
        backend: "tantivy",
        operation: "index (reports/s)".into(),
        count: documents.len(),
        elapsed: started.elapsed(),
        latencies: Vec::new(),
    };
    Ok((index, measurement))
}

async fn sqlite_index(
    documents: &[(String, String)],
    path: &Path,
) -> Result<(sqlx::SqlitePool, Measurement)> {
    let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
    let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await?;
    sqlx::query("CREATE VIRTUAL TABLE docs USING fts5(title, body)").execute(&pool).await?;
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for (id, (title, body)) in documents.iter().enumerate() {
        sqlx::query("INSERT INTO docs (rowid, title, body) VALUES ($1, $2, $3)")
            .bind(id as i64 + 1)
            .bind(title)
            .bind(body)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    let measurement = Measurement {
        backend: "fts5",
        operation: "index (reports/s)".into(),
        count: documents.len(),
        elapsed: started.elapsed(),
        latencies: Vec::new(),
    };
    Ok((pool, measurement))
}

/// One tsvector over title and body, as PostgreSQL is usually set up; a word between the two
/// keeps a phrase from spanning them, which it cannot in the other engines.
async fn postgres_index(documents: &[(String, String)], pool: &sqlx::PgPool) -> Result<Measurement> {
    sqlx::query(
        "CREATE TABLE docs (id BIGINT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', title || ' fieldbreak ' || body)) STORED)",
    )
    .execute(pool)
    .await?;
    let started = Instant::now();
    for (chunk_index, chunk) in documents.chunks(10_000).enumerate() {
        let ids: Vec<i64> = (0..chunk.len()).map(|i| (chunk_index * 10_000 + i) as i64 + 1).collect();
        let titles: Vec<&str> = chunk.iter().map(|(t, _)| t.as_str()).collect();
        let bodies: Vec<&str> = chunk.iter().map(|(_, b)| b.as_str()).collect();
        sqlx::query(
            "INSERT INTO docs (id, title, body) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])",
        )
        .bind(ids)
        .bind(titles)
        .bind(bodies)
        .execute(pool)
        .await?;
    }
    sqlx::query("CREATE INDEX docs_tsv ON docs USING GIN (tsv)").execute(pool).await?;
    sqlx::query("ANALYZE docs").execute(pool).await?;
    Ok(Measurement {
        backend: "postgres",
        operation: "index (reports/s)".into(),
        count: documents.len(),
        elapsed: started.elapsed(),
        latencies: Vec::new(),
    })
}

/// Runs `query` once to warm up, then `runs` times, timing each.
async fn timed<F, Fut>(backend: &'static str, label: &str, runs: usize, query: F) -> Result<Measurement>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    query().await?;
    let mut latencies = Vec::with_capacity(runs);
    let started = Instant::now();
    for _ in 0..runs {
        let once = Instant::now();
        query().await?;
        latencies.push(once.elapsed());
    }
    Ok(Measurement {
        backend,
        operation: label.to_owned(),
        count: runs,
        elapsed: started.elapsed().max(Duration::from_nanos(1)),
        latencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_is_the_same_every_time_and_skewed() {
        assert_eq!(corpus(50, 20_000), corpus(50, 20_000));
        let vocabulary = vocabulary(20_000);
        let distinct: std::collections::HashSet<&String> = vocabulary.iter().collect();
        assert_eq!(distinct.len(), vocabulary.len(), "every word once");
        assert!(WORDS.iter().all(|w| vocabulary.iter().any(|v| v == w)), "every query word is in the corpus");
        let text: String =
            corpus(5_000, 20_000).into_iter().map(|(t, b)| t + " " + &b).collect::<Vec<_>>().join(" ");
        let count = |w: &str| text.split(' ').filter(|x| *x == w).count();
        assert!(count("van") > 50 * count("slipway").max(1), "common words are common");
    }
}

//! Full-text search over released intelligence reports, on tantivy: BM25 relevance, phrases
//! and boolean syntax, filters by grading, TLP, handling code, release date and area, and
//! highlighted snippets.
//!
//! Architecture invariant: the index holds released, sanitised reports only — what an
//! analyst may read — never a contact report, a source reference or an identity. It is a
//! cache of the store: `tearline reindex` rebuilds it from the released reports.

use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

const ANALYZER: &str = "tearline";
/// The writer's memory budget; tantivy flushes a segment when it is spent.
const WRITER_HEAP: usize = 100_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search could not be understood: {0}")]
    Query(String),
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(String),
}

/// A released report as the index holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedReport<'a> {
    pub id: i64,
    pub unit: i64,
    pub title: &'a str,
    pub body: &'a str,
    /// Admiralty reliability, `A` to `F`.
    pub reliability: &'a str,
    /// Admiralty credibility, 1 to 6.
    pub credibility: u8,
    /// 3x5x2 handling code, `P` or `C`.
    pub handling: &'a str,
    /// `TLP:...`.
    pub tlp: &'a str,
    pub released_at: i64,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A rectangle of latitude and longitude (not crossing the antimeridian).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundingBox {
    pub south: f64,
    pub west: f64,
    pub north: f64,
    pub east: f64,
}

/// What an analyst asks. `text` uses the query syntax: words (all must match), `"a phrase"`,
/// `OR`, `-excluded`, `title:word`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    pub text: String,
    pub unit: i64,
    /// Reliability this good or better: `B` admits A and B.
    pub reliability_at_least: Option<char>,
    /// Credibility this good or better: 2 admits 1 and 2.
    pub credibility_at_least: Option<u8>,
    pub handling: Option<String>,
    pub tlp: Vec<String>,
    pub released_from: Option<i64>,
    pub released_to: Option<i64>,
    pub area: Option<BoundingBox>,
    pub limit: usize,
    /// Count every match too. Counting visits every matching report, which the top-k
    /// search otherwise skips (block-max WAND), so it is asked for, not assumed.
    pub count: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    pub id: i64,
    pub score: f32,
    /// HTML with the matched words in `<b>`; everything else escaped.
    pub title_html: String,
    pub body_html: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Results {
    /// How many reports match, when [`SearchQuery::count`] asked.
    pub total: Option<usize>,
    pub hits: Vec<Hit>,
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    unit: Field,
    title: Field,
    body: Field,
    /// Title and body together, indexed only: what queries run on. Matching one field keeps
    /// a query an intersection of plain term lists, which tantivy skips through quickly; two
    /// fields would make each word a union of two lists that must be walked in full.
    all: Field,
    reliability: Field,
    credibility: Field,
    handling: Field,
    tlp: Field,
    released_at: Field,
    latitude: Field,
    longitude: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        id: builder.add_i64_field("id", INDEXED | STORED | FAST),
        unit: builder.add_i64_field("unit", INDEXED),
        title: builder.add_text_field("title", text.clone()),
        body: builder.add_text_field("body", text.clone()),
        all: builder.add_text_field(
            "all",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            ),
        ),
        reliability: builder.add_text_field("reliability", STRING),
        credibility: builder.add_u64_field("credibility", INDEXED),
        handling: builder.add_text_field("handling", STRING),
        tlp: builder.add_text_field("tlp", STRING),
        released_at: builder.add_i64_field("released_at", INDEXED | FAST),
        latitude: builder.add_f64_field("latitude", INDEXED),
        longitude: builder.add_f64_field("longitude", INDEXED),
    };
    (builder.build(), fields)
}

/// The search index: one writer, any number of concurrent searches.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it (and the directory) if needed.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SearchError::Directory(format!("{}: {e}", dir.display())))?;
        let (schema, _) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| SearchError::Directory(format!("{}: {e}", dir.display())))?;
        Self::with(Index::open_or_create(directory, schema)?)
    }

    /// An index in memory, for tests and benchmarks.
    pub fn in_memory() -> Result<SearchIndex, SearchError> {
        Self::with(Index::create_in_ram(schema().0))
    }

    fn with(index: Index) -> Result<SearchIndex, SearchError> {
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build();
        index.tokenizers().register(ANALYZER, analyzer);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = index.writer(WRITER_HEAP)?;
        Ok(SearchIndex { index, reader, writer: Mutex::new(writer), fields: schema().1 })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds (or replaces) a report. Visible to searches after [`SearchIndex::commit`].
    pub fn add(&self, report: &IndexedReport<'_>) -> Result<(), SearchError> {
        let f = self.fields;
        let writer = self.writer();
        writer.delete_term(Term::from_field_i64(f.id, report.id));
        let mut document = doc!(
            f.id => report.id,
            f.unit => report.unit,
            f.title => report.title,
            f.body => report.body,
            f.all => report.title,
            f.all => report.body,
            f.reliability => report.reliability,
            f.credibility => u64::from(report.credibility),
            f.handling => report.handling,
            f.tlp => report.tlp,
            f.released_at => report.released_at,
        );
        if let (Some(latitude), Some(longitude)) = (report.latitude, report.longitude) {
            document.add_f64(f.latitude, latitude);
            document.add_f64(f.longitude, longitude);
        }
        writer.add_document(document)?;
        Ok(())
    }

    /// Makes everything added so far durable and searchable.
    pub fn commit(&self) -> Result<(), SearchError> {
        self.writer().commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Empties the index (before a rebuild).
    pub fn clear(&self) -> Result<(), SearchError> {
        self.writer().delete_all_documents()?;
        self.commit()
    }

    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether the committed index holds the report `id`.
    pub fn contains(&self, id: i64) -> Result<bool, SearchError> {
        let term = Term::from_field_i64(self.fields.id, id);
        let found = self.reader.searcher().search(&TermQuery::new(term, IndexRecordOption::Basic), &Count)?;
        Ok(found > 0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn filters(
        &self,
        query: &SearchQuery,
        searcher: &tantivy::Searcher,
    ) -> Result<Vec<Box<dyn Query>>, SearchError> {
        let f = self.fields;
        let term = |field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::Basic))
        };
        let any_of = |field, values: Vec<String>| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(values.iter().map(|v| (Occur::Should, term(field, v))).collect()))
        };
        let mut filters: Vec<Box<dyn Query>> = Vec::new();
        // The unit is a compartment. When every report in the index is the unit's, the filter
        // is implied; leaving it out keeps a one-word query a plain term list that tantivy's
        // top-k search can skip through (block-max WAND) instead of an intersection it must walk.
        let unit = Term::from_field_i64(f.unit, query.unit);
        if searcher.doc_freq(&unit)? != searcher.num_docs() {
            filters.push(Box::new(TermQuery::new(unit, IndexRecordOption::Basic)));
        }
        if let Some(worst) = query.reliability_at_least {
            let admitted = ('A'..=worst.to_ascii_uppercase()).map(String::from).collect();
            filters.push(any_of(f.reliability, admitted));
        }
        if let Some(worst) = query.credibility_at_least {
            filters.push(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(f.credibility, 1)),
                Bound::Included(Term::from_field_u64(f.credibility, u64::from(worst))),
            )));
        }
        if let Some(handling) = &query.handling {
            filters.push(term(f.handling, handling));
        }
        if !query.tlp.is_empty() {
            filters.push(any_of(f.tlp, query.tlp.clone()));
        }
        if query.released_from.is_some() || query.released_to.is_some() {
            let bound = |value: Option<i64>| match value {
                Some(v) => Bound::Included(Term::from_field_i64(f.released_at, v)),
                None => Bound::Unbounded,
            };
            filters.push(Box::new(RangeQuery::new(bound(query.released_from), bound(query.released_to))));
        }
        if let Some(area) = query.area {
            let range = |field, low: f64, high: f64| -> Box<dyn Query> {
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_f64(field, low)),
                    Bound::Included(Term::from_field_f64(field, high)),
                ))
            };
            filters.push(range(f.latitude, area.south, area.north));
            filters.push(range(f.longitude, area.west, area.east));
        }
        Ok(filters)
    }

    /// The best matches for `query`, most relevant first, with the total number of matches.
    pub fn search(&self, query: &SearchQuery) -> Result<Results, SearchError> {
        let f = self.fields;
        let parse = |fields: Vec<Field>| {
            let mut parser = QueryParser::for_index(&self.index, fields);
            parser.set_conjunction_by_default();
            parser.parse_query(query.text.trim()).map_err(|e| SearchError::Query(e.to_string()))
        };
        let text = parse(vec![f.all])?;
        // The same words on the stored fields, only to highlight them.
        let shown = parse(vec![f.title, f.body])?;
        let searcher = self.reader.searcher();
        let filters = self.filters(query, &searcher)?;
        let combined: Box<dyn Query> = if filters.is_empty() {
            text.box_clone()
        } else {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text.box_clone())];
            clauses.extend(filters.into_iter().map(|filter| (Occur::Must, filter)));
            Box::new(BooleanQuery::new(clauses))
        };
        let limit = query.limit.clamp(1, 1000);
        let top_docs = TopDocs::with_limit(limit).order_by_score();
        let (top, total) = if query.count {
            let (top, total) = searcher.search(&combined, &(top_docs, Count))?;
            (top, Some(total))
        } else {
            (searcher.search(&combined, &top_docs)?, None)
        };
        let title_snippets = SnippetGenerator::create(&searcher, &*shown, f.title)?;
        let mut body_snippets = SnippetGenerator::create(&searcher, &*shown, f.body)?;
        body_snippets.set_max_num_chars(240);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address)?;
            let id = document.get_first(f.id).and_then(|v| v.as_i64()).unwrap_or_default();
            let mut title_html = title_snippets.snippet_from_doc(&document).to_html();
            if title_html.is_empty() {
                title_html = escape(document.get_first(f.title).and_then(|v| v.as_str()).unwrap_or_default());
            }
            hits.push(Hit {
                id,
                score,
                title_html,
                body_html: body_snippets.snippet_from_doc(&document).to_html(),
            });
        }
        Ok(Results { total, hits })
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn report<'a>(id: i64, title: &'a str, body: &'a str) -> IndexedReport<'a> {
        IndexedReport {
            id,
            unit: 1,
            title,
            body,
            reliability: "B",
            credibility: 2,
            handling: "P",
            tlp: "TLP:AMBER",
            released_at: 1_000 + id,
            latitude: Some(52.95),
            longitude: Some(1.21),
        }
    }

    fn index() -> SearchIndex {
        let index = SearchIndex::in_memory().expect("index");
        index
            .add(&report(1, "Quay deliveries", "Crates moved from the quay to a white van after midnight."))
            .unwrap();
        index
            .add(&report(2, "Van seen", "A white van parked behind the chandlery; crates were loaded."))
            .unwrap();
        index
            .add(&IndexedReport {
                reliability: "E",
                credibility: 5,
                handling: "C",
                tlp: "TLP:GREEN",
                latitude: Some(51.5),
                longitude: Some(-0.1),
                ..report(3, "Rumour", "Café owner says crates hold <script> fireworks.")
            })
            .unwrap();
        index.add(&report(4, "Other unit", "crates everywhere")).unwrap();
        index.add(&IndexedReport { unit: 2, ..report(5, "Elsewhere", "crates in another unit") }).unwrap();
        index.commit().unwrap();
        index
    }

    fn ids(index: &SearchIndex, query: SearchQuery) -> Vec<i64> {
        let mut found: Vec<i64> = index
            .search(&SearchQuery { unit: 1, limit: 10, ..query })
            .unwrap()
            .hits
            .iter()
            .map(|h| h.id)
            .collect();
        found.sort_unstable();
        found
    }

    fn text(text: &str) -> SearchQuery {
        SearchQuery { text: text.into(), ..Default::default() }
    }

    #[test]
    fn words_phrases_and_unit_compartments() {
        let index = index();
        assert_eq!(ids(&index, text("crates")), [1, 2, 3, 4], "unit 2's report stays in unit 2");
        assert_eq!(ids(&index, text("\"white van\" midnight")), [1]);
        assert_eq!(ids(&index, text("crates -van")), [3, 4]);
        assert_eq!(ids(&index, text("CAFE")), [3], "accents and case folded");
    }

    #[test]
    fn filters_by_grading_tlp_handling_date_and_area() {
        let index = index();
        let crates = |q: SearchQuery| ids(&index, SearchQuery { text: "crates".into(), ..q });
        assert_eq!(crates(SearchQuery { reliability_at_least: Some('C'), ..Default::default() }), [1, 2, 4]);
        assert_eq!(crates(SearchQuery { credibility_at_least: Some(4), ..Default::default() }), [1, 2, 4]);
        assert_eq!(crates(SearchQuery { handling: Some("C".into()), ..Default::default() }), [3]);
        assert_eq!(crates(SearchQuery { tlp: vec!["TLP:GREEN".into()], ..Default::default() }), [3]);
        assert_eq!(
            crates(SearchQuery {
                released_from: Some(1_002),
                released_to: Some(1_003),
                ..Default::default()
            }),
            [2, 3]
        );
        let east = BoundingBox { south: 52.0, west: 1.0, north: 53.0, east: 2.0 };
        assert_eq!(crates(SearchQuery { area: Some(east), ..Default::default() }), [1, 2, 4]);
    }

    #[test]
    fn hits_are_ranked_and_highlighted_with_everything_else_escaped() {
        let index = index();
        let results = index
            .search(&SearchQuery {
                text: "van".into(),
                unit: 1,
                limit: 10,
                count: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(results.total, Some(2));
        assert_eq!(results.hits[0].id, 2, "the title match ranks first");
        assert!(results.hits[0].title_html.contains("<b>Van</b>"), "{:?}", results.hits[0]);
        let script = index
            .search(&SearchQuery { text: "fireworks".into(), unit: 1, limit: 10, ..Default::default() })
            .unwrap();
        assert!(script.hits[0].body_html.contains("&lt;script&gt;"), "{:?}", script.hits[0]);
        assert!(matches!(index.search(&text("\"unclosed")), Err(SearchError::Query(_)) | Ok(_)));
    }

    #[test]
    fn replacing_and_clearing() {
        let index = index();
        index.add(&report(1, "Quay deliveries", "Nothing about boxes any more.")).unwrap();
        index.commit().unwrap();
        assert_eq!(ids(&index, text("midnight")), Vec::<i64>::new());
        assert_eq!(index.len(), 5);
        index.clear().unwrap();
        assert!(index.is_empty());
    }

    #[test]
    fn a_one_unit_index_still_keeps_other_units_out() {
        let index = SearchIndex::in_memory().unwrap();
        index.add(&report(1, "Quay", "crates at the quay")).unwrap();
        index.commit().unwrap();
        assert_eq!(ids(&index, text("crates")), [1]);
        let other = index
            .search(&SearchQuery { text: "crates".into(), unit: 2, limit: 10, ..Default::default() })
            .unwrap();
        assert!(other.hits.is_empty());
    }

    #[test]
    fn an_index_on_disk_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = SearchIndex::open(dir.path()).unwrap();
            index.add(&report(9, "Kept", "persisted words")).unwrap();
            index.commit().unwrap();
        }
        let reopened = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(ids(&reopened, text("persisted")), [9]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any query text gets results or a clear error, never a panic.
        #[test]
        fn queries_never_panic(query in ".{0,60}") {
            let index = SearchIndex::in_memory().unwrap();
            index.add(&report(1, "t", "b")).unwrap();
            index.commit().unwrap();
            let _ = index.search(&SearchQuery { text: query, unit: 1, limit: 5, ..Default::default() });
        }
    }
}

//! Targeting through the spatial index against a full scan, on 1 000 000 recipients.

use tearline_warn::geo::{Area, LatLon, Polygon};
use tearline_warn::index::{targets_by_scan, Located, RecipientIndex};

fn main() {
    divan::main();
}

/// Recipients on a deterministic grid over a 2° square, so runs are comparable.
fn recipients(count: usize) -> Vec<Located> {
    let side = (count as f64).sqrt().ceil() as usize;
    (0..count)
        .map(|i| {
            let (row, col) = (i / side, i % side);
            let position = LatLon {
                lat: 33.0 + 2.0 * row as f64 / side as f64,
                lon: 36.0 + 2.0 * col as f64 / side as f64,
            };
            Located { id: i as i64, position }
        })
        .collect()
}

/// A concave area over about a tenth of the square.
fn area() -> Vec<Area> {
    let polygon =
        Polygon::parse_cap("33.6,36.6 33.6,37.2 34.2,37.2 33.9,36.9 34.2,36.6 33.6,36.6").expect("valid");
    vec![Area { description: "bench".into(), polygons: vec![polygon], circles: vec![] }]
}

#[divan::bench(sample_count = 20)]
fn index_1m(bencher: divan::Bencher) {
    let index = RecipientIndex::bulk_load(recipients(1_000_000));
    let areas = area();
    bencher.bench(|| index.targets(&areas).len());
}

#[divan::bench(sample_count = 10)]
fn scan_1m(bencher: divan::Bencher) {
    let all = recipients(1_000_000);
    let areas = area();
    bencher.bench(|| targets_by_scan(&all, &areas).len());
}

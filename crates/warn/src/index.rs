//! The recipient spatial index: an R-tree over recipients' positions.
//!
//! Targeting asks the tree for the recipients inside each area's bounding boxes, then keeps
//! those the exact shape contains. Bounding boxes are conservative, so the result is exactly
//! the brute-force result ([`targets_by_scan`]); the property tests hold it to that.

use std::collections::HashMap;

use rstar::primitives::GeomWithData;
use rstar::{Envelope, ParentNode, RTree, RTreeNode, AABB};

use crate::geo::{Area, BoundingBox, LatLon};

/// A recipient as the index knows it: an id and a position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located {
    pub id: i64,
    pub position: LatLon,
}

/// Points are stored as `[lon, lat]`, the order R-trees and GeoJSON use.
type Entry = GeomWithData<[f64; 2], i64>;

#[derive(Default)]
pub struct RecipientIndex {
    tree: RTree<Entry>,
    /// Where each indexed recipient is, so that a move or removal finds its old entry.
    positions: HashMap<i64, LatLon>,
}

impl RecipientIndex {
    /// Builds the index in one pass (much faster than inserting one by one).
    pub fn bulk_load(recipients: impl IntoIterator<Item = Located>) -> RecipientIndex {
        let mut positions = HashMap::new();
        for recipient in recipients {
            positions.insert(recipient.id, recipient.position);
        }
        let entries = positions.iter().map(|(&id, position)| entry(id, *position)).collect();
        RecipientIndex { tree: RTree::bulk_load(entries), positions }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Adds a recipient, or moves one already indexed.
    pub fn upsert(&mut self, recipient: Located) {
        self.remove(recipient.id);
        self.positions.insert(recipient.id, recipient.position);
        self.tree.insert(entry(recipient.id, recipient.position));
    }

    pub fn remove(&mut self, id: i64) {
        if let Some(old) = self.positions.remove(&id) {
            self.tree.remove(&entry(id, old));
        }
    }

    /// Every indexed recipient inside any of `areas`, by ascending id, each once.
    ///
    /// Subtrees whose bounding box lies wholly inside a polygon are taken whole; only the
    /// points in subtrees that straddle an edge are tested one by one.
    pub fn targets(&self, areas: &[Area]) -> Vec<i64> {
        let mut hits = Vec::new();
        for area in areas {
            for bounds in area.bounds() {
                let envelope = AABB::from_corners([bounds.west, bounds.south], [bounds.east, bounds.north]);
                collect(self.tree.root(), area, &envelope, &mut hits);
            }
        }
        sorted_unique(hits)
    }
}

fn as_bounds(envelope: &AABB<[f64; 2]>) -> BoundingBox {
    let ([west, south], [east, north]) = (envelope.lower(), envelope.upper());
    BoundingBox { south, north, west, east }
}

fn collect(node: &ParentNode<Entry>, area: &Area, envelope: &AABB<[f64; 2]>, hits: &mut Vec<i64>) {
    for child in node.children() {
        match child {
            RTreeNode::Leaf(entry) => {
                let [lon, lat] = *entry.geom();
                if envelope.contains_point(entry.geom()) && area.contains(LatLon { lat, lon }) {
                    hits.push(entry.data);
                }
            }
            RTreeNode::Parent(parent) => {
                let bounds = parent.envelope();
                if !bounds.intersects(envelope) {
                    continue;
                }
                if area.covers(&as_bounds(&bounds)) {
                    take_all(parent, hits);
                } else {
                    collect(parent, area, envelope, hits);
                }
            }
        }
    }
}

fn take_all(node: &ParentNode<Entry>, hits: &mut Vec<i64>) {
    for child in node.children() {
        match child {
            RTreeNode::Leaf(entry) => hits.push(entry.data),
            RTreeNode::Parent(parent) => take_all(parent, hits),
        }
    }
}

/// Sorts and deduplicates ids; dense ids (the usual case: database keys) go through a
/// bitmap, which is linear, instead of a sort.
fn sorted_unique(mut ids: Vec<i64>) -> Vec<i64> {
    let (Some(&low), Some(&high)) = (ids.iter().min(), ids.iter().max()) else {
        return ids;
    };
    let span = usize::try_from(high - low).unwrap_or(usize::MAX);
    if span / 16 > ids.len() {
        ids.sort_unstable();
        ids.dedup();
        return ids;
    }
    let mut bits = vec![0u64; span / 64 + 1];
    for id in &ids {
        let offset = (id - low) as usize;
        bits[offset / 64] |= 1 << (offset % 64);
    }
    ids.clear();
    for (word_index, &word) in bits.iter().enumerate() {
        let mut word = word;
        while word != 0 {
            let bit = word.trailing_zeros() as usize;
            ids.push(low + (word_index * 64 + bit) as i64);
            word &= word - 1;
        }
    }
    ids
}

fn entry(id: i64, position: LatLon) -> Entry {
    GeomWithData::new([position.lon, position.lat], id)
}

/// The reference answer: every recipient tested against every area.
pub fn targets_by_scan(recipients: &[Located], areas: &[Area]) -> Vec<i64> {
    let mut hits: Vec<i64> = recipients
        .iter()
        .filter(|recipient| areas.iter().any(|area| area.contains(recipient.position)))
        .map(|recipient| recipient.id)
        .collect();
    hits.sort_unstable();
    hits.dedup();
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::{Circle, Polygon};
    use proptest::prelude::*;

    fn point() -> impl Strategy<Value = LatLon> {
        (-89.0f64..89.0, -180.0f64..=180.0).prop_map(|(lat, lon)| LatLon { lat, lon })
    }

    /// A star-shaped ring around a centre: random radii per vertex make it concave, and a
    /// centre near ±180 with a wide spread makes it cross the antimeridian.
    fn polygon() -> impl Strategy<Value = Polygon> {
        (
            -70.0f64..70.0,
            prop_oneof![-180.0f64..=180.0, 170.0f64..=180.0, -180.0f64..-170.0],
            proptest::collection::vec(0.5f64..20.0, 3..12),
        )
            .prop_filter_map("degenerate ring", |(lat, lon, radii)| {
                let n = radii.len();
                let mut points: Vec<LatLon> = radii
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let angle = std::f64::consts::TAU * i as f64 / n as f64;
                        let mut vertex_lon = lon + r * angle.cos();
                        if vertex_lon > 180.0 {
                            vertex_lon -= 360.0;
                        } else if vertex_lon < -180.0 {
                            vertex_lon += 360.0;
                        }
                        LatLon { lat: (lat + r * angle.sin()).clamp(-89.0, 89.0), lon: vertex_lon }
                    })
                    .collect();
                points.push(points[0]);
                Polygon::new(points).ok()
            })
    }

    fn circle() -> impl Strategy<Value = Circle> {
        (point(), 1.0f64..3000.0).prop_map(|(centre, radius)| Circle { centre, radius_km: radius })
    }

    /// Recipients clustered around the shapes (so that many fall near edges) plus uniform ones.
    fn recipients_near(areas: &[Area], seed: &[(f64, f64)]) -> Vec<Located> {
        let mut anchors: Vec<LatLon> = areas
            .iter()
            .flat_map(|a| {
                a.polygons.iter().flat_map(|p| p.points().to_vec()).chain(a.circles.iter().map(|c| c.centre))
            })
            .collect();
        anchors.push(LatLon { lat: 0.0, lon: 0.0 });
        seed.iter()
            .enumerate()
            .map(|(i, &(dlat, dlon))| {
                let anchor = anchors[i % anchors.len()];
                let mut lon = anchor.lon + dlon;
                if lon > 180.0 {
                    lon -= 360.0;
                } else if lon < -180.0 {
                    lon += 360.0;
                }
                Located {
                    id: i as i64,
                    position: LatLon { lat: (anchor.lat + dlat).clamp(-90.0, 90.0), lon },
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn targeting_through_the_index_equals_a_full_scan(
            polygons in proptest::collection::vec(polygon(), 0..3),
            circles in proptest::collection::vec(circle(), 0..3),
            seed in proptest::collection::vec((-25.0f64..25.0, -25.0f64..25.0), 1..3000),
        ) {
            let areas = vec![Area { description: "test".into(), polygons, circles }];
            let recipients = recipients_near(&areas, &seed);
            let index = RecipientIndex::bulk_load(recipients.iter().copied());
            prop_assert_eq!(index.targets(&areas), targets_by_scan(&recipients, &areas));
        }

        #[test]
        fn moves_and_removals_keep_the_index_exact(
            polygon in polygon(),
            seed in proptest::collection::vec((-25.0f64..25.0, -25.0f64..25.0), 2..200),
        ) {
            let areas = vec![Area { description: "test".into(), polygons: vec![polygon], circles: vec![] }];
            let mut recipients = recipients_near(&areas, &seed);
            let mut index = RecipientIndex::bulk_load(recipients.iter().copied());
            let removed = recipients.remove(0);
            index.remove(removed.id);
            let moved = recipients.len() - 1;
            recipients[moved].position = recipients[0].position;
            index.upsert(recipients[moved]);
            prop_assert_eq!(index.len(), recipients.len());
            prop_assert_eq!(index.targets(&areas), targets_by_scan(&recipients, &areas));
        }
    }
}

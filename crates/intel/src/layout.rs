//! Where the link chart draws each node: the same graph always draws the same picture, and
//! no two labels overlap, by construction rather than by a force simulation's luck.
//!
//! Nodes lie in rows, one per kind (reports first, then people, organisations, places,
//! vehicles, phones). Within a row a node sits as close as it can to the mean position of
//! the nodes above it that it links to (the barycentre heuristic for layered drawings), and
//! never closer to its left neighbour than both their label boxes and a gap allow. Rows are
//! further apart than a node and its label are tall.

use std::collections::BTreeMap;

/// One node to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// Which row it goes in: its kind.
    pub kind: String,
    /// Its order among nodes with no links above (and among equal positions): an id.
    pub rank: i64,
    /// The label as it will be drawn ([`label`]).
    pub label: String,
}

/// Where a node goes: its centre, and the width its label box takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub id: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
}

/// The vertical distance between rows, in the chart's units (pixels at zoom 1).
pub const ROW_HEIGHT: f64 = 110.0;
/// How tall a node with its label below it is: less than a row.
pub const NODE_HEIGHT: f64 = 60.0;
/// The most characters a label shows; longer ones end in an ellipsis.
pub const LABEL_CHARS: usize = 28;
/// The room one character of a label takes at the chart's font size, generously.
const CHAR_WIDTH: f64 = 6.5;
const MIN_WIDTH: f64 = 40.0;
const GAP: f64 = 18.0;

/// A label as the chart draws it: at most [`LABEL_CHARS`] characters.
pub fn label(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// The width of a label's box.
pub fn label_width(label: &str) -> f64 {
    #[allow(clippy::cast_precision_loss)] // at most LABEL_CHARS
    let chars = label.chars().count().min(LABEL_CHARS) as f64;
    (chars * CHAR_WIDTH).max(MIN_WIDTH)
}

/// Places `nodes` in rows following `rows` (kinds not listed come after, by name), linked by
/// `edges` (pairs of node ids), and answers their places in the order of `nodes`. The order
/// of `nodes` and `edges` does not change where anything goes.
pub fn layout(rows: &[&str], nodes: &[Node], edges: &[(String, String)]) -> Vec<Placed> {
    let row_of = |kind: &str| rows.iter().position(|r| *r == kind).unwrap_or(rows.len());
    let mut by_row: BTreeMap<(usize, String), Vec<&Node>> = BTreeMap::new();
    for node in nodes {
        let extra = if row_of(&node.kind) == rows.len() { node.kind.clone() } else { String::new() };
        by_row.entry((row_of(&node.kind), extra)).or_default().push(node);
    }
    let mut neighbours: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges {
        neighbours.entry(a).or_default().push(b);
        neighbours.entry(b).or_default().push(a);
    }
    let mut placed: BTreeMap<&str, f64> = BTreeMap::new();
    let mut out: BTreeMap<&str, Placed> = BTreeMap::new();
    for (row, mut members) in by_row.into_values().enumerate() {
        members.sort_by(|a, b| a.rank.cmp(&b.rank).then_with(|| a.id.cmp(&b.id)));
        // Where each would like to be: over the nodes above it links to.
        let mut wanted: Vec<(f64, &Node)> = members
            .into_iter()
            .map(|node| {
                let mut above: Vec<f64> = neighbours
                    .get(node.id.as_str())
                    .into_iter()
                    .flatten()
                    .filter_map(|other| placed.get(other).copied())
                    .collect();
                above.sort_by(f64::total_cmp);
                #[allow(clippy::cast_precision_loss)]
                let centre = if above.is_empty() {
                    f64::INFINITY
                } else {
                    above.iter().sum::<f64>() / above.len() as f64
                };
                (centre, node)
            })
            .collect();
        wanted
            .sort_by(|(a, n), (b, m)| a.total_cmp(b).then(n.rank.cmp(&m.rank)).then_with(|| n.id.cmp(&m.id)));
        let mut right_edge = 0.0_f64;
        #[allow(clippy::cast_precision_loss)]
        let y = row as f64 * ROW_HEIGHT;
        for (centre, node) in wanted {
            let width = label_width(&node.label);
            let earliest = right_edge + width / 2.0 + if right_edge > 0.0 { GAP } else { 0.0 };
            let x = if centre.is_finite() { centre.max(earliest) } else { earliest };
            right_edge = x + width / 2.0;
            placed.insert(node.id.as_str(), x);
            out.insert(node.id.as_str(), Placed { id: node.id.clone(), x, y, width });
        }
    }
    nodes.iter().filter_map(|node| out.remove(node.id.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ROWS: &[&str] = &["report", "person", "place"];

    fn graph() -> impl Strategy<Value = (Vec<Node>, Vec<(String, String)>)> {
        let kinds = prop::sample::select(vec!["report", "person", "place", "vehicle"]);
        let node = (kinds, 0i64..40, "[a-zA-Z ]{1,40}");
        prop::collection::vec(node, 1..30).prop_flat_map(|raw| {
            let nodes: Vec<Node> = raw
                .into_iter()
                .enumerate()
                .map(|(i, (kind, rank, text))| Node {
                    id: format!("n{i}"),
                    kind: kind.to_owned(),
                    rank,
                    label: label(&text),
                })
                .collect();
            let n = nodes.len();
            let edges = prop::collection::vec((0..n, 0..n), 0..40).prop_map(|pairs| {
                pairs.into_iter().map(|(a, b)| (format!("n{a}"), format!("n{b}"))).collect()
            });
            (Just(nodes), edges)
        })
    }

    proptest! {
        /// Brute force over every pair: no two nodes' label boxes overlap.
        #[test]
        fn no_two_labels_overlap((nodes, edges) in graph()) {
            let placed = layout(ROWS, &nodes, &edges);
            prop_assert_eq!(placed.len(), nodes.len());
            for (i, a) in placed.iter().enumerate() {
                for b in &placed[i + 1..] {
                    let apart_x = (a.x - b.x).abs() >= (a.width + b.width) / 2.0;
                    let apart_y = (a.y - b.y).abs() >= NODE_HEIGHT;
                    prop_assert!(apart_x || apart_y, "{a:?} overlaps {b:?}");
                }
            }
        }

        /// The same graph, given in any order, draws the same picture.
        #[test]
        fn the_same_graph_draws_the_same_picture((nodes, edges) in graph(), seed in any::<u64>()) {
            let mut shuffled_nodes = nodes.clone();
            let mut shuffled_edges = edges.clone();
            let rotate = |len: usize| usize::try_from(seed % (len.max(1) as u64)).unwrap_or(0);
            shuffled_nodes.rotate_left(rotate(nodes.len()));
            shuffled_nodes.reverse();
            shuffled_edges.rotate_left(rotate(edges.len()));
            let mut a = layout(ROWS, &nodes, &edges);
            let mut b = layout(ROWS, &shuffled_nodes, &shuffled_edges);
            a.sort_by(|x, y| x.id.cmp(&y.id));
            b.sort_by(|x, y| x.id.cmp(&y.id));
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn an_entity_sits_under_the_reports_it_links() {
        let node =
            |id: &str, kind: &str, rank| Node { id: id.into(), kind: kind.into(), rank, label: id.into() };
        let nodes = [node("r1", "report", 1), node("r2", "report", 2), node("e1", "person", 1)];
        let placed = layout(ROWS, &nodes, &[("r1".into(), "e1".into()), ("r2".into(), "e1".into())]);
        let x = |id: &str| placed.iter().find(|p| p.id == id).map(|p| p.x).unwrap_or(f64::NAN);
        assert!((x("e1") - (x("r1") + x("r2")) / 2.0).abs() < 1e-9, "{placed:?}");
        assert!(placed.iter().find(|p| p.id == "e1").is_some_and(|p| p.y == ROW_HEIGHT));
    }

    #[test]
    fn long_labels_end_in_an_ellipsis() {
        assert_eq!(label("short"), "short");
        let long = label(&"x".repeat(40));
        assert_eq!(long.chars().count(), LABEL_CHARS);
        assert!(long.ends_with('…'));
    }
}

//! Analyses of a journey's measured instances, for analysts and journey owners: the funnel
//! builder, the flow of paths from or to a touchpoint (a Sankey diagram and the variant list),
//! and the designed journey against the walked one.
//!
//! These pages are read-only and take their choices from the query string (a GET form), so a
//! view can be bookmarked and shared, and works without JavaScript.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waymark_analytics::journey::{self, Direction, Instance, Options};
use waymark_eventlog::EventLog;
use waymark_journey::Journey;
use waymark_server::live::{Analyses, Snapshot};

use crate::Web;
use crate::chart::{cut, percent};
use crate::journeys::{Loaded, Version, load_measuring, may_read, refused, tabs};
use crate::layout::page;
use crate::session::Signed;

/// Variants per page.
const VARIANTS_PAGE: usize = 20;
/// How many distinct nodes a Sankey column shows before grouping the rest as "other".
const SANKEY_NODES: usize = 6;

/// The query string as (key, value) pairs, keys repeated for lists.
pub(crate) fn pairs(raw: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.trim().to_string()))
        .collect()
}

pub(crate) fn one<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

pub(crate) fn version_of(pairs: &[(String, String)]) -> Version {
    Version {
        version: one(pairs, "version").map(str::to_string),
    }
}

/// The instances of the journey in a snapshot of the live log, cut once per snapshot and then
/// only for the people it touched.
pub(crate) fn instances_in(
    logs: &Analyses,
    snapshot: &Arc<Snapshot>,
    journey: &Journey,
) -> Arc<Vec<Instance>> {
    logs.instances(snapshot, journey).unwrap_or_default()
}

/// The name a person gave (their case's `name` trait), when they gave one.
pub(crate) fn name_of(log: &EventLog, case: usize) -> Option<String> {
    log.case(case)
        .attribute("name")
        .map(|a| log.value_text(&a.value))
        .filter(|n| !n.trim().is_empty())
}

/// The case attributes people can break a funnel down by: profile traits and case attributes
/// with few values.
pub(crate) fn traits(log: &EventLog) -> Vec<String> {
    let mut values: HashMap<String, BTreeSet<String>> = HashMap::new();
    for case in log.iter_cases().take(20_000) {
        for attribute in case.attributes() {
            let key = log.resolve(attribute.key).to_string();
            let set = values.entry(key).or_default();
            if set.len() <= journey::ATTRIBUTE_VALUES {
                set.insert(log.value_text(&attribute.value));
            }
        }
    }
    let mut keys: Vec<String> = values
        .into_iter()
        .filter(|(key, set)| set.len() <= journey::ATTRIBUTE_VALUES && key != "concept:name")
        .map(|(key, _)| key)
        .collect();
    keys.sort();
    keys
}

/// A loaded journey, or the page that says why not.
pub(crate) async fn loaded(
    web: &Web,
    signed: &Signed,
    id: &str,
    version: &Version,
    report: bool,
) -> Result<(Journey, Arc<Snapshot>, Option<Arc<journey::Report>>), Response> {
    if !may_read(signed) {
        return Err(refused(signed));
    }
    let Loaded {
        journey,
        snapshot,
        report,
        reading,
        ..
    } = load_measuring(
        web,
        signed,
        id,
        version.version.clone(),
        Options::default(),
        report,
    )
    .await?;
    match (snapshot, reading) {
        (Some(snapshot), _) => Ok((journey, snapshot, report)),
        (None, Some(reading)) => Err(crate::layout::page(
            &journey.title,
            Some(signed),
            crate::journeys::reading_notice(&reading),
        )
        .into_response()),
        (None, None) => Err(crate::layout::failure(
            &"the journey's events could not be read",
        )),
    }
}

pub(crate) fn touchpoint_options(
    journey: &Journey,
    chosen: Option<&str>,
    none: Option<&str>,
) -> Markup {
    html! {
        @if let Some(none) = none {
            option value="" selected[chosen.is_none()] { (none) }
        }
        @for (stage, t) in journey.touchpoints() {
            option value=(t.id) selected[chosen == Some(t.id.as_str())] { (t.name) " (" (stage.name) ")" }
        }
    }
}

/// `GET /journeys/{id}/funnel?step=…&step=…&window=30d&order=ordered&by=plan`
/// Column of a path's node: a touchpoint, the end (or start) of the instance, or others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Node {
    At(usize),
    Edge,
    Other,
}

/// A Sankey diagram of paths (each a sequence of touchpoints walked away from `anchor`),
/// columns left to right after it, or right to left before it.
fn sankey(
    journey: &Journey,
    anchor: usize,
    paths: &[(Vec<usize>, usize)],
    depth: usize,
    direction: Direction,
) -> Markup {
    let names: Vec<String> = journey.touchpoints().map(|(_, t)| t.name.clone()).collect();
    let total: usize = paths.iter().map(|(_, n)| n).sum();
    // Each path as nodes per column: the anchor, then touchpoints, then the end once.
    let columns = depth + 1;
    let mut per_column: Vec<HashMap<Node, usize>> = vec![HashMap::new(); columns];
    let walk = |path: &Vec<usize>| -> Vec<Node> {
        let mut nodes = vec![Node::At(anchor)];
        nodes.extend(path.iter().map(|&t| Node::At(t)));
        if nodes.len() < columns {
            nodes.push(Node::Edge);
        }
        nodes
    };
    for (path, n) in paths {
        for (c, node) in walk(path).into_iter().enumerate() {
            *per_column[c].entry(node).or_default() += n;
        }
    }
    // Keep the biggest nodes of each column; the rest are "other".
    let kept: Vec<Vec<(Node, usize)>> = per_column
        .iter()
        .map(|col| {
            let mut nodes: Vec<(Node, usize)> = col.iter().map(|(k, v)| (*k, *v)).collect();
            nodes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            if nodes.len() > SANKEY_NODES {
                let rest: usize = nodes[SANKEY_NODES - 1..].iter().map(|(_, n)| n).sum();
                nodes.truncate(SANKEY_NODES - 1);
                nodes.push((Node::Other, rest));
            }
            nodes
        })
        .collect();
    let place = |c: usize, node: Node| -> Node {
        if kept[c].iter().any(|(k, _)| *k == node) {
            node
        } else {
            Node::Other
        }
    };
    let mut links: HashMap<(usize, Node, Node), usize> = HashMap::new();
    for (path, n) in paths {
        let nodes = walk(path);
        for c in 0..nodes.len().saturating_sub(1) {
            *links
                .entry((c, place(c, nodes[c]), place(c + 1, nodes[c + 1])))
                .or_default() += n;
        }
    }
    // Layout.
    // The outer column's labels (after the last column, or before the first) get room of their
    // own, so a long name and its count are never cut at the edge.
    let (col_w, node_w, height, gap, edge) = (210.0, 14.0, 380.0, 14.0, 320.0);
    let width = col_w * depth as f64 + edge + 24.0;
    let scale = if total == 0 {
        0.0
    } else {
        (height - gap * (SANKEY_NODES as f64 - 1.0)) / total as f64
    };
    let x_of = |c: usize| match direction {
        Direction::After => 10.0 + col_w * c as f64,
        Direction::Before => edge + col_w * (depth - c) as f64,
    };
    let mut top: HashMap<(usize, Node), f64> = HashMap::new();
    for (c, nodes) in kept.iter().enumerate() {
        let mut y = 30.0;
        for (node, n) in nodes {
            top.insert((c, *node), y);
            y += *n as f64 * scale + gap;
        }
    }
    let label = |node: Node| match node {
        Node::At(t) => names[t].clone(),
        Node::Edge => match direction {
            Direction::After => "(journey ends)".to_string(),
            Direction::Before => "(journey starts)".to_string(),
        },
        Node::Other => "(other touchpoints)".to_string(),
    };
    // Links, widest first underneath; each side's offsets follow the order they are drawn in.
    // Bands leave and reach each node in the order of the nodes at their other end, so they
    // do not cross on their way.
    let rank = |c: usize, node: Node| kept[c].iter().position(|(k, _)| *k == node);
    let mut ordered: Vec<(&(usize, Node, Node), &usize)> = links.iter().collect();
    ordered.sort_by_key(|((c, from, to), _)| (*c, rank(*c, *from), rank(c + 1, *to)));
    let mut out_used: HashMap<(usize, Node), f64> = HashMap::new();
    let mut in_used: HashMap<(usize, Node), f64> = HashMap::new();
    let mut bands = Vec::new();
    for ((c, from, to), n) in ordered {
        let w = *n as f64 * scale;
        let y1 = top.get(&(*c, *from)).copied().unwrap_or(0.0)
            + out_used.get(&(*c, *from)).copied().unwrap_or(0.0);
        let y2 = top.get(&(c + 1, *to)).copied().unwrap_or(0.0)
            + in_used.get(&(c + 1, *to)).copied().unwrap_or(0.0);
        *out_used.entry((*c, *from)).or_default() += w;
        *in_used.entry((c + 1, *to)).or_default() += w;
        let (xa, xb) = match direction {
            Direction::After => (x_of(*c) + node_w, x_of(c + 1)),
            Direction::Before => (x_of(*c), x_of(c + 1) + node_w),
        };
        let mid = (xa + xb) / 2.0;
        let (a, b) = (y1 + w / 2.0, y2 + w / 2.0);
        bands.push((
            format!("M{xa:.1},{a:.1} C{mid:.1},{a:.1} {mid:.1},{b:.1} {xb:.1},{b:.1}"),
            format!("{:.1}", w.max(1.0)),
            format!("{} → {}: {n}", label(*from), label(*to)),
        ));
    }
    let h = height + 60.0;
    let dir = if direction == Direction::After {
        "after"
    } else {
        "before"
    };
    html! {
        svg.sankey xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} {h}")) width=(width) height=(h) role="img"
            aria-label=(format!("Paths {dir} {}: {total} journeys", names[anchor])) font-family="system-ui, sans-serif" {
            @for (d, stroke_width, title) in &bands {
                path.flow-link d=(d) fill="none" stroke-width=(stroke_width) { title { (title) } }
            }
            @for (c, nodes) in kept.iter().enumerate() {
                @for (node, n) in nodes {
                    @let y = top[&(c, *node)];
                    @let bar = (*n as f64 * scale).max(2.0);
                    @let x = x_of(c);
                    @let (tx, anchor_text) = match direction {
                        Direction::After => (x + node_w + 4.0, "start"),
                        Direction::Before => (x - 4.0, "end"),
                    };
                    @let text = label(*node);
                    g.flow-node {
                        title { (text) ": " (n) }
                        rect.flow-bar x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(node_w) height=(format!("{bar:.1}")) {}
                        text.chart-label x=(format!("{tx:.1}")) y=(format!("{:.1}", y + bar.min(20.0) / 2.0 + 4.0)) font-size="12" text-anchor=(anchor_text) {
                            (cut(&text, 26)) " · " (n)
                        }
                    }
                }
            }
        }
    }
}

/// `GET /journeys/{id}/flow?touchpoint=…&direction=after&depth=3&page=1`
pub(crate) async fn flow(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = pairs(raw);
    let version = version_of(&pairs);
    let (journey, snapshot, _) = match loaded(&web, &signed, &id, &version, false).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let logs = web.app.logs.clone();
    let ids: Vec<String> = journey.touchpoints().map(|(_, t)| t.id.clone()).collect();
    let asked = one(&pairs, "touchpoint").and_then(|t| ids.iter().position(|i| i == t));
    let direction = match one(&pairs, "direction") {
        Some("before") => Direction::Before,
        _ => Direction::After,
    };
    let depth: usize = one(&pairs, "depth")
        .and_then(|d| d.parse().ok())
        .unwrap_or(3)
        .clamp(1, 6);
    let page_no: usize = one(&pairs, "page")
        .and_then(|d| d.parse().ok())
        .unwrap_or(1)
        .max(1);
    let journey2 = journey.clone();
    let computed = tokio::task::spawn_blocking(move || {
        let found = instances_in(&logs, &snapshot, &journey2);
        // Without a choice: where most journeys start.
        let anchor = asked.unwrap_or_else(|| {
            let mut starts: HashMap<usize, usize> = HashMap::new();
            for i in found.iter() {
                if let Some(first) = i.visits.first() {
                    *starts.entry(first.touchpoint).or_default() += 1;
                }
            }
            starts
                .into_iter()
                .max_by_key(|&(t, n)| (n, std::cmp::Reverse(t)))
                .map_or(0, |(t, _)| t)
        });
        let paths = journey::paths(&found, anchor, direction, depth);
        let variants = journey::visit_variants(&found);
        (anchor, found.len(), paths, variants)
    })
    .await;
    let Ok((anchor, instances, paths, variants)) = computed else {
        return crate::layout::failure(&"the flow could not be computed");
    };
    let names: Vec<String> = journey.touchpoints().map(|(_, t)| t.name.clone()).collect();
    let through: usize = paths.iter().map(|(_, n)| n).sum();
    let pages = variants.len().div_ceil(VARIANTS_PAGE).max(1);
    let page_no = page_no.min(pages);
    let shown =
        &variants[(page_no - 1) * VARIANTS_PAGE..(page_no * VARIANTS_PAGE).min(variants.len())];
    let query = version.query();
    let keep = |page: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("touchpoint", &ids[anchor]);
        q.append_pair(
            "direction",
            if direction == Direction::After {
                "after"
            } else {
                "before"
            },
        );
        q.append_pair("depth", &depth.to_string());
        q.append_pair("page", &page.to_string());
        if let Some(v) = &version.version {
            q.append_pair("version", v);
        }
        format!("/journeys/{id}/flow?{}#variants", q.finish())
    };
    let banner = crate::saved::banner(&web, &pairs).await;
    let content = html! {
        (tabs(&id, &query, "/flow"))
        (banner)
        (crate::saved::save_form(&signed, "flow", &id, &crate::saved::query_of(&pairs)))
        form.builder method="get" action=(format!("/journeys/{id}/flow")) {
            @if let Some(v) = &version.version { input type="hidden" name="version" value=(v); }
            div.field {
                label for="touchpoint" { "Touchpoint" }
                select #touchpoint name="touchpoint" { (touchpoint_options(&journey, Some(&ids[anchor]), None)) }
            }
            fieldset {
                legend { "Paths" }
                div.choice { input type="radio" name="direction" id="direction-after" value="after" checked[direction == Direction::After]; label for="direction-after" { "after it" } }
                div.choice { input type="radio" name="direction" id="direction-before" value="before" checked[direction == Direction::Before]; label for="direction-before" { "before it" } }
            }
            div.field {
                label for="depth" { "Steps to follow" }
                input #depth name="depth" type="number" min="1" max="6" value=(depth);
            }
            button type="submit" { "Show the paths" }
        }
        h2 { "Paths " (if direction == Direction::After { "after " } else { "before " }) (names[anchor]) }
        p { (through) " of " (instances) " journey instances pass " (names[anchor]) "." }
        @if through > 0 {
            figure.map tabindex="0" role="group" aria-label="The paths (scrolls sideways)" {
                (sankey(&journey, anchor, &paths, depth, direction))
                figcaption { "Each column is a step " (if direction == Direction::After { "after" } else { "before" }) " the chosen touchpoint; band widths are journeys. The most common paths are listed below." }
            }
            table {
                caption { "The most common paths" }
                thead { tr { th scope="col" { "Path" } th scope="col" { "Journeys" } th scope="col" { "Share" } } }
                tbody {
                    @for (path, n) in paths.iter().take(10) {
                        tr {
                            td { @if path.is_empty() { (if direction == Direction::After { "(ends here)" } else { "(starts here)" }) }
                                 @else { (path.iter().map(|&t| names[t].as_str()).collect::<Vec<_>>().join(" → ")) } }
                            td { (n) }
                            td { (percent(*n as f64 / through as f64)) }
                        }
                    }
                }
            }
        }
        h2 #variants { "Variants" }
        p { (variants.len()) " distinct ways through the journey, most walked first." }
        ol.variants start=((page_no - 1) * VARIANTS_PAGE + 1) {
            @for (path, walked, completed) in shown {
                li {
                    strong { (walked) " journeys" } " (" (percent(*walked as f64 / instances.max(1) as f64)) ", " (completed) " completed): "
                    (path.iter().map(|&t| names[t].as_str()).collect::<Vec<_>>().join(" → "))
                }
            }
        }
        @if pages > 1 {
            nav.pager aria-label="Variant pages" {
                @if page_no > 1 { a rel="prev" href=(keep(page_no - 1)) { "← Previous" } }
                span { "Page " (page_no) " of " (pages) }
                @if page_no < pages { a rel="next" href=(keep(page_no + 1)) { "Next →" } }
            }
        }
    };
    page(&format!("Flow: {}", journey.title), Some(&signed), content).into_response()
}

/// The designed journey as an arc diagram over its touchpoints in order: moves the design has
/// arc above (blue, solid), moves it does not have arc below (red, dashed, labelled "not
/// designed"); each labelled with how many journeys made it.
fn arcs(journey: &Journey, moves: &[journey::Walked]) -> Markup {
    let names: Vec<String> = journey.touchpoints().map(|(_, t)| t.name.clone()).collect();
    let ids: Vec<&str> = journey.touchpoints().map(|(_, t)| t.id.as_str()).collect();
    let n = names.len();
    let (step, box_w, box_h, mid) = (170.0, 150.0, 54.0, 260.0);
    let width = step * n as f64 + 40.0;
    let max = moves
        .iter()
        .filter(|m| m.from.is_some() && m.to.is_some())
        .map(|m| m.count)
        .max()
        .unwrap_or(1)
        .max(1);
    let x = |t: usize| 20.0 + step * t as f64 + box_w / 2.0;
    // Designed moves that nobody made, thin and dotted above.
    let flow: Vec<(usize, usize)> = journey
        .flow_edges()
        .into_iter()
        .filter_map(|(a, b)| {
            Some((
                ids.iter().position(|i| *i == a)?,
                ids.iter().position(|i| *i == b)?,
            ))
        })
        .collect();
    let mut drawn: Vec<(usize, usize, usize, bool)> = moves
        .iter()
        .filter_map(|m| Some((m.from?, m.to?, m.count, m.designed)))
        .collect();
    for &(a, b) in &flow {
        if !drawn.iter().any(|d| d.0 == a && d.1 == b) {
            drawn.push((a, b, 0, true));
        }
    }
    let f1 = |v: f64| format!("{v:.1}");
    html! {
        svg.arcs xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {width} 540")) width=(width) height="540" role="img"
            aria-label="The designed journey against the walked one" font-family="system-ui, sans-serif" {
            defs {
                marker #arc-head viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse" {
                    path.arc-head d="M0,0 L10,5 L0,10 Z" {}
                }
            }
            @for (a, b, count, designed) in &drawn {
                @let (x1, x2) = (x(*a), x(*b));
                @let lift = ((x2 - x1).abs() * 0.35).clamp(30.0, mid - 40.0);
                @let (y, bend) = if *designed { (mid - box_h / 2.0, mid - box_h / 2.0 - lift) } else { (mid + box_h / 2.0, mid + box_h / 2.0 + lift) };
                @let (kind, word) = match (designed, count) {
                    (true, 0) => ("unwalked", "designed, never walked"),
                    (true, _) => ("designed", "designed"),
                    (false, _) => ("undesigned", "not designed"),
                };
                @let (mx, my) = ((x1 + x2) / 2.0, (y + bend) / 2.0 + (bend - y) * 0.25);
                g class=(format!("arc arc-{kind}")) data-from=(ids[*a]) data-to=(ids[*b]) data-designed=(designed) data-count=(count) {
                    title { (names[*a]) " → " (names[*b]) ": " (count) " journeys (" (word) ")" }
                    path d=(format!("M{x1:.1},{y:.1} Q{mx:.1},{bend:.1} {x2:.1},{y:.1}")) fill="none"
                        stroke-width=(f1(1.5 + 10.0 * *count as f64 / max as f64)) marker-end="url(#arc-head)" {}
                    text x=(f1(mx)) y=(f1(my + if *designed { -2.0 } else { 10.0 })) font-size="11" text-anchor="middle" font-weight="600" {
                        (count) @if !designed { " ✕" }
                    }
                }
            }
            @for (t, name) in names.iter().enumerate() {
                g.node {
                    rect.arc-node x=(f1(x(t) - box_w / 2.0)) y=(f1(mid - box_h / 2.0)) width=(box_w) height=(box_h) rx="6" {}
                    @for (k, line) in waymark_map::wrap(name, 20, 3).iter().enumerate() {
                        text.chart-label x=(f1(x(t))) y=(f1(mid - box_h / 2.0 + 16.0 + 14.0 * k as f64)) font-size="11.5" text-anchor="middle" { (line) }
                    }
                }
            }
            text.arc-key-designed x="20" y="20" font-size="12" { "Above: moves the design has (solid; dotted when never walked)" }
            text.arc-key-undesigned x="20" y="530" font-size="12" { "Below: moves the design does not have (dashed, marked ✕)" }
        }
    }
}

/// `GET /journeys/{id}/conformance`
pub(crate) async fn conformance(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = pairs(raw);
    let version = version_of(&pairs);
    let (journey, snapshot, report) = match loaded(&web, &signed, &id, &version, true).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let logs = web.app.logs.clone();
    let journey2 = journey.clone();
    let Ok(moves) = tokio::task::spawn_blocking(move || {
        let found = instances_in(&logs, &snapshot, &journey2);
        journey::moves(&journey2, &found)
    })
    .await
    else {
        return crate::layout::failure(&"the moves could not be computed");
    };
    let names: Vec<String> = journey.touchpoints().map(|(_, t)| t.name.clone()).collect();
    let name = |t: Option<usize>, edge: &str| t.map_or(edge.to_string(), |t| names[t].clone());
    let off: Vec<&journey::Walked> = moves.iter().filter(|m| !m.designed).collect();
    let query = version.query();
    let banner = crate::saved::banner(&web, &pairs).await;
    let content = html! {
        (tabs(&id, &query, "/conformance"))
        (banner)
        (crate::saved::save_form(&signed, "conformance", &id, &crate::saved::query_of(&pairs)))
        @if let Some(report) = &report {
            p { (report.conformance.fitting) " of " (report.instances.total) " journey instances ("
                (percent(report.conformance.share)) ") followed the designed journey from start to end." }
        }
        figure.map tabindex="0" role="group" aria-label="The designed journey against the walked one (scrolls sideways)" {
            (arcs(&journey, &moves))
            figcaption { "Touchpoints in their designed order. Above: moves the design has, as thick as the journeys that made them. Below, dashed and marked ✕: moves it does not have." }
        }
        h2 { "Moves the design does not have" }
        @if off.is_empty() {
            p { "Every journey moved as designed." }
        } @else {
            table {
                caption.visually-hidden { "Moves the design does not have, most made first" }
                thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Journeys" } } }
                tbody {
                    @for m in off.iter().take(30) {
                        tr { td { (name(m.from, "(start)")) } td { (name(m.to, "(end)")) } td { (m.count) } }
                    }
                }
            }
        }
        h2 { "Where journeys start and end" }
        table {
            caption.visually-hidden { "Where journeys start and end" }
            thead { tr { th scope="col" { "Touchpoint" } th scope="col" { "Started here" } th scope="col" { "Ended here" } } }
            tbody {
                @for (t, tname) in names.iter().enumerate() {
                    @let started = moves.iter().find(|m| m.from.is_none() && m.to == Some(t)).map_or(0, |m| m.count);
                    @let ended = moves.iter().find(|m| m.to.is_none() && m.from == Some(t)).map_or(0, |m| m.count);
                    @if started + ended > 0 {
                        tr { td { (tname) } td { (started) } td { (ended) } }
                    }
                }
            }
        }
    };
    page(
        &format!("Designed against actual: {}", journey.title),
        Some(&signed),
        content,
    )
    .into_response()
}

//! The map's SVG, drawn through maud (every text escaped, every element closed), in the colours
//! of [`crate::palette`]. Each element also carries a class, so a page around the map (the web
//! app) restyles it with its own tokens.

use maud::{Markup, PreEscaped, html};
use waymark_journey::{Touchpoint, Visibility, duration};

use crate::palette as c;
use crate::{
    CARD_H, CARD_W, CardFigures, LABEL_WIDTH, Layout, Live, MARGIN, SLOT, STAGE_H, StageLine,
    TITLE_H, channel_label, kind_fill, percent, signed, target_text, wrap,
};

/// Text safe for XML: the characters XML 1.0 forbids are dropped (maud escapes the rest).
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| (*c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r'))
        .collect()
}

/// A coordinate as written: one decimal.
fn at(v: f64) -> String {
    format!("{v:.1}")
}

/// The whole map.
pub(crate) fn svg(
    journey: &waymark_journey::Journey,
    live: Option<&Live>,
    marks: &crate::Marks,
) -> String {
    let layout = Layout::new(journey, live);
    // A picture, unless its cards are links: then a group, so the links inside stay reachable.
    let role = if live.is_some_and(|l| l.card_links.is_some()) {
        "group"
    } else {
        "img"
    };
    let markup = html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {} {}", layout.width, layout.height))
            width=(layout.width) height=(layout.height) role=(role) aria-labelledby="map-title map-desc"
            font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" {
            title #map-title { (clean(&journey.title)) " (" (clean(&journey.version)) ")" }
            desc #map-desc {
                "Journey map of " (clean(&journey.title)) ": " (journey.stages.len()) " stages, "
                (layout.slots.len()) " touchpoints. Owner: " (clean(&journey.owner)) "."
            }
            defs {
                marker #arrow viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path.map-arrow d="M0,0 L10,5 L0,10 z" fill=(c::ARROW) {}
                }
                marker #arrow-link viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                    path.map-arrow-link d="M0,0 L10,5 L0,10 z" fill=(c::LINK) {}
                }
            }
            rect.map-paper x="0" y="0" width=(layout.width) height=(layout.height) fill=(c::PAPER) {}
            (title(&layout))
            (stages(&layout))
            (lanes(&layout, live.is_some()))
            (emotion_curve(&layout))
            @if let Some(live) = live { (measured_emotion(&layout, live)) }
            (flow(&layout))
            @for slot in 0..layout.slots.len() { (card(&layout, slot, marks)) }
        }
    };
    let mut out = markup.into_string();
    out.push('\n');
    out
}

fn title(layout: &Layout) -> Markup {
    let j = layout.journey;
    html! {
        text.map-title x=(MARGIN) y=(MARGIN + 20.0) font-size="22" font-weight="700" fill=(c::INK) { (clean(&j.title)) }
        text.map-meta x=(MARGIN) y=(MARGIN + 40.0) font-size="13" fill=(c::MUTED) {
            "Version: " (clean(&j.version)) " · Owner: " (clean(&j.owner)) " · " (j.stages.len()) " stages · " (layout.slots.len()) " touchpoints"
        }
    }
}

fn stages(layout: &Layout) -> Markup {
    let top = MARGIN + TITLE_H;
    let bottom = layout.height - MARGIN - 28.0;
    let mut starts = Vec::new();
    let mut slot = 0;
    for stage in &layout.journey.stages {
        starts.push(slot);
        slot += stage.touchpoints.len();
    }
    html! {
        @for ((index, stage), first) in layout.journey.stages.iter().enumerate().zip(starts) {
            @let x = layout.slot_x(first);
            @let width = SLOT * stage.touchpoints.len().max(1) as f64;
            g.stage data-stage=(clean(&stage.id)) {
                rect class=(if index % 2 == 0 { "map-column map-column-even" } else { "map-column" }) x=(x) y=(top) width=(width) height=(bottom - top)
                    fill=(if index % 2 == 0 { c::COLUMN } else { c::PAPER }) stroke=(c::LINE) stroke-width="1" {}
                rect.map-stage-head x=(x) y=(top) width=(width) height=(STAGE_H) fill=(c::HEAD) {}
                text.map-stage-name x=(x + 10.0) y=(top + 22.0) font-size="15" font-weight="700" fill=(c::PAPER) { (index + 1) ". " (clean(&stage.name)) }
                @if let Some(goal) = &stage.goal {
                    @let chars = ((width - 20.0) / 6.6) as usize;
                    @for (line, text) in wrap(goal, chars.max(12), 2).iter().enumerate() {
                        text.map-stage-goal x=(x + 10.0) y=(top + 40.0 + 14.0 * line as f64) font-size="11.5" fill=(c::HEAD_TEXT) { (clean(text)) }
                    }
                }
                @if let Some(line) = layout.live.and_then(|l| l.stages.get(&stage.id)) {
                    (stage_line(line, x, width, bottom))
                }
            }
        }
    }
}

/// A stage's figures under its column: reached, conversion, median time (and the share over
/// target in words), shortened to fit, with the whole line as a tooltip.
fn stage_line(line: &StageLine, x: f64, width: f64, bottom: f64) -> Markup {
    let mut parts = vec![format!("{} reached", line.reached)];
    if let Some(c) = line.conversion {
        parts.push(format!("{} on", percent(c)));
    }
    if let Some(m) = line.median_seconds {
        parts.push(format!("{} in stage", duration::format_seconds(m)));
    }
    if let Some(b) = line.breach_share {
        parts.push(format!("{} over target", percent(b)));
    }
    let whole = parts.join(" · ");
    let chars = ((width - 16.0) / 6.0) as usize;
    let shown = wrap(&whole, chars.max(12), 1)
        .into_iter()
        .next()
        .unwrap_or_default();
    html! {
        text.stage-live x=(at(x + 8.0)) y=(at(bottom + 18.0)) font-size="11" fill=(c::HEAD) {
            title { (whole) }
            (shown)
        }
    }
}

fn lanes(layout: &Layout, measured: bool) -> Markup {
    let right = layout.width - MARGIN;
    let emotion_top = MARGIN + TITLE_H + STAGE_H;
    html! {
        text.map-label x=(MARGIN) y=(emotion_top + 24.0) font-size="12" font-weight="700" fill=(c::INK) { "Emotion" }
        text.map-meta x=(MARGIN) y=(emotion_top + 40.0) font-size="11" fill=(c::MUTED) { "designed, −2 … +2" }
        @if measured {
            text.map-meta x=(MARGIN) y=(emotion_top + 56.0) font-size="11" fill=(c::MUTED) { "● solid: designed" }
            text.map-meta x=(MARGIN) y=(emotion_top + 72.0) font-size="11" fill=(c::MUTED) { "◆ dashed: measured" }
        }
        @for lane in &layout.lanes {
            g.lane data-channel=(lane.channel.as_str()) data-visibility=(lane.visibility.as_str()) {
                line.map-rule x1=(MARGIN) y1=(lane.top) x2=(right) y2=(lane.top) stroke=(c::LINE) stroke-width="1" {}
                text.map-label x=(MARGIN) y=(lane.top + 24.0) font-size="13" font-weight="700" fill=(c::INK) { (channel_label(lane.channel)) }
                text.map-meta x=(MARGIN) y=(lane.top + 40.0) font-size="11" fill=(c::MUTED) {
                    (match lane.visibility { Visibility::Front => "front-stage", Visibility::Back => "back-stage" })
                }
            }
        }
        @if let Some(y) = layout.visibility_line {
            g.line-of-visibility {
                line x1=(MARGIN) y1=(y) x2=(right) y2=(y) stroke=(c::BAD) stroke-width="2" stroke-dasharray="8 5" {}
                text x=(MARGIN + LABEL_WIDTH + 8.0) y=(y - 4.0) font-size="11" font-weight="700" fill=(c::BAD) {
                    "LINE OF VISIBILITY: the customer does not see what is below"
                }
            }
        }
    }
}

fn emotion_curve(layout: &Layout) -> Markup {
    let zero = layout.emotion_y(0);
    let left = MARGIN + LABEL_WIDTH;
    let right = layout.width - MARGIN;
    let points: Vec<(f64, f64, &Touchpoint)> = layout
        .slots
        .iter()
        .enumerate()
        .filter_map(|(slot, (_, tp))| {
            tp.experience.emotion.map(|score| {
                (
                    layout.slot_x(slot) + SLOT / 2.0,
                    layout.emotion_y(score),
                    *tp,
                )
            })
        })
        .collect();
    let path = (points.len() >= 2).then(|| {
        let mut path = format!("M{:.1},{:.1}", points[0].0, points[0].1);
        for pair in points.windows(2) {
            let (x0, y0, _) = pair[0];
            let (x1, y1, _) = pair[1];
            let mid = (x0 + x1) / 2.0;
            path.push_str(&format!(
                " C{mid:.1},{y0:.1} {mid:.1},{y1:.1} {x1:.1},{y1:.1}"
            ));
        }
        path
    });
    html! {
        g.emotion-axis {
            line x1=(left) y1=(zero) x2=(right) y2=(zero) stroke=(c::AXIS) stroke-dasharray="3 4" {}
            text x=(left - 4.0) y=(layout.emotion_y(2) + 4.0) font-size="10" fill=(c::MUTED) text-anchor="end" { "+2" }
            text x=(left - 4.0) y=(zero + 4.0) font-size="10" fill=(c::MUTED) text-anchor="end" { "0" }
            text x=(left - 4.0) y=(layout.emotion_y(-2) + 4.0) font-size="10" fill=(c::MUTED) text-anchor="end" { "−2" }
        }
        @if let Some(path) = &path {
            path.emotion-curve d=(path) fill="none" stroke=(c::DESIGNED) stroke-width="3" {}
        }
        @for (x, y, tp) in &points {
            @let score = tp.experience.emotion.unwrap_or(0);
            @let (fill, face) = match score { s if s > 0 => (c::GOOD, "+"), 0 => (c::NEUTRAL, "0"), _ => (c::BAD, "−") };
            @let label = match &tp.experience.feels { Some(word) => format!("{word} ({})", signed(score)), None => signed(score) };
            g.emotion-point data-touchpoint=(clean(&tp.id)) {
                title { (clean(&tp.name)) ": " (clean(&label)) }
                circle cx=(at(*x)) cy=(at(*y)) r="9" fill=(fill) stroke=(c::PAPER) stroke-width="2" {}
                text x=(at(*x)) y=(at(y + 4.0)) font-size="12" font-weight="700" fill=(c::PAPER) text-anchor="middle" { (face) }
                text.map-label x=(at(*x)) y=(at(y + 24.0)) font-size="11" fill=(c::INK) text-anchor="middle" { (clean(&label)) }
            }
        }
    }
}

/// The feeling measured by surveys: a dashed orange line through diamonds, beside the designed
/// solid blue line through circles (shape and dash tell them apart without colour).
fn measured_emotion(layout: &Layout, live: &Live) -> Markup {
    let points: Vec<(f64, f64, &Touchpoint, f64)> = layout
        .slots
        .iter()
        .enumerate()
        .filter_map(|(slot, (_, tp))| {
            let emotion = live.cards.get(&tp.id)?.emotion?;
            Some((
                layout.slot_x(slot) + SLOT / 2.0,
                layout.emotion_at(emotion),
                *tp,
                emotion,
            ))
        })
        .collect();
    let path = (points.len() >= 2).then(|| {
        let mut path = format!("M{:.1},{:.1}", points[0].0, points[0].1);
        for pair in points.windows(2) {
            path.push_str(&format!(" L{:.1},{:.1}", pair[1].0, pair[1].1));
        }
        path
    });
    html! {
        @if let Some(path) = &path {
            path.measured-emotion d=(path) fill="none" stroke=(c::MEASURED) stroke-width="2.5" stroke-dasharray="7 4" {}
        }
        @for (x, y, tp, emotion) in &points {
            @let designed = tp.experience.emotion.map_or("none designed".to_string(), |e| format!("designed {}", signed(e)));
            g.measured-emotion-point data-touchpoint=(clean(&tp.id)) data-emotion=(format!("{emotion:.2}")) {
                title { (clean(&tp.name)) ": measured " (format!("{emotion:+.1}")) " (" (designed) ")" }
                path d=(format!("M{x:.1},{:.1} L{:.1},{y:.1} L{x:.1},{:.1} L{:.1},{y:.1} Z", y - 7.0, x + 7.0, y + 7.0, x - 7.0))
                    fill=(c::MEASURED) stroke=(c::PAPER) stroke-width="1.5" {}
            }
        }
    }
}

fn flow(layout: &Layout) -> Markup {
    let center = |slot: usize| {
        let (x, y) = layout.card(slot);
        (x, y, x + CARD_W, y + layout.card_h / 2.0)
    };
    html! {
        g.flow {
            @for slot in 1..layout.slots.len() {
                @let (_, _, from_right, from_mid) = center(slot - 1);
                @let (to_left, _, _, to_mid) = center(slot);
                @let mid = (from_right + to_left) / 2.0;
                path.map-step d=(format!("M{from_right:.1},{from_mid:.1} C{mid:.1},{from_mid:.1} {mid:.1},{to_mid:.1} {to_left:.1},{to_mid:.1}"))
                    fill="none" stroke=(c::ARROW) stroke-width="1.5" marker-end="url(#arrow)" {}
            }
            @for link in &layout.journey.links {
                @if let (Some(from), Some(to)) = (layout.slot_of(&link.from), layout.slot_of(&link.to)) {
                    @let (fx, fy) = layout.card(from);
                    @let (tx, ty) = layout.card(to);
                    @let (x1, y1) = (fx + CARD_W / 2.0, fy + layout.card_h);
                    @let (x2, y2) = (tx + CARD_W / 2.0 + if from == to { 24.0 } else { 0.0 }, ty + layout.card_h);
                    @let dip = 34.0 + 6.0 * (from.abs_diff(to) as f64).min(6.0);
                    @let low = y1.max(y2) + dip;
                    g.link data-from=(clean(&link.from)) data-to=(clean(&link.to)) {
                        path d=(format!("M{x1:.1},{y1:.1} C{x1:.1},{low:.1} {x2:.1},{low:.1} {x2:.1},{y2:.1}")) fill="none" stroke=(c::LINK)
                            stroke-width="1.5" stroke-dasharray="6 4" marker-end="url(#arrow-link)" {}
                        text x=(at((x1 + x2) / 2.0)) y=(at(low - dip * 0.25 + 14.0)) font-size="10.5" fill=(c::LINK_TEXT) text-anchor="middle" {
                            (clean(link.label.as_deref().unwrap_or("")))
                        }
                    }
                }
            }
        }
    }
}

fn card(layout: &Layout, slot: usize, marks: &crate::Marks) -> Markup {
    let tp = layout.slots[slot].1;
    let (x, y) = layout.card(slot);
    let (stroke, stroke_width) = if tp.moment_of_truth {
        (c::MOMENT, "3")
    } else {
        (c::CARD_EDGE, "1")
    };
    let body = html! {
        g.touchpoint data-touchpoint=(clean(&tp.id)) data-kind=(tp.kind.as_str()) data-channel=(tp.channel.as_str()) data-visibility=(tp.visibility.as_str()) {
            title {
                (clean(&tp.name)) ": " (tp.kind.as_str()) " by " (tp.actor.as_str()) ", owned by " (clean(&tp.department)) ", " (clean(&target_text(tp)))
                @if tp.moment_of_truth { ", moment of truth" }
                @if tp.optional { ", optional" }
            }
            rect.map-card x=(at(x)) y=(at(y)) width=(CARD_W) height=(layout.card_h) rx="8" fill=(kind_fill(tp.kind)) stroke=(stroke)
                stroke-width=(stroke_width) stroke-dasharray=[tp.optional.then_some("5 3")] {}
            text.map-kind x=(at(x + 8.0)) y=(at(y + 15.0)) font-size="9.5" font-weight="700" letter-spacing="0.5" fill=(c::MUTED) { (tp.kind.as_str().to_uppercase()) }
            @if tp.moment_of_truth {
                text x=(at(x + CARD_W - 8.0)) y=(at(y + 17.0)) font-size="14" fill=(c::MOMENT) text-anchor="end" aria-label="moment of truth" { "★" }
            }
            @for (line, text) in wrap(&tp.name, 19, 3).iter().enumerate() {
                text.map-label x=(at(x + 8.0)) y=(at(y + 33.0 + 15.0 * line as f64)) font-size="12.5" font-weight="600" fill=(c::INK) { (clean(text)) }
            }
            text.map-detail x=(at(x + 8.0)) y=(at(y + CARD_H - 22.0)) font-size="10.5" fill=(c::HEAD) { (clean(&wrap(&tp.department, 22, 1).concat())) }
            text.map-detail x=(at(x + 8.0)) y=(at(y + CARD_H - 8.0)) font-size="10.5" fill=(c::HEAD) {
                (clean(&target_text(tp))) " · " (tp.actor.as_str()) @if tp.optional { " · optional" }
            }
            @if let Some(live) = layout.live {
                (live_figures(live.cards.get(&tp.id), x, y + CARD_H))
            }
            @if let Some(mark) = marks.get(&tp.id) {
                (mark_badge(mark, x, y))
            }
        }
    };
    let link = layout.live.and_then(|live| live.card_links.as_ref());
    html! {
        @match link {
            Some((before, after)) => {
                a.card-link href=(format!("{}{}{}", clean(before), clean(&tp.id), clean(after))) { (body) }
            }
            None => (body),
        }
        (PreEscaped("\n"))
    }
}

/// A badge on a card's top edge, in words (a diff's "added", a count of open comments), with a
/// class per tone for the web app's stylesheet.
fn mark_badge(mark: &crate::Mark, x: f64, y: f64) -> Markup {
    let text = clean(&mark.text);
    let width = 12.0 + 6.2 * text.chars().count() as f64;
    let (fill, ink) = match mark.tone {
        crate::Tone::Added => (c::GOOD, c::PAPER),
        crate::Tone::Changed => (c::MOMENT, c::PAPER),
        crate::Tone::Note => (c::LINK, c::PAPER),
    };
    let left = x + CARD_W - width - 6.0;
    html! {
        g class=(format!("map-mark map-mark-{}", mark.tone.as_str())) {
            rect x=(at(left)) y=(at(y - 9.0)) width=(at(width)) height="18" rx="9" fill=(fill) {}
            text x=(at(left + width / 2.0)) y=(at(y + 4.0)) font-size="10.5" font-weight="700" text-anchor="middle" fill=(ink) { (text) }
        }
    }
}

/// The measured lines of a card, under a rule: volume and conversion; time against target, in a
/// colour and in words (a mark and "over target", never colour alone); score and influence.
fn live_figures(figures: Option<&CardFigures>, x: f64, top: f64) -> Markup {
    let rule = html! {
        line x1=(at(x + 6.0)) y1=(at(top + 2.0)) x2=(at(x + CARD_W - 6.0)) y2=(at(top + 2.0)) stroke=(c::AXIS) stroke-width="1" {}
    };
    let Some(f) = figures.filter(|f| f.instances > 0) else {
        return html! {
            (rule)
            text.live x=(at(x + 8.0)) y=(at(top + 17.0)) font-size="10.5" fill=(c::NEUTRAL) { "no events" }
        };
    };
    let volume = match f.conversion {
        Some(conversion) => format!("{} in · {} on", f.instances, percent(conversion)),
        None => format!("{} in", f.instances),
    };
    let (time, colour, tone) = match (f.median_seconds, f.breach_share) {
        (Some(m), Some(b)) if b > 0.5 => (
            format!(
                "✗ {} · {} over target",
                duration::format_seconds(m),
                percent(b)
            ),
            c::BAD,
            "live-bad",
        ),
        (Some(m), Some(b)) if b > 0.1 => (
            format!(
                "! {} · {} over target",
                duration::format_seconds(m),
                percent(b)
            ),
            c::WARN,
            "live-warn",
        ),
        (Some(m), Some(b)) => (
            format!(
                "✓ {} · {} over target",
                duration::format_seconds(m),
                percent(b)
            ),
            c::GOOD_TEXT,
            "live-good",
        ),
        (Some(m), None) => (
            format!("{} median", duration::format_seconds(m)),
            c::HEAD,
            "live-plain",
        ),
        _ => (String::new(), c::HEAD, "live-plain"),
    };
    let mut third = Vec::new();
    if let Some(score) = &f.score {
        third.push(score.clone());
    }
    if let Some(i) = f.influence {
        // No "-0": under half a point is none.
        let i = if i.abs() < 0.5 { 0.0 } else { i };
        third.push(format!("influence {i:+.0} pts"));
    }
    html! {
        (rule)
        text.live x=(at(x + 8.0)) y=(at(top + 16.0)) font-size="10.5" fill=(c::HEAD) { (volume) }
        text class=(format!("live {tone}")) x=(at(x + 8.0)) y=(at(top + 29.0)) font-size="10.5" font-weight="600" fill=(colour) { (time) }
        text.live x=(at(x + 8.0)) y=(at(top + 42.0)) font-size="10.5" fill=(c::HEAD) { (clean(&third.join(" · "))) }
    }
}

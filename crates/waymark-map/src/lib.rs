//! Journey maps, drawn the way CX teams draw them.
//!
//! - Stages are columns, in journey order; each touchpoint has its own slot, so the map reads
//!   left to right in the designed order.
//! - Touchpoints sit in swimlanes, one per channel. Front-stage lanes are above the line of
//!   visibility, back-stage lanes below it.
//! - Each card shows the kind, the name, the owning department and the target time; moments of
//!   truth are starred and outlined.
//! - Above the lanes, the emotion curve joins the designed feeling (−2 … +2) of every touchpoint
//!   that has one.
//!
//! [`svg`] gives a standalone SVG; [`html`] wraps it in a self-contained page (no network) with
//! the personas, a legend and the change-impact answers, styled for screen and print.
//!
//! The crate is pure: it returns strings and never touches the file system.

use std::fmt::Write as _;

use waymark_journey::{CHANGE_QUESTIONS, Channel, Journey, Kind, Touchpoint, Visibility, duration};

const MARGIN: f64 = 24.0;
const LABEL_WIDTH: f64 = 132.0;
const SLOT: f64 = 176.0;
const CARD_W: f64 = 158.0;
const CARD_H: f64 = 104.0;
const TITLE_H: f64 = 56.0;
const STAGE_H: f64 = 64.0;
const EMOTION_H: f64 = 150.0;
const LANE_H: f64 = 128.0;
const VISIBILITY_GAP: f64 = 28.0;

/// Measured figures to draw on a map's cards (from a journey report).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    /// One line over the map, e.g. "13,087 instances, 97.8% completed, 26.5% on the designed path".
    pub summary: String,
    /// By touchpoint id.
    pub cards: std::collections::HashMap<String, CardFigures>,
    /// By stage id: the stage's figures, drawn under its column.
    pub stages: std::collections::HashMap<String, StageLine>,
    /// A section of HTML to show under the map (the report's tables), already safe to embed.
    pub details: Option<String>,
    /// Where a card leads: the first text, the touchpoint's id, then the second (the web app's
    /// detail page and its query). Cards become links, reached with Tab and opened with Enter.
    pub card_links: Option<(String, String)>,
}

/// The measured figures of one stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageLine {
    /// Instances that reached it.
    pub reached: usize,
    /// Of those, the share that reached the next stage.
    pub conversion: Option<f64>,
    /// The median time in the stage, seconds.
    pub median_seconds: Option<f64>,
    /// The share of instances over the stage's target.
    pub breach_share: Option<f64>,
}

/// The measured figures of one touchpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CardFigures {
    /// Instances that visited it.
    pub instances: usize,
    /// Of those, the share that went on to a later touchpoint.
    pub conversion: Option<f64>,
    /// The median time until the journey moved on, in seconds.
    pub median_seconds: Option<f64>,
    /// The share of visits over the target.
    pub breach_share: Option<f64>,
    /// A score to show, e.g. "CSAT 4.2".
    pub score: Option<String>,
    /// Influence on completion, in percentage points.
    pub influence: Option<f64>,
    /// The measured feeling on the designed emotion scale (−2 … +2), from survey answers.
    pub emotion: Option<f64>,
}

/// The extra card height that live figures take.
const LIVE_H: f64 = 46.0;

/// One swimlane: a channel on one side of the line of visibility.
struct Lane {
    visibility: Visibility,
    channel: Channel,
    top: f64,
}

/// Where everything goes.
struct Layout<'a> {
    journey: &'a Journey,
    live: Option<&'a Live>,
    card_h: f64,
    lane_h: f64,
    /// Every touchpoint in journey order, with its stage index.
    slots: Vec<(usize, &'a Touchpoint)>,
    lanes: Vec<Lane>,
    /// The y of the line of visibility, if there are lanes on both sides.
    visibility_line: Option<f64>,
    width: f64,
    height: f64,
}

impl<'a> Layout<'a> {
    fn new(journey: &'a Journey, live: Option<&'a Live>) -> Self {
        let extra = if live.is_some() { LIVE_H } else { 0.0 };
        let (card_h, lane_h) = (CARD_H + extra, LANE_H + extra);
        let slots: Vec<(usize, &Touchpoint)> = journey
            .stages
            .iter()
            .enumerate()
            .flat_map(|(index, stage)| stage.touchpoints.iter().map(move |tp| (index, tp)))
            .collect();
        let lanes_top = MARGIN + TITLE_H + STAGE_H + EMOTION_H;
        let mut lanes = Vec::new();
        let mut top = lanes_top;
        let mut visibility_line = None;
        for visibility in Visibility::ALL {
            let used: Vec<Channel> = Channel::ALL
                .iter()
                .copied()
                .filter(|channel| {
                    slots
                        .iter()
                        .any(|(_, tp)| tp.visibility == *visibility && tp.channel == *channel)
                })
                .collect();
            if *visibility == Visibility::Back && !used.is_empty() && !lanes.is_empty() {
                visibility_line = Some(top + VISIBILITY_GAP / 2.0);
                top += VISIBILITY_GAP;
            }
            for channel in used {
                lanes.push(Lane {
                    visibility: *visibility,
                    channel,
                    top,
                });
                top += lane_h;
            }
        }
        let width = MARGIN * 2.0 + LABEL_WIDTH + SLOT * slots.len().max(1) as f64;
        let link_room = if journey.links.is_empty() { 0.0 } else { 72.0 };
        let height = top + MARGIN + 28.0 + link_room;
        Layout {
            journey,
            live,
            card_h,
            lane_h,
            slots,
            lanes,
            visibility_line,
            width,
            height,
        }
    }

    fn slot_x(&self, slot: usize) -> f64 {
        MARGIN + LABEL_WIDTH + SLOT * slot as f64
    }

    fn card(&self, slot: usize) -> (f64, f64) {
        let tp = self.slots[slot].1;
        let lane = self
            .lanes
            .iter()
            .find(|lane| lane.visibility == tp.visibility && lane.channel == tp.channel)
            .map(|lane| lane.top)
            .unwrap_or(0.0);
        (
            self.slot_x(slot) + (SLOT - CARD_W) / 2.0,
            lane + (self.lane_h - self.card_h) / 2.0,
        )
    }

    fn slot_of(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|(_, tp)| tp.id == id)
    }

    fn emotion_y(&self, score: i8) -> f64 {
        self.emotion_at(f64::from(score))
    }

    fn emotion_at(&self, score: f64) -> f64 {
        let top = MARGIN + TITLE_H + STAGE_H + 22.0;
        let bottom = MARGIN + TITLE_H + STAGE_H + EMOTION_H - 30.0;
        let middle = (top + bottom) / 2.0;
        middle - score.clamp(-2.0, 2.0) * (bottom - top) / 4.0
    }
}

/// Escapes text for XML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Characters XML 1.0 forbids are dropped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Wraps text to at most `lines` lines of `width` characters, with an ellipsis when cut (SVG
/// labels do not wrap themselves).
pub fn wrap(text: &str, width: usize, lines: usize) -> Vec<String> {
    let mut wrapped: Vec<String> = textwrap::wrap(text, width)
        .into_iter()
        .map(|l| l.into_owned())
        .collect();
    if wrapped.len() > lines {
        wrapped.truncate(lines);
        if let Some(last) = wrapped.last_mut() {
            let keep: String = last.chars().take(width.saturating_sub(1)).collect();
            *last = format!("{}…", keep.trim_end());
        }
    }
    wrapped
}

/// Light fills with dark text (contrast above 7:1), one per kind; shape and label carry the
/// meaning too, never colour alone.
pub fn kind_fill(kind: Kind) -> &'static str {
    match kind {
        Kind::Form => "#e3f0ff",
        Kind::Approval => "#fff1d6",
        Kind::Payment => "#e6f6e6",
        Kind::Notification => "#f1e8ff",
        Kind::Conversation => "#ffe6ea",
        Kind::Content => "#eef1f4",
        Kind::Task => "#f3f3e6",
        Kind::Wait => "#f4f4f4",
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Web => "Web",
        Channel::App => "App",
        Channel::Email => "Email",
        Channel::Sms => "SMS",
        Channel::Whatsapp => "WhatsApp",
        Channel::Phone => "Phone",
        Channel::Chat => "Chat",
        Channel::Social => "Social",
        Channel::InPerson => "In person",
        Channel::Letter => "Letter",
        Channel::Other => "Other",
    }
}

/// `+1`, `0`, `−2`.
fn signed(score: i8) -> String {
    match score {
        0 => "0".to_string(),
        s if s > 0 => format!("+{s}"),
        s => format!("−{}", s.unsigned_abs()),
    }
}

fn target_text(tp: &Touchpoint) -> String {
    match tp.target {
        Some(target) => format!("target {}", duration::format(target)),
        None => "no target".to_string(),
    }
}

/// The journey map as a standalone SVG document.
pub fn svg(journey: &Journey) -> String {
    svg_live(journey, None)
}

/// The journey map with measured figures on its cards, when given.
pub fn svg_live(journey: &Journey, live: Option<&Live>) -> String {
    let layout = Layout::new(journey, live);
    let mut out = String::new();
    // A picture, unless its cards are links: then a group, so the links inside stay reachable.
    let role = if live.is_some_and(|l| l.card_links.is_some()) {
        "group"
    } else {
        "img"
    };
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="{role}" aria-labelledby="map-title map-desc" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif">"#,
        w = layout.width,
        h = layout.height
    );
    let _ = writeln!(
        out,
        r#"<title id="map-title">{} ({})</title>"#,
        esc(&journey.title),
        esc(&journey.version)
    );
    let _ = writeln!(
        out,
        r#"<desc id="map-desc">Journey map of {}: {} stages, {} touchpoints. Owner: {}.</desc>"#,
        esc(&journey.title),
        journey.stages.len(),
        layout.slots.len(),
        esc(&journey.owner)
    );
    out.push_str(concat!(
        "<defs>",
        r##"<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6470"/></marker>"##,
        r##"<marker id="arrow-link" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a3ffc"/></marker>"##,
        "</defs>\n"
    ));
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{}" height="{}" fill="#ffffff"/>"##,
        layout.width, layout.height
    );
    title(&mut out, &layout);
    stages(&mut out, &layout);
    lanes(&mut out, &layout, live.is_some());
    emotion_curve(&mut out, &layout);
    if let Some(live) = live {
        measured_emotion(&mut out, &layout, live);
    }
    flow(&mut out, &layout);
    for slot in 0..layout.slots.len() {
        card(&mut out, &layout, slot);
    }
    out.push_str("</svg>\n");
    out
}

fn title(out: &mut String, layout: &Layout) {
    let j = layout.journey;
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{y}" font-size="22" font-weight="700" fill="#111827">{title}</text><text x="{x}" y="{y2}" font-size="13" fill="#374151">Version: {version} · Owner: {owner} · {stages} stages · {tps} touchpoints</text>"##,
        x = MARGIN,
        y = MARGIN + 20.0,
        y2 = MARGIN + 40.0,
        title = esc(&j.title),
        version = esc(&j.version),
        owner = esc(&j.owner),
        stages = j.stages.len(),
        tps = layout.slots.len()
    );
}

fn stages(out: &mut String, layout: &Layout) {
    let top = MARGIN + TITLE_H;
    let bottom = layout.height - MARGIN - 28.0;
    let mut slot = 0;
    for (index, stage) in layout.journey.stages.iter().enumerate() {
        let x = layout.slot_x(slot);
        let width = SLOT * stage.touchpoints.len().max(1) as f64;
        let fill = if index % 2 == 0 { "#f8fafc" } else { "#ffffff" };
        let _ = writeln!(
            out,
            r##"<g class="stage" data-stage="{id}"><rect x="{x}" y="{top}" width="{width}" height="{h}" fill="{fill}" stroke="#d1d5db" stroke-width="1"/><rect x="{x}" y="{top}" width="{width}" height="{sh}" fill="#1f2937"/><text x="{tx}" y="{ty}" font-size="15" font-weight="700" fill="#ffffff">{n}. {name}</text>"##,
            id = esc(&stage.id),
            h = bottom - top,
            sh = STAGE_H,
            tx = x + 10.0,
            ty = top + 22.0,
            n = index + 1,
            name = esc(&stage.name),
        );
        if let Some(goal) = &stage.goal {
            let chars = ((width - 20.0) / 6.6) as usize;
            for (line, text) in wrap(goal, chars.max(12), 2).iter().enumerate() {
                let _ = write!(
                    out,
                    r##"<text x="{}" y="{}" font-size="11.5" fill="#e5e7eb">{}</text>"##,
                    x + 10.0,
                    top + 40.0 + 14.0 * line as f64,
                    esc(text)
                );
            }
        }
        if let Some(line) = layout.live.and_then(|l| l.stages.get(&stage.id)) {
            stage_line(out, line, x, width, bottom);
        }
        out.push_str("</g>\n");
        slot += stage.touchpoints.len();
    }
}

/// A stage's figures under its column: reached, conversion, median time (and the share over
/// target in words), shortened to fit, with the whole line as a tooltip.
fn stage_line(out: &mut String, line: &StageLine, x: f64, width: f64, bottom: f64) {
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
    let _ = write!(
        out,
        r##"<text class="stage-live" x="{:.1}" y="{:.1}" font-size="11" fill="#1f2937"><title>{}</title>{}</text>"##,
        x + 8.0,
        bottom + 18.0,
        esc(&whole),
        esc(&shown)
    );
}

fn lanes(out: &mut String, layout: &Layout, measured: bool) {
    let right = layout.width - MARGIN;
    let emotion_top = MARGIN + TITLE_H + STAGE_H;
    let _ = writeln!(
        out,
        r##"<text x="{x}" y="{y}" font-size="12" font-weight="700" fill="#111827">Emotion</text><text x="{x}" y="{y2}" font-size="11" fill="#374151">designed, −2 … +2</text>"##,
        x = MARGIN,
        y = emotion_top + 24.0,
        y2 = emotion_top + 40.0
    );
    if measured {
        let _ = writeln!(
            out,
            r##"<text x="{x}" y="{y}" font-size="11" fill="#374151">● solid: designed</text><text x="{x}" y="{y2}" font-size="11" fill="#374151">◆ dashed: measured</text>"##,
            x = MARGIN,
            y = emotion_top + 56.0,
            y2 = emotion_top + 72.0
        );
    }
    for lane in &layout.lanes {
        let side = match lane.visibility {
            Visibility::Front => "front-stage",
            Visibility::Back => "back-stage",
        };
        let _ = writeln!(
            out,
            r##"<g class="lane" data-channel="{ch}" data-visibility="{vis}"><line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#d1d5db" stroke-width="1"/><text x="{tx}" y="{ty}" font-size="13" font-weight="700" fill="#111827">{label}</text><text x="{tx}" y="{ty2}" font-size="11" fill="#374151">{side}</text></g>"##,
            ch = lane.channel.as_str(),
            vis = lane.visibility.as_str(),
            x1 = MARGIN,
            x2 = right,
            y = lane.top,
            tx = MARGIN,
            ty = lane.top + 24.0,
            ty2 = lane.top + 40.0,
            label = channel_label(lane.channel),
        );
    }
    if let Some(y) = layout.visibility_line {
        let _ = writeln!(
            out,
            r##"<g class="line-of-visibility"><line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#b91c1c" stroke-width="2" stroke-dasharray="8 5"/><text x="{tx}" y="{ty}" font-size="11" font-weight="700" fill="#b91c1c">LINE OF VISIBILITY: the customer does not see what is below</text></g>"##,
            x1 = MARGIN,
            x2 = right,
            tx = MARGIN + LABEL_WIDTH + 8.0,
            ty = y - 4.0
        );
    }
}

fn emotion_curve(out: &mut String, layout: &Layout) {
    let zero = layout.emotion_y(0);
    let left = MARGIN + LABEL_WIDTH;
    let right = layout.width - MARGIN;
    let _ = writeln!(
        out,
        r##"<g class="emotion-axis"><line x1="{left}" y1="{zero}" x2="{right}" y2="{zero}" stroke="#9ca3af" stroke-dasharray="3 4"/><text x="{lx}" y="{top}" font-size="10" fill="#374151" text-anchor="end">+2</text><text x="{lx}" y="{zy}" font-size="10" fill="#374151" text-anchor="end">0</text><text x="{lx}" y="{bottom}" font-size="10" fill="#374151" text-anchor="end">−2</text></g>"##,
        lx = left - 4.0,
        top = layout.emotion_y(2) + 4.0,
        zy = zero + 4.0,
        bottom = layout.emotion_y(-2) + 4.0,
    );
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
    if points.len() >= 2 {
        let mut path = format!("M{:.1},{:.1}", points[0].0, points[0].1);
        for pair in points.windows(2) {
            let (x0, y0, _) = pair[0];
            let (x1, y1, _) = pair[1];
            let mid = (x0 + x1) / 2.0;
            let _ = write!(path, " C{mid:.1},{y0:.1} {mid:.1},{y1:.1} {x1:.1},{y1:.1}");
        }
        let _ = writeln!(
            out,
            r##"<path class="emotion-curve" d="{path}" fill="none" stroke="#2563eb" stroke-width="3"/>"##
        );
    }
    for (x, y, tp) in points {
        let score = tp.experience.emotion.unwrap_or(0);
        let (fill, face) = match score {
            s if s > 0 => ("#15803d", "+"),
            0 => ("#4b5563", "0"),
            _ => ("#b91c1c", "−"),
        };
        let label = match &tp.experience.feels {
            Some(word) => format!("{word} ({})", signed(score)),
            None => signed(score),
        };
        let _ = writeln!(
            out,
            r##"<g class="emotion-point" data-touchpoint="{id}"><title>{name}: {label}</title><circle cx="{x:.1}" cy="{y:.1}" r="9" fill="{fill}" stroke="#ffffff" stroke-width="2"/><text x="{x:.1}" y="{ty:.1}" font-size="12" font-weight="700" fill="#ffffff" text-anchor="middle">{face}</text><text x="{x:.1}" y="{ly:.1}" font-size="11" fill="#111827" text-anchor="middle">{word}</text></g>"##,
            id = esc(&tp.id),
            name = esc(&tp.name),
            label = esc(&label),
            ty = y + 4.0,
            ly = y + 24.0,
            word = esc(&label),
        );
    }
}

/// The feeling measured by surveys: a dashed orange line through diamonds, beside the designed
/// solid blue line through circles (shape and dash tell them apart without colour).
fn measured_emotion(out: &mut String, layout: &Layout, live: &Live) {
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
    if points.len() >= 2 {
        let mut path = format!("M{:.1},{:.1}", points[0].0, points[0].1);
        for pair in points.windows(2) {
            let (x1, y1) = (pair[1].0, pair[1].1);
            let _ = write!(path, " L{x1:.1},{y1:.1}");
        }
        let _ = writeln!(
            out,
            r##"<path class="measured-emotion" d="{path}" fill="none" stroke="#c2410c" stroke-width="2.5" stroke-dasharray="7 4"/>"##
        );
    }
    for (x, y, tp, emotion) in points {
        let designed = tp
            .experience
            .emotion
            .map_or("none designed".to_string(), |e| {
                format!("designed {}", signed(e))
            });
        let _ = writeln!(
            out,
            r##"<g class="measured-emotion-point" data-touchpoint="{id}" data-emotion="{emotion:.2}"><title>{name}: measured {emotion:+.1} ({designed})</title><path d="M{x:.1},{t:.1} L{r:.1},{y:.1} L{x:.1},{b:.1} L{l:.1},{y:.1} Z" fill="#c2410c" stroke="#ffffff" stroke-width="1.5"/></g>"##,
            id = esc(&tp.id),
            name = esc(&tp.name),
            t = y - 7.0,
            b = y + 7.0,
            l = x - 7.0,
            r = x + 7.0,
        );
    }
}

fn flow(out: &mut String, layout: &Layout) {
    out.push_str("<g class=\"flow\">\n");
    let center = |slot: usize| {
        let (x, y) = layout.card(slot);
        (x, y, x + CARD_W, y + layout.card_h / 2.0)
    };
    for slot in 1..layout.slots.len() {
        let (_, _, from_right, from_mid) = center(slot - 1);
        let (to_left, _, _, to_mid) = center(slot);
        let mid = (from_right + to_left) / 2.0;
        let _ = writeln!(
            out,
            r##"<path d="M{from_right:.1},{from_mid:.1} C{mid:.1},{from_mid:.1} {mid:.1},{to_mid:.1} {to_left:.1},{to_mid:.1}" fill="none" stroke="#5b6470" stroke-width="1.5" marker-end="url(#arrow)"/>"##
        );
    }
    for link in &layout.journey.links {
        let (Some(from), Some(to)) = (layout.slot_of(&link.from), layout.slot_of(&link.to)) else {
            continue;
        };
        let (fx, fy) = layout.card(from);
        let (tx, ty) = layout.card(to);
        let (x1, y1) = (fx + CARD_W / 2.0, fy + layout.card_h);
        let (x2, y2) = (
            tx + CARD_W / 2.0 + if from == to { 24.0 } else { 0.0 },
            ty + layout.card_h,
        );
        let dip = 34.0 + 6.0 * (from.abs_diff(to) as f64).min(6.0);
        let low = y1.max(y2) + dip;
        let label = link.label.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            r##"<g class="link" data-from="{f}" data-to="{t}"><path d="M{x1:.1},{y1:.1} C{x1:.1},{low:.1} {x2:.1},{low:.1} {x2:.1},{y2:.1}" fill="none" stroke="#8a3ffc" stroke-width="1.5" stroke-dasharray="6 4" marker-end="url(#arrow-link)"/><text x="{lx:.1}" y="{ly:.1}" font-size="10.5" fill="#5b21b6" text-anchor="middle">{label}</text></g>"##,
            f = esc(&link.from),
            t = esc(&link.to),
            lx = (x1 + x2) / 2.0,
            ly = low - dip * 0.25 + 14.0,
            label = esc(label),
        );
    }
    out.push_str("</g>\n");
}

fn card(out: &mut String, layout: &Layout, slot: usize) {
    let tp = layout.slots[slot].1;
    let (x, y) = layout.card(slot);
    let (stroke, stroke_width) = if tp.moment_of_truth {
        ("#b45309", 3.0)
    } else {
        ("#6b7280", 1.0)
    };
    let dash = if tp.optional {
        r#" stroke-dasharray="5 3""#
    } else {
        ""
    };
    let link = layout.live.and_then(|live| live.card_links.as_ref());
    if let Some((before, after)) = link {
        let _ = write!(
            out,
            r#"<a class="card-link" href="{}{}{}">"#,
            esc(before),
            esc(&tp.id),
            esc(after),
        );
    }
    let _ = write!(
        out,
        r##"<g class="touchpoint" data-touchpoint="{id}" data-kind="{kind}" data-channel="{channel}" data-visibility="{vis}"><title>{name}: {kind} by {actor}, owned by {dept}, {target}{mot}{opt}</title><rect x="{x:.1}" y="{y:.1}" width="{w}" height="{h}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"{dash}/>"##,
        id = esc(&tp.id),
        kind = tp.kind.as_str(),
        channel = tp.channel.as_str(),
        vis = tp.visibility.as_str(),
        name = esc(&tp.name),
        actor = tp.actor.as_str(),
        dept = esc(&tp.department),
        target = esc(&target_text(tp)),
        mot = if tp.moment_of_truth {
            ", moment of truth"
        } else {
            ""
        },
        opt = if tp.optional { ", optional" } else { "" },
        w = CARD_W,
        h = layout.card_h,
        fill = kind_fill(tp.kind),
    );
    let header = tp.kind.as_str().to_uppercase();
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="9.5" font-weight="700" letter-spacing="0.5" fill="#374151">{}</text>"##,
        x + 8.0,
        y + 15.0,
        esc(&header)
    );
    if tp.moment_of_truth {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="14" fill="#b45309" text-anchor="end" aria-label="moment of truth">★</text>"##,
            x + CARD_W - 8.0,
            y + 17.0
        );
    }
    for (line, text) in wrap(&tp.name, 19, 3).iter().enumerate() {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12.5" font-weight="600" fill="#111827">{}</text>"##,
            x + 8.0,
            y + 33.0 + 15.0 * line as f64,
            esc(text)
        );
    }
    let dept: String = wrap(&tp.department, 22, 1).concat();
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="10.5" fill="#1f2937">{}</text><text x="{:.1}" y="{:.1}" font-size="10.5" fill="#1f2937">{} · {}{}</text>"##,
        x + 8.0,
        y + CARD_H - 22.0,
        esc(&dept),
        x + 8.0,
        y + CARD_H - 8.0,
        esc(&target_text(tp)),
        tp.actor.as_str(),
        if tp.optional { " · optional" } else { "" }
    );
    if let Some(live) = layout.live {
        live_figures(out, live.cards.get(&tp.id), x, y + CARD_H);
    }
    out.push_str("</g>");
    if link.is_some() {
        out.push_str("</a>");
    }
    out.push('\n');
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// The measured lines of a card, under a rule: volume and conversion; time against target, in a
/// colour and in words (a mark and "over target", never colour alone); score and influence.
fn live_figures(out: &mut String, figures: Option<&CardFigures>, x: f64, top: f64) {
    let _ = write!(
        out,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#9ca3af" stroke-width="1"/>"##,
        x + 6.0,
        top + 2.0,
        x + CARD_W - 6.0,
        top + 2.0
    );
    let Some(f) = figures.filter(|f| f.instances > 0) else {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="10.5" fill="#4b5563" class="live">no events</text>"##,
            x + 8.0,
            top + 17.0
        );
        return;
    };
    let volume = match f.conversion {
        Some(c) => format!("{} in · {} on", f.instances, percent(c)),
        None => format!("{} in", f.instances),
    };
    let (time, colour) = match (f.median_seconds, f.breach_share) {
        (Some(m), Some(b)) if b > 0.5 => (
            format!(
                "✗ {} · {} over target",
                duration::format_seconds(m),
                percent(b)
            ),
            "#b91c1c",
        ),
        (Some(m), Some(b)) if b > 0.1 => (
            format!(
                "! {} · {} over target",
                duration::format_seconds(m),
                percent(b)
            ),
            "#92400e",
        ),
        (Some(m), Some(b)) => (
            format!(
                "✓ {} · {} over target",
                duration::format_seconds(m),
                percent(b)
            ),
            "#166534",
        ),
        (Some(m), None) => (format!("{} median", duration::format_seconds(m)), "#1f2937"),
        _ => (String::new(), "#1f2937"),
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
    let _ = write!(
        out,
        r##"<text x="{x1:.1}" y="{y1:.1}" font-size="10.5" fill="#1f2937" class="live">{volume}</text><text x="{x1:.1}" y="{y2:.1}" font-size="10.5" font-weight="600" fill="{colour}" class="live">{time}</text><text x="{x1:.1}" y="{y3:.1}" font-size="10.5" fill="#1f2937" class="live">{third}</text>"##,
        x1 = x + 8.0,
        y1 = top + 16.0,
        y2 = top + 29.0,
        y3 = top + 42.0,
        volume = esc(&volume),
        time = esc(&time),
        third = esc(&third.join(" · ")),
    );
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #111827; background: #ffffff; }
header, main, footer { padding: 1rem 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
.meta { color: #374151; margin: 0; }
.map { overflow-x: auto; border: 1px solid #d1d5db; border-radius: 8px; }
.map svg { display: block; max-width: none; height: auto; }
.personas, .legend { display: flex; flex-wrap: wrap; gap: 1rem; padding: 0; list-style: none; }
.personas li { border: 1px solid #d1d5db; border-radius: 8px; padding: .75rem 1rem; max-width: 28rem; }
.legend li { display: flex; align-items: center; gap: .4rem; }
.swatch { display: inline-block; width: 1.1rem; height: 1.1rem; border: 1px solid #6b7280; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; max-width: 70rem; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #d1d5db; padding: .5rem; }
th { width: 22rem; }
.missing { color: #b91c1c; font-weight: 600; }
.report { overflow-x: auto; }
.report table { width: auto; max-width: none; font-variant-numeric: tabular-nums; }
.report th { width: auto; background: #f3f4f6; }
.report th, .report td { white-space: nowrap; }
.report td:first-child { white-space: normal; min-width: 10rem; }
@media print {
  @page { size: A3 landscape; margin: 10mm; }
  .map { overflow: visible; border: none; }
  .map svg { width: 100%; max-width: 100%; }
  h2 { break-after: avoid; }
  section { break-inside: avoid; }
}
"#;

/// The journey map as a self-contained HTML page: the SVG map, the personas, a legend and the
/// change-impact answers. It loads nothing from the network and prints on A3 landscape.
pub fn html(journey: &Journey) -> String {
    html_live(journey, None)
}

/// [`html`] with measured figures on the cards and a summary line over the map.
pub fn html_live(journey: &Journey, live: Option<&Live>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>{} ({}): journey map</title>\n<style>{}</style>\n</head>\n<body>\n",
        esc(&journey.title),
        esc(&journey.version),
        STYLE
    );
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">Version <strong>{}</strong> · Owner: {} · Journey id <code>{}</code></p>\n",
        esc(&journey.title),
        esc(&journey.version),
        esc(&journey.owner),
        esc(&journey.id)
    );
    if let Some(description) = &journey.description {
        let _ = writeln!(out, "<p>{}</p>", esc(description));
    }
    if let Some(live) = live {
        let _ = writeln!(
            out,
            "<p class=\"meta\">Measured: {}</p>",
            esc(&live.summary)
        );
    }
    out.push_str("</header>\n<main>\n");
    let _ = write!(
        out,
        "<section aria-label=\"Journey map\">\n<div class=\"map\">\n{}</div>\n</section>\n",
        svg_live(journey, live)
    );

    if !journey.serves.is_empty() {
        out.push_str("<section>\n<h2>Personas</h2>\n<ul class=\"personas\">\n");
        for persona in journey
            .personas
            .iter()
            .filter(|p| journey.serves.contains(&p.id))
        {
            let _ = write!(out, "<li><strong>{}</strong>", esc(&persona.name));
            if let Some(description) = &persona.description {
                let _ = write!(out, "<p>{}</p>", esc(description));
            }
            for (title, items) in [("Goals", &persona.goals), ("Pains", &persona.pains)] {
                if !items.is_empty() {
                    let _ = write!(out, "<p>{title}:</p><ul>");
                    for item in items {
                        let _ = write!(out, "<li>{}</li>", esc(item));
                    }
                    out.push_str("</ul>");
                }
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n</section>\n");
    }

    out.push_str("<section>\n<h2>Legend</h2>\n<ul class=\"legend\">\n");
    for kind in Kind::ALL {
        let _ = writeln!(
            out,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            kind_fill(*kind),
            kind.as_str()
        );
    }
    if live.is_some() {
        out.push_str("<li>solid blue line through circles: the designed emotion; dashed orange line through diamonds: the emotion measured by surveys at each touchpoint (CSAT − 3, else NPS ÷ 50, else (4 − CES) × ⅔, on the same −2 … +2 scale)</li>\n");
    }
    out.push_str("<li>★ and a thick amber outline: moment of truth</li>\n<li>dashed outline: optional step</li>\n<li>dashed purple arrow: branch or loop</li>\n<li>red dashed line: line of visibility</li>\n</ul>\n</section>\n");

    if let Some(change) = &journey.change {
        out.push_str("<section>\n<h2>Change impact</h2>\n<table>\n");
        for (question, answer) in CHANGE_QUESTIONS.iter().zip(change.answers()) {
            let answer = match answer {
                Some(text) => esc(text),
                None => "<span class=\"missing\">Not answered yet</span>".to_string(),
            };
            let _ = writeln!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                esc(question.question),
                answer
            );
        }
        let owner = change
            .owner
            .as_deref()
            .map(esc)
            .unwrap_or_else(|| "not given".to_string());
        let date = change
            .date
            .map(|d| d.to_string())
            .unwrap_or_else(|| "not given".to_string());
        let _ = write!(
            out,
            "</table>\n<p class=\"meta\">Assessed by {owner} on {date}.</p>\n</section>\n"
        );
    }
    if let Some(details) = live.and_then(|l| l.details.as_deref()) {
        let _ = write!(
            out,
            "<section class=\"report\" aria-label=\"Measured figures\">\n{details}</section>\n"
        );
    }
    out.push_str("</main>\n<footer class=\"meta\">Drawn by Waymark from the journey file.</footer>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_forbidden_characters() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
    }

    #[test]
    fn wrapping_cuts_with_an_ellipsis() {
        let lines = wrap("one two three four five six seven", 9, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'), "{lines:?}");
    }
}

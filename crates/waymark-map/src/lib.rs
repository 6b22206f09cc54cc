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

mod draw;
pub mod palette;

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

/// The journey map with measured figures on its cards, when given. Drawn through maud
/// (`draw.rs`) in the colours of [`palette`].
pub fn svg_live(journey: &Journey, live: Option<&Live>) -> String {
    draw::svg(journey, live, &Marks::new())
}

/// [`svg_live`] with a badge in words on the cards `marks` names (by touchpoint id).
pub fn svg_marked(journey: &Journey, live: Option<&Live>, marks: &Marks) -> String {
    draw::svg(journey, live, marks)
}

/// Badges on cards, by touchpoint id.
pub type Marks = std::collections::HashMap<String, Mark>;

/// A badge on a card: a few words, and what they say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub text: String,
    pub tone: Tone,
}

/// What a badge says: added in this version, changed in it, or a note (open comments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Added,
    Changed,
    Note,
}

impl Tone {
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Added => "added",
            Tone::Changed => "changed",
            Tone::Note => "note",
        }
    }
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
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

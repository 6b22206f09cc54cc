//! The design system's components, written once: figures in tiles, empty states and banners.
//! Their look is the stylesheet's (`assets/waymark.css`: tokens, then components); no page
//! styles itself.

use maud::{Markup, html};

/// One figure in a row of tiles: the number, what it counts, where it leads, and whether it
/// needs attention (said in words too: the label names the problem).
pub(crate) struct Stat {
    pub(crate) figure: String,
    pub(crate) label: String,
    pub(crate) href: Option<String>,
    pub(crate) warn: bool,
}

/// A row of figures.
pub(crate) fn stats(label: &str, stats: &[Stat]) -> Markup {
    html! {
        ul.stats aria-label=(label) {
            @for s in stats {
                li.stat.warn[s.warn] {
                    @match &s.href {
                        Some(href) => a href=(href) { span.figure { (s.figure) } span.label { (s.label) } },
                        None => { span.figure { (s.figure) } span.label { (s.label) } },
                    }
                }
            }
        }
    }
}

/// What is not there yet, and what to do about it.
pub(crate) fn empty(sentence: &str, action: Option<(&str, &str)>) -> Markup {
    html! {
        p.empty {
            (sentence)
            @if let Some((href, label)) = action { " " a href=(href) { (label) } }
        }
    }
}

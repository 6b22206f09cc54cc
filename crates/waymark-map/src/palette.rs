//! The map's colours, in one place: light fills with dark text (7:1 and more), and each meaning
//! also said by a shape, a dash or a word, never by colour alone. A standalone map (the CLI's SVG
//! and HTML) carries them; a page around it may restyle the map's classes with its own tokens.

pub const PAPER: &str = "#ffffff";
pub const INK: &str = "#111827";
pub const MUTED: &str = "#374151";
pub const LINE: &str = "#d1d5db";
pub const COLUMN: &str = "#f8fafc";
pub const HEAD: &str = "#1f2937";
pub const HEAD_TEXT: &str = "#e5e7eb";
pub const AXIS: &str = "#9ca3af";
pub const ARROW: &str = "#5b6470";
pub const LINK: &str = "#8a3ffc";
pub const LINK_TEXT: &str = "#5b21b6";
pub const DESIGNED: &str = "#2563eb";
pub const MEASURED: &str = "#c2410c";
pub const MOMENT: &str = "#b45309";
pub const CARD_EDGE: &str = "#6b7280";
pub const GOOD: &str = "#15803d";
pub const GOOD_TEXT: &str = "#166534";
pub const NEUTRAL: &str = "#4b5563";
pub const WARN: &str = "#92400e";
pub const BAD: &str = "#b91c1c";

//! Reading a journey file: YAML → [`Journey`], with every problem found on the way.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::NaiveDate;
use marked_yaml::{LoaderOptions, Node, Span, Spanned};

use crate::diag::{Diagnostic, Location, did_you_mean, one_of};
use crate::file::{
    RawChange, RawEventRule, RawInstances, RawJourney, RawKpi, RawLink, RawPersona, RawStage,
    RawTouchpoint, RawValueMatch, Text,
};
use crate::kpi::Kpi;
use crate::model::{
    Actor, CHANGE_QUESTIONS, ChangeImpact, Channel, EMOTION_RANGE, EventRule, Experience,
    Instances, Journey, Kind, Link, Persona, Stage, Touchpoint, ValueMatch, Visibility,
    is_to_be_label,
};

/// The outcome of reading a journey file.
#[derive(Debug)]
pub struct Report {
    /// The journey, when the file has no errors (warnings allowed).
    pub journey: Option<Journey>,
    /// Every problem found, ordered by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == crate::Severity::Error)
    }
}

/// Reads and checks a journey file's text.
pub fn check(source: &str) -> Report {
    let fail = |diagnostic: Diagnostic| Report {
        journey: None,
        diagnostics: vec![diagnostic],
    };
    if source
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return fail(
            Diagnostic::error("not-a-journey", Location::START, "the journey file is empty")
                .with_hint("start with `id:`, `title:`, `owner:`, `version:` and `stages:`; `waymark journey new` writes a template"),
        );
    }
    let lines: Vec<&str> = source.lines().collect();
    let (raw, node) = match read_yaml::<RawJourney>(source, &JOURNEY) {
        Ok(read) => read,
        Err(diagnostic) => return fail(diagnostic),
    };
    let mut checker = Checker {
        lines: &lines,
        root: &node,
        diagnostics: Vec::new(),
        kpi_places: HashMap::new(),
    };
    let journey = checker.journey(raw);
    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by(|a, b| {
        a.location
            .cmp(&b.location)
            .then(a.severity.cmp(&b.severity))
    });
    let has_errors = diagnostics
        .iter()
        .any(|d| d.severity == crate::Severity::Error);
    Report {
        journey: if has_errors { None } else { journey },
        diagnostics,
    }
}

/// What kind of YAML file is read, for the messages about its shape.
#[derive(Debug, Clone, Copy)]
pub struct YamlKind {
    /// "journey file", "process file".
    pub name: &'static str,
    /// The diagnostic code of a file that is not a mapping at all.
    pub code: &'static str,
    /// How such a file starts, for a file that is not a mapping.
    pub start_hint: &'static str,
}

const JOURNEY: YamlKind = YamlKind {
    name: "journey file",
    code: "not-a-journey",
    start_hint: "start with `id:`, `title:`, `owner:`, `version:` and `stages:`; `waymark journey new` writes a template",
};

/// Parses YAML into `T` with the node tree kept for positions; a syntax or shape error (a field
/// of the wrong type, an unknown field) becomes one diagnostic at its place, worded for people.
pub fn read_yaml<T: serde::de::DeserializeOwned>(
    source: &str,
    kind: &YamlKind,
) -> Result<(T, Node), Diagnostic> {
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let lines: Vec<&str> = source.lines().collect();
    let node = marked_yaml::parse_yaml_with_options(0, source, options)
        .map_err(|error| load_error(&lines, error, kind))?;
    let raw =
        marked_yaml::from_node::<T>(&node).map_err(|error| shape_error(&lines, &node, error))?;
    Ok((raw, node))
}

/// The place a span starts. The YAML loader marks a block mapping at the colon of its first key;
/// people expect the key itself, so a place on a colon moves back to the start of that key.
fn place(lines: &[&str], line: usize, column: usize) -> Location {
    let at = Location { line, column };
    let Some(text) = lines.get(line.saturating_sub(1)) else {
        return at;
    };
    let chars: Vec<char> = text.chars().collect();
    if chars.get(column.saturating_sub(1)) != Some(&':') {
        return at;
    }
    let mut start = column - 1;
    while start > 0 && !matches!(chars[start - 1], ' ' | '-' | '{' | ',') {
        start -= 1;
    }
    Location {
        line,
        column: start + 1,
    }
}

/// Where a YAML value starts (a key, for a block of fields), given the file's lines.
pub fn span_place(lines: &[&str], span: &Span) -> Location {
    span.start()
        .map(|mark| place(lines, mark.line(), mark.column()))
        .unwrap_or(Location::START)
}

/// Where the tab a scanner error is about is: the loader reports the end of what it read
/// before it (the line above, for a tab indenting the next line), so the first tab in the
/// indentation from the reported line on is the place.
fn tab_place(lines: &[&str], mark: &marked_yaml::Marker) -> Location {
    for (offset, text) in lines
        .iter()
        .enumerate()
        .skip(mark.line().saturating_sub(1))
        .take(3)
    {
        let indent = text.len() - text.trim_start_matches([' ', '\t']).len();
        if let Some(at) = text[..indent].find('\t') {
            return Location {
                line: offset + 1,
                column: text[..at].chars().count() + 1,
            };
        }
        // A tab after a value on the reported line (`key: value<TAB>…`) is the place too.
        if offset + 1 == mark.line()
            && let Some(at) = text.find('\t')
        {
            return Location {
                line: offset + 1,
                column: text[..at].chars().count() + 1,
            };
        }
    }
    marker_location(mark)
}

fn marker_location(mark: &marked_yaml::Marker) -> Location {
    Location {
        line: mark.line(),
        column: mark.column(),
    }
}

/// The place of the key `path[last]` in the mapping found by following `path` from the root.
fn key_place(lines: &[&str], root: &Node, path: &[&str]) -> Option<Location> {
    let (last, parents) = path.split_last()?;
    let mut mapping = root.as_mapping()?;
    for key in parents {
        mapping = mapping.get_mapping(key)?;
    }
    let (key, _) = mapping.iter().find(|(key, _)| key.as_str() == *last)?;
    Some(span_place(lines, key.span()))
}

/// Turns a YAML syntax error into a diagnostic.
fn load_error(lines: &[&str], error: marked_yaml::LoadError, kind: &YamlKind) -> Diagnostic {
    use marked_yaml::LoadError;
    match error {
        LoadError::ScanError(mark, scan) => Diagnostic::error(
            "yaml-syntax",
            if scan.info().contains("tab") {
                tab_place(lines, &mark)
            } else {
                marker_location(&mark)
            },
            format!(
                "this is not valid YAML: {}",
                plain_scan_message(scan.info())
            ),
        )
        .with_hint("check the indentation and that every quote and bracket is closed"),
        LoadError::TopLevelMustBeMapping(mark) => Diagnostic::error(
            kind.code,
            marker_location(&mark),
            format!(
                "a {} must be a set of `key: value` fields at the top level",
                kind.name
            ),
        )
        .with_hint(kind.start_hint),
        LoadError::DuplicateKey(inner) => {
            let key = &inner.key;
            let first = inner.prev_key.span().start().map(|m| m.line()).unwrap_or(1);
            Diagnostic::error(
                "duplicate-field",
                span_place(lines, key.span()),
                format!(
                    "`{}` is given twice in the same block (first on line {first})",
                    key.as_str()
                ),
            )
            .with_hint("remove one of the two, or merge them")
        }
        LoadError::UnexpectedAnchor(mark) | LoadError::UnexpectedTag(mark) => Diagnostic::error(
            "yaml-feature",
            marker_location(&mark),
            format!(
                "YAML anchors, aliases and tags are not supported in {}s",
                kind.name
            ),
        )
        .with_hint("write the value out in full"),
        LoadError::MappingKeyMustBeScalar(mark) => Diagnostic::error(
            "yaml-feature",
            marker_location(&mark),
            "a field name must be plain text",
        )
        .with_hint("write `name: value`"),
        other => Diagnostic::error("yaml-syntax", Location::START, other.to_string()),
    }
}

/// Rewords the YAML scanner's terms for people who write journeys, not parsers.
fn plain_scan_message(info: &str) -> String {
    if info.contains("mapping values are not allowed") {
        return "a `:` followed by a space where a value was expected; put text that contains `: ` in quotes".to_string();
    }
    info.replace("quoted scalar", "quoted text (is a closing quote missing?)")
        .replace("block sequence", "list")
        .replace("block mapping", "block of fields")
        .replace("scalar", "value")
}

/// Turns a shape error (a field of the wrong type, an unknown field) into a diagnostic.
fn shape_error(lines: &[&str], root: &Node, error: marked_yaml::FromNodeError) -> Diagnostic {
    use marked_yaml::Error as ShapeError;
    let mut at = error
        .start_mark()
        .map(|m| place(lines, m.line(), m.column()))
        .unwrap_or(Location::START);
    let found = match &*error {
        // Point at the unknown key itself: follow the path to its mapping and find the key there.
        ShapeError::UnknownFieldError(field, _, _) => error
            .path()
            .and_then(|path| node_at(root, path, Some(field)))
            .and_then(|node| {
                node.as_mapping()?
                    .iter()
                    .find(|(key, _)| key.as_str() == field)
                    .map(|(key, _)| *key.span())
            }),
        // Point at the value of the wrong type.
        _ => error
            .path()
            .and_then(|path| node_at(root, path, None))
            .map(|node| *node.span()),
    };
    if let Some(span) = found.filter(|span| span.start().is_some()) {
        at = span_place(lines, &span);
    }
    match error.into_inner() {
        ShapeError::UnknownFieldError(field, expected, _) => {
            let mut hint = match did_you_mean(&field, expected.iter().copied()) {
                Some(close) => format!("did you mean `{close}`? "),
                None => String::new(),
            };
            hint.push_str(&format!("the fields allowed here are {}", one_of(expected)));
            Diagnostic::error(
                "unknown-field",
                at,
                format!("`{field}` is not a field Waymark knows here"),
            )
            .with_hint(hint)
        }
        ShapeError::Other(message, _) => shape_message(at, &message),
        other => shape_message(at, &other.to_string()),
    }
}

/// Follows a path such as `stages[0].touchpoints[1].chanel` from the root. A final segment naming
/// `unknown` (an unknown field) is skipped, so the result is the mapping that holds it.
fn node_at<'n>(root: &'n Node, path: &str, unknown: Option<&str>) -> Option<&'n Node> {
    let mut node = root;
    for segment in path.split('.') {
        let (name, indexes) = match segment.find('[') {
            Some(open) => (&segment[..open], &segment[open..]),
            None => (segment, ""),
        };
        if !name.is_empty() && Some(name) != unknown {
            node = node.as_mapping()?.get_node(name)?;
        }
        for index in indexes.split(['[', ']']).filter(|part| !part.is_empty()) {
            node = node.as_sequence()?.get_node(index.parse().ok()?)?;
        }
    }
    Some(node)
}

/// Rewords serde's shape errors ("invalid type: sequence, expected a string") for people.
fn shape_message(at: Location, message: &str) -> Diagnostic {
    if message.contains("RawValueMatch") {
        return Diagnostic::error(
            "wrong-type",
            at,
            "a property condition must be one value or a list of values",
        )
        .with_hint("write `plan: gold` or `plan: [gold, silver]`");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "something else"));
        let found = found
            .replace("sequence", "list")
            .replace("map", "block of fields")
            .replace("string", "text");
        let expected = expected
            .replace("a sequence", "a list")
            .replace("struct Raw", "")
            .replace("a string", "plain text");
        let expected = if expected.chars().next().is_some_and(char::is_uppercase) {
            format!("a block of {} fields", expected.to_lowercase())
        } else {
            expected
        };
        return Diagnostic::error("wrong-type", at, format!("found {} where {expected} belongs", if found.starts_with("text") { format!("the {found}") } else { format!("a {found}") }))
            .with_hint("check the indentation: a list item starts with `- `, a block of fields is indented under its name");
    }
    Diagnostic::error("wrong-type", at, message.to_string())
}

/// A touchpoint KPI's touchpoint: its id, and whether it has a target.
type KpiScope = (String, bool);

struct Checker<'a> {
    lines: &'a [&'a str],
    root: &'a Node,
    diagnostics: Vec<Diagnostic>,
    /// Where each touchpoint's KPIs are written, by touchpoint id, for the checks that need the
    /// whole journey.
    kpi_places: HashMap<String, Vec<Span>>,
}

impl Checker<'_> {
    fn location(&self, span: &Span) -> Location {
        span_place(self.lines, span)
    }

    fn warning_at(
        &mut self,
        code: &'static str,
        at: Location,
        message: String,
        hint: impl Into<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::warning(code, at, message).with_hint(hint));
    }

    fn error(&mut self, code: &'static str, span: &Span, message: String, hint: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::error(code, self.location(span), message).with_hint(hint));
    }

    fn warning(
        &mut self,
        code: &'static str,
        span: &Span,
        message: String,
        hint: impl Into<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::warning(code, self.location(span), message).with_hint(hint));
    }

    /// A field that must be present and not blank.
    fn required(
        &mut self,
        value: Option<Text>,
        parent: &Span,
        what: &str,
        field: &str,
        hint: &str,
    ) -> Option<String> {
        match value {
            Some(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
            Some(text) => {
                self.error(
                    "missing-field",
                    text.span(),
                    format!("the {what}'s `{field}` is empty"),
                    hint,
                );
                None
            }
            None => {
                self.error(
                    "missing-field",
                    parent,
                    format!("this {what} has no `{field}`"),
                    hint,
                );
                None
            }
        }
    }

    fn optional_text(&mut self, value: Option<Text>) -> Option<String> {
        value
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty())
    }

    fn id(&mut self, value: Option<Text>, parent: &Span, what: &str) -> Option<(String, Span)> {
        let span = value.as_ref().map(|v| *v.span()).unwrap_or(*parent);
        let example = match what {
            "persona" => "jennifer",
            "stage" => "decide",
            "touchpoint" => "manager-approval",
            _ => "training-request",
        };
        let id = self.required(
            value,
            parent,
            what,
            "id",
            &format!("give it a short id such as `{example}`"),
        )?;
        let valid = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            self.error(
                "invalid-id",
                &span,
                format!("`{id}` cannot be used as an id"),
                format!("an id is made of letters, digits, `-`, `_` and `.`, and starts with a letter or digit, e.g. `{example}`"),
            );
            return None;
        }
        Some((id, span))
    }

    fn vocabulary<T: Copy>(
        &mut self,
        value: Option<Text>,
        parent: &Span,
        what: &str,
        field: &str,
        parse: fn(&str) -> Option<T>,
        names: &[&str],
    ) -> Option<T> {
        let known = one_of(names);
        let text = value.clone();
        let given = self.required(
            value,
            parent,
            what,
            field,
            &format!("`{field}` is one of {known}"),
        )?;
        if let Some(parsed) = parse(&given) {
            return Some(parsed);
        }
        let span = text.map(|t| *t.span()).unwrap_or(*parent);
        let hint = match did_you_mean(&given, names.iter().copied()) {
            Some(close) => format!("did you mean `{close}`? the known {field}s are {known}"),
            None => format!("the known {field}s are {known}"),
        };
        let article = if field.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        self.error(
            unknown_code(field),
            &span,
            format!("`{given}` is not {article} {field} Waymark knows"),
            hint,
        );
        None
    }

    fn boolean(&mut self, value: Option<Text>, field: &str) -> bool {
        let Some(text) = value else { return false };
        match text.trim() {
            "true" => true,
            "false" => false,
            other => {
                self.error(
                    "invalid-boolean",
                    text.span(),
                    format!("`{field}` must be `true` or `false`, not `{other}`"),
                    format!("write `{field}: true` or leave it out"),
                );
                false
            }
        }
    }

    fn journey(&mut self, raw: RawJourney) -> Option<Journey> {
        let top = Span::new_start(marked_yaml::Marker::new(0, 0, 1, 1));
        let id = self.id(raw.id, &top, "journey").map(|(id, _)| id);
        let title = self.required(
            raw.title,
            &top,
            "journey",
            "title",
            "add `title: ...`, the name people know the journey by",
        );
        let owner = self.required(
            raw.owner,
            &top,
            "journey",
            "owner",
            "add `owner: ...`, the person or department accountable for the journey as a whole",
        );
        let version_text = raw.version.clone();
        let version = self.required(
            raw.version,
            &top,
            "journey",
            "version",
            "add `version: as-is` or `version: to-be`",
        );
        let description = self.optional_text(raw.description);

        let personas = self.personas(raw.personas);
        let persona_ids: Vec<&str> = personas.iter().map(|p| p.id.as_str()).collect();
        let mut serves = Vec::new();
        for reference in &raw.serves {
            let name = reference.trim();
            if persona_ids.contains(&name) {
                serves.push(name.to_string());
            } else {
                self.dangling(
                    reference.span(),
                    "persona",
                    name,
                    &persona_ids,
                    "define it under `personas:`",
                );
            }
        }
        if raw.serves.is_empty() {
            self.warning(
                "no-persona",
                &top,
                "the journey does not say which persona it serves".to_string(),
                "add `serves: [persona-id]` and describe the persona under `personas:`",
            );
        }

        let stages = match raw.stages {
            None => {
                self.error("missing-field", &top, "this journey has no `stages`".to_string(), "list the stages in order under `stages:`; `waymark journey new` writes the universal ones");
                Vec::new()
            }
            Some(stages) if stages.is_empty() => {
                self.error(
                    "no-stages",
                    stages.span(),
                    "the journey has no stages".to_string(),
                    "list at least one stage with its touchpoints",
                );
                Vec::new()
            }
            Some(stages) => {
                let stages: Vec<Spanned<RawStage>> = (*stages).clone();
                self.stages(stages)
            }
        };

        let touchpoint_ids: Vec<&str> = stages
            .iter()
            .flat_map(|s| s.touchpoints.iter().map(|t| t.id.as_str()))
            .collect();
        let links = self.links(raw.links, &touchpoint_ids);
        let instances = raw
            .instances
            .map(|block| self.instances(block, &touchpoint_ids))
            .unwrap_or_default();

        let to_be = version.as_deref().is_some_and(is_to_be_label);
        let change = match raw.change {
            Some(change) => {
                if version.is_some() && !to_be {
                    let span = version_text.as_ref().map(|v| *v.span()).unwrap_or(top);
                    self.warning(
                        "change-on-as-is",
                        &span,
                        format!("a change-impact section belongs to a to-be version, but this version is `{}`", version.as_deref().unwrap_or_default()),
                        "set `version: to-be`, or move the change section to the to-be file",
                    );
                }
                Some(self.change(change))
            }
            None => {
                if to_be {
                    let span = version_text.as_ref().map(|v| *v.span()).unwrap_or(top);
                    self.warning(
                        "change-impact-missing",
                        &span,
                        "this to-be version has no change-impact assessment".to_string(),
                        "add a `change:` section answering impact, standpoint, response, find_out and feedback, with its owner and date",
                    );
                }
                None
            }
        };

        let mut kpis = Vec::new();
        let mut kpi_spans = Vec::new();
        for raw_kpi in &raw.kpis {
            if let Some(kpi) = self.kpi(raw_kpi) {
                kpis.push(kpi);
                kpi_spans.push(*raw_kpi.span());
            }
        }
        let mut stages = stages;
        self.check_kpis(&mut stages, &mut kpis, &kpi_spans);

        Some(Journey {
            id: id?,
            title: title?,
            owner: owner?,
            version: version?,
            description,
            personas,
            serves,
            stages,
            links,
            change,
            instances,
            kpis,
        })
    }

    /// One KPI as written, or its problem at its place.
    fn kpi(&mut self, item: &Spanned<RawKpi>) -> Option<Kpi> {
        let (line, named) = match &**item {
            RawKpi::Line(line) => (line.trim().to_string(), false),
            RawKpi::Named(entry) => {
                let mut entries = entry.iter();
                match (entries.next(), entries.next()) {
                    (Some((name, spec)), None) => {
                        (format!("{}: {}", name.trim(), spec.trim()), true)
                    }
                    _ => {
                        self.error(
                            "kpi-syntax",
                            item.span(),
                            "a KPI is one line, not several fields".to_string(),
                            "write `- NAME: MEASURE [FROM -> TO] [>= or <= TARGET] [owner OWNER]`, e.g. `- Approval lead time: median-time <= 2d`",
                        );
                        return None;
                    }
                }
            }
        };
        if line.is_empty() {
            return None;
        }
        match crate::kpi::parse(&line) {
            Ok(kpi) if named && kpi.measure.is_none() => {
                let spec = line.split_once(':').map_or("", |(_, spec)| spec).trim();
                self.error(
                    "unknown-measure",
                    item.span(),
                    format!("`{spec}` does not start with a measure Waymark knows"),
                    format!(
                        "start it with one of {}; to keep the line as a note, put it in quotes",
                        one_of(&crate::kpi::MEASURES)
                    ),
                );
                None
            }
            Ok(kpi) => Some(kpi),
            Err(problem) => {
                let at = self.item_place(item.span());
                self.diagnostics.push(
                    Diagnostic::error(
                        problem.code,
                        at,
                        format!("in the KPI `{line}`: {}", problem.message),
                    )
                    .with_hint(problem.hint),
                );
                None
            }
        }
    }

    /// Where a list item starts: the loader marks a one-entry mapping inside its key, so an item
    /// written `- NAME: …` is placed at its name.
    fn item_place(&self, span: &Span) -> Location {
        let at = self.location(span);
        let Some(line) = self.lines.get(at.line.saturating_sub(1)) else {
            return at;
        };
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with("- ") {
            Location {
                line: at.line,
                column: line[..indent].chars().count() + 3,
            }
        } else {
            at
        }
    }

    /// What a KPI needs of the whole journey: ids unique across it, touchpoints that exist, a
    /// target for `over-target` at a touchpoint, two touchpoints for a journey's conversion.
    fn check_kpis(&mut self, stages: &mut [Stage], journey_kpis: &mut [Kpi], spans: &[Span]) {
        let ids: Vec<String> = stages
            .iter()
            .flat_map(|s| s.touchpoints.iter().map(|t| t.id.clone()))
            .collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut named: HashMap<String, usize> = HashMap::new();
        let mut places = std::mem::take(&mut self.kpi_places);
        let mut all: Vec<(&mut Kpi, Span, Option<KpiScope>)> = Vec::new();
        for (kpi, span) in journey_kpis.iter_mut().zip(spans) {
            all.push((kpi, *span, None));
        }
        for stage in stages.iter_mut() {
            for touchpoint in stage.touchpoints.iter_mut() {
                let spans = places.remove(&touchpoint.id).unwrap_or_default();
                let scope = (touchpoint.id.clone(), touchpoint.target.is_some());
                for (kpi, span) in touchpoint.kpis.iter_mut().zip(spans) {
                    all.push((kpi, span, Some(scope.clone())));
                }
            }
        }
        for (kpi, span, scope) in all {
            let first = self.diagnostics.len();
            self.check_kpi(kpi, &span, scope, &ids, &mut named);
            let place = self.item_place(&span);
            for diagnostic in &mut self.diagnostics[first..] {
                diagnostic.location = place;
            }
        }
    }

    /// One KPI against the journey: its id (from its name, unique), the touchpoints it names,
    /// and what its measure needs.
    fn check_kpi(
        &mut self,
        kpi: &mut Kpi,
        span: &Span,
        scope: Option<KpiScope>,
        ids: &[&str],
        named: &mut HashMap<String, usize>,
    ) {
        let span = *span;
        let line = self.item_place(&span).line;
        let id = crate::model::id_from_name(&kpi.name, |_| false);
        // Notes are never referred to, so several touchpoints may name the same one.
        if kpi.measure.is_none() {
        } else if let Some(first) = named.get(&id) {
            self.error(
                "duplicate-kpi",
                &span,
                format!(
                    "two KPIs of this journey are called `{}` (the first is on line {first})",
                    kpi.name
                ),
                "every KPI needs a name of its own: alerts and initiatives refer to it by name",
            );
        } else {
            named.insert(id.clone(), line);
        }
        kpi.id = id;
        let Some(measure) = &kpi.measure else {
            self.warning(
                "kpi-note",
                &span,
                format!("the KPI `{}` says nothing Waymark can measure", kpi.name),
                format!(
                    "write it as `NAME: MEASURE [>= or <= TARGET]`, the measure one of {}",
                    one_of(&crate::kpi::MEASURES)
                ),
            );
            return;
        };
        let mut touchpoints: Vec<&str> = Vec::new();
        match measure {
            crate::kpi::Measure::Conversion { from, to } => {
                touchpoints.extend(from.as_deref());
                touchpoints.push(to);
                if from.is_none() && scope.is_none() {
                    self.error(
                        "kpi-conversion",
                        &span,
                        format!(
                            "the journey's KPI `{}` does not say where the conversion starts",
                            kpi.name
                        ),
                        "write `conversion FROM -> TO` with two touchpoint ids",
                    );
                }
            }
            crate::kpi::Measure::MedianTime {
                between: Some((from, to)),
            } => touchpoints.extend([from.as_str(), to.as_str()]),
            crate::kpi::Measure::OverTarget => {
                if let Some((touchpoint, false)) = &scope {
                    self.error(
                        "kpi-no-target",
                        &span,
                        format!(
                            "`{}` measures the share over target, but `{touchpoint}` has no target",
                            kpi.name
                        ),
                        "give the touchpoint a `target:` time, e.g. `target: 2d`",
                    );
                }
            }
            _ => {}
        }
        for name in touchpoints {
            if !ids.contains(&name) {
                self.dangling(
                    &span,
                    "touchpoint",
                    name,
                    ids,
                    "a KPI names touchpoints by their ids",
                );
            }
        }
    }

    /// The `instances:` block: start and end touchpoints must exist, the timeout must read.
    fn instances(&mut self, item: Spanned<RawInstances>, touchpoints: &[&str]) -> Instances {
        let raw = inner(&item);
        let ids = |checker: &mut Checker<'_>, list: Vec<Text>, field: &str| -> Vec<String> {
            let mut found = Vec::new();
            for text in list {
                let name = text.trim().to_string();
                if touchpoints.contains(&name.as_str()) {
                    if !found.contains(&name) {
                        found.push(name);
                    }
                } else {
                    checker.dangling(
                        text.span(),
                        "touchpoint",
                        &name,
                        touchpoints,
                        &format!("`instances.{field}` lists touchpoint ids from the stages"),
                    );
                }
            }
            found
        };
        let start = ids(self, raw.start, "start");
        let end = ids(self, raw.end, "end");
        let timeout = raw.timeout.and_then(|text| self.duration(&text));
        Instances {
            start,
            end,
            timeout,
        }
    }

    /// A duration such as `30m` or `1d 12h`, or an error at its place.
    fn duration(&mut self, text: &Text) -> Option<Duration> {
        match crate::duration::parse(text.trim()) {
            Ok(duration) => Some(duration),
            Err(problem) => {
                self.error(
                    "invalid-duration",
                    text.span(),
                    format!("`{}` is not a duration Waymark understands ({problem})", text.trim()),
                    "write a number and a unit, e.g. `30s`, `15m`, `2h`, `3d`, `1w`, or combine them: `1h 30m`",
                );
                None
            }
        }
    }

    fn dangling(&mut self, span: &Span, what: &str, name: &str, known: &[&str], fix: &str) {
        let hint = match did_you_mean(name, known.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None if known.is_empty() => fix.to_string(),
            None if known.len() <= 12 => format!("the {what}s defined are {}", one_of(known)),
            None => fix.to_string(),
        };
        self.error(
            "unknown-reference",
            span,
            format!("there is no {what} with the id `{name}`"),
            hint,
        );
    }

    fn duplicate(&mut self, seen: &mut HashMap<String, usize>, id: &str, span: &Span, what: &str) {
        let line = self.location(span).line;
        if let Some(first) = seen.get(id) {
            self.error(
                "duplicate-id",
                span,
                format!("two {what}s have the id `{id}` (the first is on line {first})"),
                format!("every {what} needs its own id; rename one of them"),
            );
        } else {
            seen.insert(id.to_string(), line);
        }
    }

    fn personas(&mut self, raw: Vec<Spanned<RawPersona>>) -> Vec<Persona> {
        let mut seen = HashMap::new();
        let mut personas = Vec::new();
        for item in raw {
            let span = *item.span();
            let persona = inner(&item);
            let id = self.id(persona.id, &span, "persona");
            let name = self.required(
                persona.name,
                &span,
                "persona",
                "name",
                "add `name: ...`, e.g. the persona's first name and role",
            );
            if let Some((id, id_span)) = &id {
                self.duplicate(&mut seen, id, id_span, "persona");
            }
            let description = self.optional_text(persona.description);
            let goals = persona
                .goals
                .into_iter()
                .filter_map(|g| self.optional_text(Some(g)))
                .collect();
            let pains = persona
                .pains
                .into_iter()
                .filter_map(|p| self.optional_text(Some(p)))
                .collect();
            if let (Some((id, _)), Some(name)) = (id, name) {
                personas.push(Persona {
                    id,
                    name,
                    description,
                    goals,
                    pains,
                });
            }
        }
        personas
    }

    fn stages(&mut self, raw: Vec<Spanned<RawStage>>) -> Vec<Stage> {
        let mut stage_ids = HashMap::new();
        let mut touchpoint_ids = HashMap::new();
        let mut rules: Vec<(EventRule, String)> = Vec::new();
        let mut stages = Vec::new();
        for item in raw {
            let span = *item.span();
            let stage = inner(&item);
            let id = self.id(stage.id, &span, "stage");
            if let Some((id, id_span)) = &id {
                self.duplicate(&mut stage_ids, id, id_span, "stage");
            }
            let name = self.required(
                stage.name,
                &span,
                "stage",
                "name",
                "add `name: ...`, e.g. `Decide`",
            );
            let goal = self.optional_text(stage.goal);
            if stage.touchpoints.is_empty() {
                self.error(
                    "empty-stage",
                    &span,
                    format!("the stage `{}` has no touchpoints", id.as_ref().map(|(id, _)| id.as_str()).unwrap_or("?")),
                    "add the touchpoints where the customer meets you in this stage, or remove the stage",
                );
            }
            let mut touchpoints = Vec::new();
            for touchpoint in stage.touchpoints {
                if let Some(tp) = self.touchpoint(touchpoint, &mut touchpoint_ids, &mut rules) {
                    touchpoints.push(tp);
                }
            }
            if let (Some((id, _)), Some(name)) = (id, name) {
                stages.push(Stage {
                    id,
                    name,
                    goal,
                    touchpoints,
                });
            }
        }
        stages
    }

    fn touchpoint(
        &mut self,
        item: Spanned<RawTouchpoint>,
        seen: &mut HashMap<String, usize>,
        rules: &mut Vec<(EventRule, String)>,
    ) -> Option<Touchpoint> {
        let span = *item.span();
        let raw = inner(&item);
        let id = self.id(raw.id, &span, "touchpoint");
        if let Some((id, id_span)) = &id {
            self.duplicate(seen, id, id_span, "touchpoint");
        }
        let name = self.required(
            raw.name,
            &span,
            "touchpoint",
            "name",
            "add `name: ...`, what people call this step",
        );
        let channel = self.vocabulary(
            raw.channel,
            &span,
            "touchpoint",
            "channel",
            Channel::parse,
            &Channel::names(),
        );
        let department = self.required(
            raw.department,
            &span,
            "touchpoint",
            "department",
            "add `department: ...`, the department that owns this touchpoint",
        );
        let actor = self.vocabulary(
            raw.actor,
            &span,
            "touchpoint",
            "actor",
            Actor::parse,
            &Actor::names(),
        );
        let kind = self.vocabulary(
            raw.kind,
            &span,
            "touchpoint",
            "kind",
            Kind::parse,
            &Kind::names(),
        );
        let visibility_text = raw.visibility.clone();
        let visibility = match raw.visibility {
            None => actor.map(Visibility::default_for),
            some => self.vocabulary(
                some,
                &span,
                "touchpoint",
                "visibility",
                Visibility::parse,
                &Visibility::names(),
            ),
        };
        if let (Some(Actor::Customer), Some(Visibility::Back), Some(text)) =
            (actor, visibility, &visibility_text)
        {
            self.error(
                "customer-backstage",
                text.span(),
                "the customer acts at this touchpoint, so it cannot be back-stage".to_string(),
                "use `visibility: front`, or set `actor: staff` or `actor: system` if the customer does not take part",
            );
        }

        let emotion = raw.emotion.and_then(|text| {
            let parsed = text
                .trim()
                .trim_start_matches('+')
                .parse::<i8>()
                .ok()
                .filter(|v| EMOTION_RANGE.contains(v));
            if parsed.is_none() {
                self.error(
                    "invalid-emotion",
                    text.span(),
                    format!(
                        "`emotion` must be a whole number from -2 to +2, not `{}`",
                        text.trim()
                    ),
                    "-2 very negative, -1 negative, 0 neutral, +1 positive, +2 very positive",
                );
            }
            parsed
        });
        let experience = Experience {
            thinks: self.optional_text(raw.thinks),
            does: self.optional_text(raw.does),
            feels: self.optional_text(raw.feels),
            emotion,
        };

        let target = raw.target.and_then(|text| self.duration(&text));
        let moment_of_truth = self.boolean(raw.moment_of_truth, "moment_of_truth");
        let optional = self.boolean(raw.optional, "optional");
        let costly = self.boolean(raw.costly, "costly");
        let (kpis, places): (Vec<Kpi>, Vec<Span>) = raw
            .kpis
            .iter()
            .filter_map(|k| self.kpi(k).map(|kpi| (kpi, *k.span())))
            .unzip();
        if let Some((id, _)) = &id {
            self.kpi_places.insert(id.clone(), places);
        }

        let owner_id = id.as_ref().map(|(id, _)| id.clone()).unwrap_or_default();
        let mut events = Vec::new();
        for rule in raw.events {
            if let Some(rule) = self.event_rule(rule, &owner_id, rules) {
                events.push(rule);
            }
        }

        Some(Touchpoint {
            id: id?.0,
            name: name?,
            channel: channel?,
            department: department?,
            actor: actor?,
            kind: kind?,
            visibility: visibility?,
            experience,
            target,
            moment_of_truth,
            optional,
            costly,
            kpis,
            events,
        })
    }

    fn event_rule(
        &mut self,
        item: Spanned<RawEventRule>,
        owner: &str,
        seen: &mut Vec<(EventRule, String)>,
    ) -> Option<EventRule> {
        let span = *item.span();
        let raw = inner(&item);
        let event = self.required(
            raw.event,
            &span,
            "event rule",
            "event",
            "add `event: ...`, the name of the raw event, e.g. `Order Completed`",
        )?;
        let mut entries: Vec<_> = raw.properties.into_iter().collect();
        entries.sort_by_key(|(key, _)| span_place(self.lines, key.span()));
        let mut properties = BTreeMap::new();
        for (key, value) in entries {
            let condition = match inner(&value) {
                RawValueMatch::One(one) => ValueMatch::Equals(one),
                RawValueMatch::Many(many) if many.is_empty() => {
                    self.error(
                        "empty-condition",
                        value.span(),
                        format!(
                            "the condition on `{}` lists no values, so no event could match",
                            key.as_str()
                        ),
                        "list at least one value, or remove the condition",
                    );
                    continue;
                }
                RawValueMatch::Many(many) => ValueMatch::OneOf(many),
            };
            properties.insert(key.trim().to_string(), condition);
        }
        let rule = EventRule { event, properties };
        if let Some((_, other)) = seen.iter().find(|(known, _)| *known == rule) {
            self.warning(
                "ambiguous-event-rule",
                &span,
                format!("touchpoint `{other}` already claims exactly these events, so each will count on both"),
                "add a property condition that tells the two touchpoints apart",
            );
        } else {
            seen.push((rule.clone(), owner.to_string()));
        }
        Some(rule)
    }

    fn links(&mut self, raw: Vec<Spanned<RawLink>>, touchpoints: &[&str]) -> Vec<Link> {
        let mut links: Vec<Link> = Vec::new();
        for item in raw {
            let span = *item.span();
            let link = inner(&item);
            let end =
                |checker: &mut Checker<'_>, value: Option<Text>, field: &str| -> Option<String> {
                    let text = value.clone();
                    let name = checker.required(
                        value,
                        &span,
                        "link",
                        field,
                        &format!("add `{field}: touchpoint-id`"),
                    )?;
                    if touchpoints.contains(&name.as_str()) {
                        Some(name)
                    } else {
                        let at = text.map(|t| *t.span()).unwrap_or(span);
                        checker.dangling(
                            &at,
                            "touchpoint",
                            &name,
                            touchpoints,
                            "use the id of a touchpoint listed under a stage",
                        );
                        None
                    }
                };
            let from = end(self, link.from, "from");
            let to = end(self, link.to, "to");
            let label = self.optional_text(link.label);
            if let (Some(from), Some(to)) = (from, to) {
                if links.iter().any(|l| l.from == from && l.to == to) {
                    self.warning(
                        "duplicate-link",
                        &span,
                        format!("the link from `{from}` to `{to}` is given twice"),
                        "remove one of them",
                    );
                    continue;
                }
                links.push(Link { from, to, label });
            }
        }
        links
    }

    fn change(&mut self, item: Spanned<RawChange>) -> ChangeImpact {
        let at = key_place(self.lines, self.root, &["change"])
            .unwrap_or_else(|| self.location(item.span()));
        let raw = inner(&item);
        let date_given = raw.date.is_some();
        let date =
            raw.date.and_then(
                |text| match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                    Ok(date) => Some(date),
                    Err(_) => {
                        self.error(
                            "invalid-date",
                            text.span(),
                            format!("`{}` is not a date Waymark understands", text.trim()),
                            "write the date as YYYY-MM-DD, e.g. `2026-11-22`",
                        );
                        None
                    }
                },
            );
        let change = ChangeImpact {
            owner: self.optional_text(raw.owner),
            date,
            impact: self.optional_text(raw.impact),
            standpoint: self.optional_text(raw.standpoint),
            response: self.optional_text(raw.response),
            find_out: self.optional_text(raw.find_out),
            feedback: self.optional_text(raw.feedback),
        };
        let missing: Vec<&str> = CHANGE_QUESTIONS
            .iter()
            .zip(change.answers())
            .filter(|(_, answer)| answer.is_none())
            .map(|(question, _)| question.key)
            .collect();
        if !missing.is_empty() {
            let questions: Vec<&str> = CHANGE_QUESTIONS
                .iter()
                .filter(|q| missing.contains(&q.key))
                .map(|q| q.question)
                .collect();
            self.warning_at(
                "change-impact-incomplete",
                at,
                format!(
                    "the change-impact assessment does not answer: {}",
                    questions.join(" ")
                ),
                format!(
                    "answer them under `change:` with the keys {}",
                    one_of(&missing)
                ),
            );
        }
        if change.owner.is_none() || !date_given {
            self.warning_at(
                "change-impact-unsigned",
                at,
                "the change-impact assessment has no owner or no date".to_string(),
                "add `owner:` (who answered the questions) and `date:` (YYYY-MM-DD)",
            );
        }
        change
    }
}

/// The diagnostic code for an unknown value of a closed vocabulary.
fn unknown_code(field: &str) -> &'static str {
    match field {
        "channel" => "unknown-channel",
        "actor" => "unknown-actor",
        "kind" => "unknown-kind",
        "visibility" => "unknown-visibility",
        _ => "unknown-value",
    }
}

/// `Spanned<T>` only derefs to its value; this takes a copy of it.
fn inner<T: Clone>(spanned: &Spanned<T>) -> T {
    (**spanned).clone()
}

//! A journey being edited: every value as the text a person typed, in the shape of the file.
//!
//! The browser's editor keeps its work in a [`Draft`]. [`Draft::file`] writes it as a journey
//! file with every value on a line of its own and says which field each line holds, so the
//! problems [`crate::check`] finds land on the field they concern, in the words the CLI uses.
//! [`merge`] brings two people's edits of one version together, or names what clashes.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{CHANGE_QUESTIONS, Journey, ValueMatch};

/// The journey's own fields, in file order (`serves` is comma-separated ids; `kpis` one per line).
pub const JOURNEY_KEYS: [&str; 7] = [
    "id",
    "title",
    "owner",
    "version",
    "description",
    "serves",
    "kpis",
];
/// The change-impact block's fields, in file order.
pub const CHANGE_KEYS: [&str; 7] = [
    "owner",
    "date",
    "impact",
    "standpoint",
    "response",
    "find_out",
    "feedback",
];
/// The `instances` block's fields (lists are comma-separated touchpoint ids).
pub const INSTANCE_KEYS: [&str; 3] = ["start", "end", "timeout"];
/// A persona's fields (goals and pains one per line).
pub const PERSONA_KEYS: [&str; 5] = ["id", "name", "description", "goals", "pains"];
pub const STAGE_KEYS: [&str; 3] = ["id", "name", "goal"];
/// A touchpoint's fields, in file order (KPIs one per line; flags `true` or empty).
pub const TOUCHPOINT_KEYS: [&str; 16] = [
    "id",
    "name",
    "channel",
    "department",
    "actor",
    "kind",
    "visibility",
    "thinks",
    "does",
    "feels",
    "emotion",
    "target",
    "moment_of_truth",
    "optional",
    "costly",
    "kpis",
];
pub const LINK_KEYS: [&str; 3] = ["from", "to", "label"];

/// The most items a draft read from a form holds; what is past them is not read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub personas: usize,
    pub stages: usize,
    /// Per stage.
    pub touchpoints: usize,
    /// Per touchpoint.
    pub rules: usize,
    pub links: usize,
}

/// The limits of [`Draft::from_fields`]: far above any journey people draw, far below what
/// would let one form post exhaust the server.
pub const LIMITS: Limits = Limits {
    personas: 20,
    stages: 30,
    touchpoints: 60,
    rules: 20,
    links: 300,
};

/// Field values by key; a missing key is an empty value.
pub type Fields = BTreeMap<String, String>;

/// A journey being edited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Draft {
    /// [`JOURNEY_KEYS`], `change.*` ([`CHANGE_KEYS`]) and `instances.*` ([`INSTANCE_KEYS`]);
    /// `change` is set when the file has a change block, even an empty one.
    pub journey: Fields,
    pub personas: Vec<Fields>,
    pub stages: Vec<StageDraft>,
    pub links: Vec<Fields>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageDraft {
    pub fields: Fields,
    pub touchpoints: Vec<TouchpointDraft>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TouchpointDraft {
    pub fields: Fields,
    pub rules: Vec<RuleDraft>,
}

/// An event rule: the event's name, and its property conditions as a JSON object (`{"task":
/// "pay"}`, a list for one of several values), empty for none.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleDraft {
    pub event: String,
    pub conditions: String,
}

impl RuleDraft {
    /// The conditions written as JSON, the way a draft keeps them.
    pub fn conditions_of(properties: &BTreeMap<String, ValueMatch>) -> String {
        if properties.is_empty() {
            return String::new();
        }
        let object: serde_json::Map<String, serde_json::Value> = properties
            .iter()
            .map(|(key, condition)| {
                let value = match condition {
                    ValueMatch::Equals(value) => serde_json::Value::from(value.as_str()),
                    ValueMatch::OneOf(values) => serde_json::Value::from(values.clone()),
                };
                (key.clone(), value)
            })
            .collect();
        serde_json::Value::Object(object).to_string()
    }

    /// The conditions in words: `task = pay, channel in web | app`.
    pub fn describe(&self) -> String {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&self.conditions) else {
            return self.conditions.clone();
        };
        map.iter()
            .map(|(key, value)| match value {
                serde_json::Value::Array(values) => format!(
                    "{key} in {}",
                    values.iter().map(plain).collect::<Vec<_>>().join(" | ")
                ),
                other => format!("{key} = {}", plain(other)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Fields {
    pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (key.to_string(), value))
        .collect()
}

fn flag(value: bool) -> String {
    if value { "true".into() } else { String::new() }
}

impl Draft {
    /// Reads a form's fields back into a draft: `j.KEY`, `pN.KEY`, `sN.KEY`, `sN.tM.KEY`,
    /// `sN.tM.rK.event|conditions`, `lN.KEY`.
    pub fn from_fields(pairs: &[(String, String)]) -> Draft {
        /// Item `index` of a list, added when it is the next one; `None` past the end (a form
        /// lists its items in order, so a gap is not one) or past the list's limit.
        fn at<T: Default>(list: &mut Vec<T>, index: usize, limit: usize) -> Option<&mut T> {
            if index == list.len() && index < limit {
                list.push(T::default());
            }
            list.get_mut(index)
        }
        fn number(part: &str, prefix: char) -> Option<usize> {
            part.strip_prefix(prefix)?.parse().ok()
        }
        let mut draft = Draft::default();
        for (name, value) in pairs {
            let value = value.replace("\r\n", "\n");
            let parts: Vec<&str> = name.splitn(4, '.').collect();
            let (key, index) = (parts.last().copied().unwrap_or(""), |i: usize, c| {
                parts.get(i).and_then(|p| number(p, c))
            });
            match parts.len() {
                n if parts[0] == "j" && n > 1 && !value.is_empty() => {
                    draft.journey.insert(parts[1..].join("."), value);
                }
                _ if parts[0] == "j" => {}
                2 => {
                    let item = if let Some(p) = index(0, 'p') {
                        at(&mut draft.personas, p, LIMITS.personas)
                    } else if let Some(l) = index(0, 'l') {
                        at(&mut draft.links, l, LIMITS.links)
                    } else if let Some(s) = index(0, 's') {
                        at(&mut draft.stages, s, LIMITS.stages).map(|stage| &mut stage.fields)
                    } else {
                        None
                    };
                    if let Some(item) = item {
                        item.insert(key.into(), value);
                    }
                }
                3 | 4 => {
                    let (Some(s), Some(t)) = (index(0, 's'), index(1, 't')) else {
                        continue;
                    };
                    let Some(stage) = at(&mut draft.stages, s, LIMITS.stages) else {
                        continue;
                    };
                    let Some(touchpoint) = at(&mut stage.touchpoints, t, LIMITS.touchpoints) else {
                        continue;
                    };
                    if parts.len() == 3 {
                        touchpoint.fields.insert(key.into(), value);
                    } else if let Some(r) = index(2, 'r')
                        && let Some(rule) = at(&mut touchpoint.rules, r, LIMITS.rules)
                    {
                        match key {
                            "event" => rule.event = value,
                            "conditions" => rule.conditions = value,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        for stage in &mut draft.stages {
            for touchpoint in &mut stage.touchpoints {
                touchpoint.fields.retain(|_, v| !v.is_empty());
            }
            stage.fields.retain(|_, v| !v.is_empty());
        }
        for fields in draft.personas.iter_mut().chain(draft.links.iter_mut()) {
            fields.retain(|_, v| !v.is_empty());
        }
        draft
    }

    /// The fields of a journey, as the editor shows them.
    pub fn of(journey: &Journey) -> Draft {
        let mut top = fields([
            ("id", journey.id.clone()),
            ("title", journey.title.clone()),
            ("owner", journey.owner.clone()),
            ("version", journey.version.clone()),
            (
                "description",
                journey.description.clone().unwrap_or_default(),
            ),
            ("serves", journey.serves.join(", ")),
            ("kpis", kpi_lines(&journey.kpis)),
            ("instances.start", journey.instances.start.join(", ")),
            ("instances.end", journey.instances.end.join(", ")),
            (
                "instances.timeout",
                journey
                    .instances
                    .timeout
                    .map(crate::duration::format)
                    .unwrap_or_default(),
            ),
        ]);
        if let Some(change) = &journey.change {
            // The block is kept even with nothing in it.
            top.insert("change".into(), "true".into());
            let answers = change.answers();
            top.extend(fields([
                ("change.owner", change.owner.clone().unwrap_or_default()),
                (
                    "change.date",
                    change.date.map(|d| d.to_string()).unwrap_or_default(),
                ),
            ]));
            for (question, answer) in CHANGE_QUESTIONS.iter().zip(answers) {
                if let Some(answer) = answer {
                    top.insert(format!("change.{}", question.key), answer.to_string());
                }
            }
        }
        Draft {
            journey: top,
            personas: journey
                .personas
                .iter()
                .map(|p| {
                    fields([
                        ("id", p.id.clone()),
                        ("name", p.name.clone()),
                        ("description", p.description.clone().unwrap_or_default()),
                        ("goals", p.goals.join("\n")),
                        ("pains", p.pains.join("\n")),
                    ])
                })
                .collect(),
            stages: journey
                .stages
                .iter()
                .map(|stage| StageDraft {
                    fields: fields([
                        ("id", stage.id.clone()),
                        ("name", stage.name.clone()),
                        ("goal", stage.goal.clone().unwrap_or_default()),
                    ]),
                    touchpoints: stage
                        .touchpoints
                        .iter()
                        .map(|t| TouchpointDraft {
                            fields: fields([
                                ("id", t.id.clone()),
                                ("name", t.name.clone()),
                                ("channel", t.channel.as_str().to_string()),
                                ("department", t.department.clone()),
                                ("actor", t.actor.as_str().to_string()),
                                ("kind", t.kind.as_str().to_string()),
                                (
                                    "visibility",
                                    if t.visibility == crate::Visibility::default_for(t.actor) {
                                        String::new()
                                    } else {
                                        t.visibility.as_str().to_string()
                                    },
                                ),
                                ("thinks", t.experience.thinks.clone().unwrap_or_default()),
                                ("does", t.experience.does.clone().unwrap_or_default()),
                                ("feels", t.experience.feels.clone().unwrap_or_default()),
                                (
                                    "emotion",
                                    t.experience
                                        .emotion
                                        .map(|e| e.to_string())
                                        .unwrap_or_default(),
                                ),
                                (
                                    "target",
                                    t.target.map(crate::duration::format).unwrap_or_default(),
                                ),
                                ("moment_of_truth", flag(t.moment_of_truth)),
                                ("optional", flag(t.optional)),
                                ("costly", flag(t.costly)),
                                ("kpis", kpi_lines(&t.kpis)),
                            ]),
                            rules: t
                                .events
                                .iter()
                                .map(|rule| RuleDraft {
                                    event: rule.event.clone(),
                                    conditions: RuleDraft::conditions_of(&rule.properties),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            links: journey
                .links
                .iter()
                .map(|l| {
                    fields([
                        ("from", l.from.clone()),
                        ("to", l.to.clone()),
                        ("label", l.label.clone().unwrap_or_default()),
                    ])
                })
                .collect(),
        }
    }

    /// The value of a journey-level field (empty when unset).
    pub fn get(&self, key: &str) -> &str {
        self.journey.get(key).map_or("", String::as_str)
    }

    /// Writes the draft as a journey file, every value on a line of its own, with the form name
    /// of the field each line holds (index `line - 1`; the first field of an item for the lines
    /// that open it).
    pub fn file(&self) -> (String, Vec<String>) {
        let mut out = Writer::default();
        for key in JOURNEY_KEYS {
            let value = self.get(key);
            if key == "serves" {
                out.list(0, key, &split_ids(value), &format!("j.{key}"));
            } else if key == "kpis" {
                out.kpis(0, value, &format!("j.{key}"));
            } else if !value.is_empty() || matches!(key, "id" | "title" | "owner" | "version") {
                out.scalar(0, key, value, &format!("j.{key}"));
            }
        }
        if !self.personas.is_empty() {
            out.line("personas:", "j.id");
        }
        for (i, persona) in self.personas.iter().enumerate() {
            out.item(1);
            for key in PERSONA_KEYS {
                let name = format!("p{i}.{key}");
                let value = persona.get(key).map_or("", String::as_str);
                match key {
                    "goals" | "pains" => out.list(2, key, &split_lines(value), &name),
                    "description" if value.is_empty() => {}
                    _ => out.scalar(2, key, value, &name),
                }
            }
        }
        out.line("stages:", "j.id");
        for (s, stage) in self.stages.iter().enumerate() {
            out.item(1);
            for key in STAGE_KEYS {
                let value = stage.fields.get(key).map_or("", String::as_str);
                if !value.is_empty() || key != "goal" {
                    out.scalar(2, key, value, &format!("s{s}.{key}"));
                }
            }
            out.line("    touchpoints:", &format!("s{s}.id"));
            for (t, touchpoint) in stage.touchpoints.iter().enumerate() {
                touchpoint.write(&mut out, &format!("s{s}.t{t}"));
            }
        }
        if !self.links.is_empty() {
            out.line("links:", "j.id");
        }
        for (i, link) in self.links.iter().enumerate() {
            out.item(1);
            for key in LINK_KEYS {
                let value = link.get(key).map_or("", String::as_str);
                if !value.is_empty() || key != "label" {
                    out.scalar(2, key, value, &format!("l{i}.{key}"));
                }
            }
        }
        let change: Vec<(&str, &str)> = CHANGE_KEYS
            .iter()
            .map(|key| (*key, self.get(&format!("change.{key}"))))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        if change.is_empty() && !self.get("change").is_empty() {
            out.line("change: {}", "j.change.impact");
        } else if !change.is_empty() {
            out.line("change:", "j.change.impact");
            for (key, value) in change {
                out.scalar(1, key, value, &format!("j.change.{key}"));
            }
        }
        let instances: Vec<(&str, &str)> = INSTANCE_KEYS
            .iter()
            .map(|key| (*key, self.get(&format!("instances.{key}"))))
            .filter(|(_, value)| !value.is_empty())
            .collect();
        if !instances.is_empty() {
            out.line("instances:", "j.instances.end");
            for (key, value) in instances {
                let name = format!("j.instances.{key}");
                if key == "timeout" {
                    out.scalar(1, key, value, &name);
                } else {
                    out.list(1, key, &split_ids(value), &name);
                }
            }
        }
        (out.text, out.fields)
    }

    /// Every touchpoint with its form prefix (`s0.t1`), in listing order.
    pub fn touchpoints(&self) -> impl Iterator<Item = (String, &TouchpointDraft)> {
        self.stages.iter().enumerate().flat_map(|(s, stage)| {
            stage
                .touchpoints
                .iter()
                .enumerate()
                .map(move |(t, touchpoint)| (format!("s{s}.t{t}"), touchpoint))
        })
    }
}

impl TouchpointDraft {
    fn write(&self, out: &mut Writer, prefix: &str) {
        out.item(3);
        for key in TOUCHPOINT_KEYS {
            let value = self.fields.get(key).map_or("", String::as_str);
            let name = format!("{prefix}.{key}");
            match key {
                "kpis" => out.kpis(4, value, &name),
                "id" | "name" | "channel" | "department" | "actor" | "kind" => {
                    out.scalar(4, key, value, &name)
                }
                "moment_of_truth" | "optional" | "costly" => {
                    if !value.is_empty() {
                        out.scalar(4, key, value, &name);
                    }
                }
                _ if value.is_empty() => {}
                _ => out.scalar(4, key, value, &name),
            }
        }
        let rules: Vec<(usize, &RuleDraft)> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| !rule.event.trim().is_empty())
            .collect();
        if !rules.is_empty() {
            out.line("        events:", &format!("{prefix}.r0.event"));
        }
        for (r, rule) in rules {
            let name = format!("{prefix}.r{r}");
            out.item(5);
            out.scalar(6, "event", &rule.event, &format!("{name}.event"));
            if !rule.conditions.trim().is_empty() {
                let conditions = match serde_json::from_str::<serde_json::Value>(&rule.conditions) {
                    // JSON is YAML: an object of strings or lists, on one line.
                    Ok(value @ serde_json::Value::Object(_)) => value.to_string(),
                    // Not an object: the checker names the field's problem.
                    _ => quote(&rule.conditions),
                };
                out.line(
                    &format!("{}where: {conditions}", "  ".repeat(6)),
                    &format!("{name}.conditions"),
                );
            }
        }
    }
}

/// Lines of YAML, and the field each holds.
#[derive(Default)]
struct Writer {
    text: String,
    fields: Vec<String>,
    /// The next scalar opens a list item (`- `) at this depth.
    item: Option<usize>,
}

impl Writer {
    fn line(&mut self, text: &str, field: &str) {
        self.text.push_str(text);
        self.text.push('\n');
        self.fields.push(field.to_string());
    }

    /// The next scalar opens a list item whose `-` is at `depth`.
    fn item(&mut self, depth: usize) {
        self.item = Some(depth);
    }

    /// `key: "value"` at `depth` (two spaces each), or the item's first line.
    fn lead(&mut self, depth: usize) -> String {
        match self.item.take() {
            Some(item) => format!("{}- ", "  ".repeat(item)),
            None => "  ".repeat(depth),
        }
    }

    fn scalar(&mut self, depth: usize, key: &str, value: &str, field: &str) {
        let lead = self.lead(depth);
        self.line(&format!("{lead}{key}: {}", quote(value)), field);
    }

    fn list(&mut self, depth: usize, key: &str, values: &[String], field: &str) {
        if values.is_empty() {
            return;
        }
        let lead = self.lead(depth);
        let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
        self.line(&format!("{lead}{key}: [{}]", items.join(", ")), field);
    }
}

/// KPIs one per line, as the editor shows them.
fn kpi_lines(kpis: &[crate::Kpi]) -> String {
    let lines: Vec<String> = kpis.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

impl Writer {
    /// `kpis: [...]` on one line: a line that defines a KPI (`NAME: MEASURE …`) as the one-entry
    /// mapping the file holds, any other as a quoted note, so the checker reads both.
    fn kpis(&mut self, depth: usize, value: &str, field: &str) {
        let lines = split_lines(value);
        if lines.is_empty() {
            return;
        }
        let items: Vec<String> = lines
            .iter()
            .map(|line| match line.split_once(':') {
                Some((name, spec)) if starts_with_measure(spec) => {
                    serde_json::json!({ name.trim(): spec.trim() }).to_string()
                }
                _ => quote(line),
            })
            .collect();
        let lead = self.lead(depth);
        self.line(&format!("{lead}kpis: [{}]", items.join(", ")), field);
    }
}

/// Whether the text after a KPI's colon starts with a word that is, or nearly is, a measure.
fn starts_with_measure(spec: &str) -> bool {
    spec.split_whitespace().next().is_some_and(|word| {
        crate::kpi::MEASURES.contains(&word)
            || crate::did_you_mean(word, crate::kpi::MEASURES.iter().copied()).is_some()
    })
}

/// A value as a YAML double-quoted scalar (JSON's string syntax is YAML's).
fn quote(value: &str) -> String {
    serde_json::Value::from(value.trim()).to_string()
}

/// Comma- or space-separated ids.
pub fn split_ids(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect()
}

/// One entry per non-empty line.
pub fn split_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// Where two edits of one version clash: the place in words, and the value at the start, in
/// the version saved meanwhile, and in this edit (empty: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub place: String,
    pub base: String,
    pub theirs: String,
    pub mine: String,
}

/// A draft as independent values (by stable names built from ids) and ordered lists of ids.
#[derive(Debug, Default)]
struct Flat {
    values: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<String>>,
}

fn rules_text(rules: &[RuleDraft]) -> String {
    rules
        .iter()
        .filter(|r| !r.event.trim().is_empty())
        .map(|r| format!("{}\u{1f}{}", r.event.trim(), r.conditions.trim()))
        .collect::<Vec<_>>()
        .join("\u{1e}")
}

fn rules_of(text: &str) -> Vec<RuleDraft> {
    text.split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (event, conditions) = r.split_once('\u{1f}').unwrap_or((r, ""));
            RuleDraft {
                event: event.to_string(),
                conditions: conditions.to_string(),
            }
        })
        .collect()
}

fn id_of(fields: &Fields, fallback: usize) -> String {
    fields
        .get("id")
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("#{fallback}"))
}

fn link_id(fields: &Fields) -> String {
    format!(
        "{} → {}",
        fields.get("from").map_or("", |v| v.trim()),
        fields.get("to").map_or("", |v| v.trim())
    )
}

impl Flat {
    fn of(draft: &Draft) -> Flat {
        let mut flat = Flat::default();
        for (key, value) in &draft.journey {
            flat.values
                .insert(format!("journey\u{1f}{key}"), value.clone());
        }
        let mut personas = Vec::new();
        for (i, persona) in draft.personas.iter().enumerate() {
            let id = id_of(persona, i);
            for (key, value) in persona {
                flat.values
                    .insert(format!("persona\u{1f}{id}\u{1f}{key}"), value.clone());
            }
            personas.push(id);
        }
        flat.lists.insert("personas".into(), personas);
        let mut stages = Vec::new();
        for (s, stage) in draft.stages.iter().enumerate() {
            let id = id_of(&stage.fields, s);
            for (key, value) in &stage.fields {
                flat.values
                    .insert(format!("stage\u{1f}{id}\u{1f}{key}"), value.clone());
            }
            let mut touchpoints = Vec::new();
            for (t, touchpoint) in stage.touchpoints.iter().enumerate() {
                let tid = id_of(&touchpoint.fields, s * 1000 + t);
                for (key, value) in &touchpoint.fields {
                    flat.values
                        .insert(format!("touchpoint\u{1f}{tid}\u{1f}{key}"), value.clone());
                }
                let rules = rules_text(&touchpoint.rules);
                if !rules.is_empty() {
                    flat.values
                        .insert(format!("touchpoint\u{1f}{tid}\u{1f}events"), rules);
                }
                touchpoints.push(tid);
            }
            flat.lists.insert(format!("stage\u{1f}{id}"), touchpoints);
            stages.push(id);
        }
        flat.lists.insert("stages".into(), stages);
        let mut links = Vec::new();
        for link in &draft.links {
            let id = link_id(link);
            if let Some(label) = link.get("label").filter(|l| !l.is_empty()) {
                flat.values
                    .insert(format!("link\u{1f}{id}\u{1f}label"), label.clone());
            }
            links.push(id);
        }
        flat.lists.insert("links".into(), links);
        flat
    }

    /// The draft these values and lists describe.
    fn draft(&self) -> Draft {
        let prefixed = |prefix: String| -> Fields {
            self.values
                .range(prefix.clone()..)
                .take_while(|(key, _)| key.starts_with(&prefix))
                .map(|(key, value)| (key[prefix.len()..].to_string(), value.clone()))
                .collect()
        };
        let list = |name: &str| self.lists.get(name).cloned().unwrap_or_default();
        let mut journey = prefixed("journey\u{1f}".into());
        journey.retain(|_, v| !v.is_empty());
        Draft {
            journey,
            personas: list("personas")
                .iter()
                .map(|id| prefixed(format!("persona\u{1f}{id}\u{1f}")))
                .collect(),
            stages: list("stages")
                .iter()
                .map(|id| StageDraft {
                    fields: prefixed(format!("stage\u{1f}{id}\u{1f}")),
                    touchpoints: list(&format!("stage\u{1f}{id}"))
                        .iter()
                        .map(|tid| {
                            let mut fields = prefixed(format!("touchpoint\u{1f}{tid}\u{1f}"));
                            let rules = fields.remove("events").unwrap_or_default();
                            TouchpointDraft {
                                fields,
                                rules: rules_of(&rules),
                            }
                        })
                        .collect(),
                })
                .collect(),
            links: list("links")
                .iter()
                .map(|id| {
                    let (from, to) = id.split_once(" → ").unwrap_or((id, ""));
                    let mut fields = Fields::new();
                    fields.insert("from".into(), from.to_string());
                    fields.insert("to".into(), to.to_string());
                    if let Some(label) = self.values.get(&format!("link\u{1f}{id}\u{1f}label")) {
                        fields.insert("label".into(), label.clone());
                    }
                    fields
                })
                .collect(),
        }
    }
}

/// A value's place in words, from its flat name.
fn place(name: &str) -> String {
    let parts: Vec<&str> = name.split('\u{1f}').collect();
    match parts.as_slice() {
        ["journey", key] => format!("the journey's {}", key.replace('.', " ")),
        [kind, id, key] => format!("{kind} `{id}`: {}", key.replace('_', " ")),
        [kind, id] if *kind == "stage" => {
            format!("the touchpoints of stage `{id}` and their order")
        }
        [list] => format!("the {list} and their order"),
        _ => name.replace('\u{1f}', " "),
    }
}

/// Merges an ordered list of ids: `theirs`, without what `mine` removed, with what `mine` added
/// placed after the item it follows in `mine`; `None` when both reordered what they share.
fn merge_list(base: &[String], mine: &[String], theirs: &[String]) -> Option<Vec<String>> {
    if mine == base {
        return Some(theirs.to_vec());
    }
    if theirs == base || mine == theirs {
        return Some(mine.to_vec());
    }
    let common = |list: &[String], other: &[String]| -> Vec<String> {
        list.iter()
            .filter(|id| other.contains(id))
            .cloned()
            .collect()
    };
    let mine_reordered = common(mine, base) != common(base, mine);
    let theirs_reordered = common(theirs, base) != common(base, theirs);
    if mine_reordered && theirs_reordered && common(mine, theirs) != common(theirs, mine) {
        return None;
    }
    let removed_by_mine: BTreeSet<&String> = base.iter().filter(|id| !mine.contains(id)).collect();
    let (start, other) = if mine_reordered {
        (mine, theirs)
    } else {
        (theirs, mine)
    };
    let removed_by_other: BTreeSet<&String> =
        base.iter().filter(|id| !other.contains(id)).collect();
    let mut merged: Vec<String> = start
        .iter()
        .filter(|id| !removed_by_mine.contains(id) && !removed_by_other.contains(id))
        .cloned()
        .collect();
    for (index, id) in other.iter().enumerate() {
        if base.contains(id) || merged.contains(id) {
            continue;
        }
        // Added by the other side: after the nearest item before it that the merge has.
        let at = other[..index]
            .iter()
            .rev()
            .find_map(|before| merged.iter().position(|m| m == before))
            .map_or(0, |p| p + 1);
        merged.insert(at, id.clone());
    }
    Some(merged)
}

/// Merges two edits of `base`: what only one side changed is taken from it; a value both changed
/// differently, an item one side removed and the other changed, or both reordering one list,
/// clashes.
pub fn merge(base: &Draft, mine: &Draft, theirs: &Draft) -> Result<Draft, Vec<Conflict>> {
    let (b, m, t) = (Flat::of(base), Flat::of(mine), Flat::of(theirs));
    let mut merged = Flat::default();
    let mut conflicts = Vec::new();
    let names: BTreeSet<&String> = b
        .values
        .keys()
        .chain(m.values.keys())
        .chain(t.values.keys())
        .collect();
    let empty = String::new();
    for name in names {
        let (bv, mv, tv) = (
            b.values.get(name).unwrap_or(&empty),
            m.values.get(name).unwrap_or(&empty),
            t.values.get(name).unwrap_or(&empty),
        );
        let value = if mv == tv || mv == bv {
            tv
        } else if tv == bv {
            mv
        } else {
            conflicts.push(Conflict {
                place: place(name),
                base: bv.clone(),
                theirs: tv.clone(),
                mine: mv.clone(),
            });
            continue;
        };
        if !value.is_empty() {
            merged.values.insert(name.clone(), value.clone());
        }
    }
    let lists: BTreeSet<&String> = b
        .lists
        .keys()
        .chain(m.lists.keys())
        .chain(t.lists.keys())
        .collect();
    let none = Vec::new();
    for name in lists {
        let (bl, ml, tl) = (
            b.lists.get(name).unwrap_or(&none),
            m.lists.get(name).unwrap_or(&none),
            t.lists.get(name).unwrap_or(&none),
        );
        match merge_list(bl, ml, tl) {
            Some(list) => {
                merged.lists.insert(name.clone(), list);
            }
            None => conflicts.push(Conflict {
                place: place(name),
                base: bl.join(", "),
                theirs: tl.join(", "),
                mine: ml.join(", "),
            }),
        }
    }
    // The stages the merge keeps, and where each of their touchpoints is.
    let live: Vec<String> = merged.lists.get("stages").cloned().unwrap_or_default();
    let mut placed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for stage in &live {
        for id in merged
            .lists
            .get(&format!("stage\u{1f}{stage}"))
            .into_iter()
            .flatten()
        {
            placed.entry(id.clone()).or_default().push(stage.clone());
        }
    }
    let clash = |conflicts: &mut Vec<Conflict>, name: &str| {
        conflicts.push(Conflict {
            place: place(name),
            base: b.values.get(name).cloned().unwrap_or_default(),
            theirs: t.values.get(name).cloned().unwrap_or_default(),
            mine: m.values.get(name).cloned().unwrap_or_default(),
        });
    };
    // An item one side removed while the other changed it.
    for kind in ["persona", "stage", "touchpoint"] {
        for (name, value) in &merged.values {
            let mut parts = name.split('\u{1f}');
            if parts.next() != Some(kind) {
                continue;
            }
            let Some(id) = parts.next() else { continue };
            let listed = match kind {
                "persona" => merged
                    .lists
                    .get("personas")
                    .is_some_and(|l| l.iter().any(|x| x == id)),
                "stage" => live.iter().any(|x| x == id),
                _ => placed.contains_key(id),
            };
            if !listed && b.values.get(name) != Some(value) {
                clash(&mut conflicts, name);
            }
        }
    }
    // A touchpoint added to, or moved into, a stage the other side removed.
    for (list, ids) in &merged.lists {
        let Some(stage) = list.strip_prefix("stage\u{1f}") else {
            continue;
        };
        if live.iter().any(|x| x == stage) {
            continue;
        }
        let before = b.lists.get(list).cloned().unwrap_or_default();
        for id in ids {
            if !placed.contains_key(id) && !before.contains(id) {
                conflicts.push(Conflict {
                    place: format!(
                        "touchpoint `{id}`, in stage `{stage}`, which the other edit removed"
                    ),
                    base: String::new(),
                    theirs: t.lists.get(list).map(|l| l.join(", ")).unwrap_or_default(),
                    mine: m.lists.get(list).map(|l| l.join(", ")).unwrap_or_default(),
                });
            }
        }
    }
    // A touchpoint moved to two different stages, one by each side.
    for (id, stages) in &placed {
        if stages.len() > 1 {
            conflicts.push(Conflict {
                place: format!("the stage of touchpoint `{id}`"),
                base: String::new(),
                theirs: stages.join(" or "),
                mine: stages.join(" or "),
            });
        }
    }
    if conflicts.is_empty() {
        Ok(merged.draft())
    } else {
        Err(conflicts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journey() -> Journey {
        crate::template::universal("claim", "Make a claim")
    }

    #[test]
    fn a_draft_writes_a_file_that_reads_back_equal() {
        let journey = journey();
        let (text, fields) = Draft::of(&journey).file();
        let checked = crate::check(&text);
        assert!(
            checked.diagnostics.is_empty(),
            "{:?}\n{text}",
            checked.diagnostics
        );
        assert_eq!(checked.journey.as_ref(), Some(&journey));
        assert_eq!(fields.len(), text.lines().count());
    }

    #[test]
    fn problems_land_on_their_field() {
        let mut draft = Draft::of(&journey());
        draft.stages[1].touchpoints[0]
            .fields
            .insert("channel".into(), "pigeon".into());
        let (text, fields) = draft.file();
        let checked = crate::check(&text);
        let problem = &checked.diagnostics[0];
        assert_eq!(problem.code, "unknown-channel", "{text}");
        assert_eq!(fields[problem.location.line - 1], "s1.t0.channel");
    }

    /// A KPI typed in the editor is checked like one in a file, and its problem lands on the
    /// KPI field it was typed in; a line without a measure stays a note.
    #[test]
    fn kpis_typed_one_per_line_are_checked_on_their_field() {
        let mut draft = Draft::of(&journey());
        draft.stages[1].touchpoints[0].fields.insert(
            "kpis".into(),
            "Lead time: median-tme <= 2d\nfaster answers".into(),
        );
        draft
            .journey
            .insert("kpis".into(), "Done: completion >= 90%".into());
        let (text, fields) = draft.file();
        let checked = crate::check(&text);
        let problem = &checked.diagnostics[0];
        assert_eq!(problem.code, "unknown-measure", "{text}");
        assert!(
            problem
                .hint
                .as_deref()
                .unwrap_or("")
                .contains("median-time")
        );
        assert_eq!(fields[problem.location.line - 1], "s1.t0.kpis");
        draft.stages[1].touchpoints[0].fields.insert(
            "kpis".into(),
            "Lead time: median-time <= 2d owner Finance\nfaster answers".into(),
        );
        let journey = crate::check(&draft.file().0).journey.expect("reads");
        let written: Vec<String> = journey.stages[1].touchpoints[0]
            .kpis
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            written,
            [
                "Lead time: median-time <= 2d owner Finance",
                "faster answers"
            ]
        );
        assert_eq!(journey.kpis[0].to_string(), "Done: completion >= 90%");
        assert_eq!(Draft::of(&journey).get("kpis"), "Done: completion >= 90%");
    }

    #[test]
    fn edits_of_different_fields_merge_and_clashes_are_named() {
        let base = Draft::of(&journey());
        let mut mine = base.clone();
        let mut theirs = base.clone();
        mine.stages[0].touchpoints[0]
            .fields
            .insert("channel".into(), "phone".into());
        theirs.stages[0].touchpoints[0]
            .fields
            .insert("department".into(), "Claims".into());
        let mut added = theirs.stages[2].touchpoints[0].clone();
        added.fields.insert("id".into(), "added".into());
        theirs.stages[2].touchpoints.push(added);
        let merged = merge(&base, &mine, &theirs).expect("no clash");
        let first = &merged.stages[0].touchpoints[0].fields;
        assert_eq!(first["channel"], "phone");
        assert_eq!(first["department"], "Claims");
        assert_eq!(merged.stages[2].touchpoints.len(), 2);

        theirs.stages[0].touchpoints[0]
            .fields
            .insert("channel".into(), "email".into());
        let conflicts = merge(&base, &mine, &theirs).expect_err("a clash");
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].place, "touchpoint `need-touchpoint`: channel");
        assert_eq!(
            (conflicts[0].theirs.as_str(), conflicts[0].mine.as_str()),
            ("email", "phone")
        );
    }
}

//! `waymark analyze ...` and `waymark log ...`: thin wrappers over `waymark-eventlog` and
//! `waymark-analytics`.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Serialize;
use waymark_analytics::{Dfg, Filter, Funnel, FunnelOrder};
use waymark_eventlog::{ActivityKey, EventLog, Format, ReadOptions};

use crate::Outcome;
use crate::cli::{
    AnalyzeCommand, FilterArgs, LogArgs, LogCommand, LogFormat, Order, OutputFormat, ReadArgs,
};
use crate::output::text_table;

pub fn run_analyze(command: AnalyzeCommand) -> anyhow::Result<Outcome> {
    if let Some(outcome) = on_clickhouse(&command) {
        return outcome;
    }
    match command {
        AnalyzeCommand::Dfg {
            log,
            filter,
            format,
        } => {
            let (log, cases) = load(&log, &filter)?;
            let dfg = waymark_analytics::dfg(&log, &cases);
            print_dfg(&log, &dfg, format)
        }
        AnalyzeCommand::Variants {
            log,
            filter,
            format,
            limit,
        } => {
            let (log, cases) = load(&log, &filter)?;
            let variants = waymark_analytics::variants(&log, &cases);
            print_variants(&log, cases.len(), &variants, limit, format)
        }
        AnalyzeCommand::Durations {
            log,
            filter,
            format,
        } => {
            let (log, cases) = load(&log, &filter)?;
            let summary = waymark_analytics::case_durations(&log, &cases);
            let dfg = waymark_analytics::dfg(&log, &cases);
            print_durations(&log, cases.len(), &summary, &dfg, format)
        }
        AnalyzeCommand::Funnel {
            log,
            filter,
            steps,
            within,
            order,
            by,
            format,
        } => {
            let window = funnel_window(within.as_deref())?;
            let order = funnel_order(order);
            let (log, cases) = load(&log, &filter)?;
            for step in &steps {
                if log.symbol(step).is_none() {
                    eprintln!(
                        "warning: no event has the activity `{step}`; no case reaches that step"
                    );
                }
            }
            let groups = match by {
                Some(attribute) => {
                    waymark_analytics::funnel_by(&log, &cases, &steps, window, order, &attribute)
                        .into_iter()
                        .map(|g| (Some(g.value), g.funnel))
                        .collect()
                }
                None => vec![(
                    None,
                    waymark_analytics::funnel(&log, &cases, &steps, window, order),
                )],
            };
            print_funnel(&groups, format)
        }
    }
}

pub fn run_log(command: LogCommand) -> anyhow::Result<Outcome> {
    match command {
        LogCommand::Convert { log, output } => {
            let (log, _) = load(&log, &FilterArgs::default())?;
            let extension = output
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            let file = std::fs::File::create(&output)
                .with_context(|| format!("cannot write {}", output.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            match extension.as_deref() {
                Some("xes") => waymark_eventlog::xes::write(&log, &mut writer)?,
                Some("csv") => waymark_eventlog::csv::write(&log, &mut writer)?,
                Some("parquet") => waymark_eventlog::parquet::write(&log, &mut writer)?,
                _ => bail!(
                    "cannot tell the output format from `{}`: name it .xes, .csv or .parquet",
                    output.display()
                ),
            }
            writer.flush()?;
            eprintln!(
                "wrote {} events in {} cases to {}",
                log.events(),
                log.cases(),
                output.display()
            );
            Ok(Outcome::Fine)
        }
        LogCommand::Stats { log } => {
            let (log, cases) = load(&log, &FilterArgs::default())?;
            let dfg = waymark_analytics::dfg(&log, &cases);
            println!(
                "{} events, {} cases, {} activities, {} variants",
                log.events(),
                log.cases(),
                dfg.activities.len(),
                waymark_analytics::variants(&log, &cases).len()
            );
            Ok(Outcome::Fine)
        }
    }
}

/// A funnel's `--within`, in microseconds; without it, unbounded.
fn funnel_window(within: Option<&str>) -> anyhow::Result<i64> {
    match within {
        Some(text) => window_micros(text),
        None => Ok(i64::MAX / 4),
    }
}

/// A window such as `90m`, `2592000s`, `30d` or `2w`, in microseconds.
fn window_micros(text: &str) -> anyhow::Result<i64> {
    let duration = waymark_journey::duration::parse(text.trim())
        .map_err(|problem| anyhow::anyhow!("`{text}` is not a window ({problem}); write a number and a unit: s, m, h, d or w, e.g. 30d"))?;
    Ok(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 4))
}

pub(crate) fn time_bound(text: &str, flag: &str) -> anyhow::Result<i64> {
    waymark_eventlog::time::parse_bound(text)
        .ok_or_else(|| anyhow::anyhow!("--{flag} `{text}` is not a time; write ISO 8601 (2012-01-31T12:00:00Z) or a date (2012-01-31)"))
}

fn filter(args: &FilterArgs) -> anyhow::Result<Filter> {
    let seconds = |text: &Option<String>, flag: &str| -> anyhow::Result<Option<f64>> {
        text.as_deref()
            .map(|t| {
                waymark_journey::duration::parse(t.trim())
                    .map(|d| d.as_secs_f64())
                    .map_err(|problem| {
                        anyhow::anyhow!(
                            "--{flag} `{t}` is not a duration ({problem}); e.g. 2h or 3d"
                        )
                    })
            })
            .transpose()
    };
    let case_attribute = match &args.case_attribute {
        Some(pair) => {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--where `{pair}` must be written KEY=VALUE"))?;
            Some((key.to_string(), value.to_string()))
        }
        None => None,
    };
    Ok(Filter {
        from: args
            .from
            .as_deref()
            .map(|t| time_bound(t, "from"))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|t| time_bound(t, "to"))
            .transpose()?,
        case_attribute,
        contains: args.contains.clone(),
        lacks: args.lacks.clone(),
        min_duration_seconds: seconds(&args.min_duration, "min-duration")?,
        max_duration_seconds: seconds(&args.max_duration, "max-duration")?,
        top_variants: args.top_variants,
    })
}

fn read_options(path: &Path, read: &ReadArgs) -> (Option<Format>, ReadOptions) {
    let options = ReadOptions {
        file: path.display().to_string(),
        activity_key: ActivityKey::parse(&read.activity_key),
        lenient: read.lenient,
        columns: waymark_eventlog::csv::Columns {
            case: read.case.clone(),
            activity: read.activity.clone(),
            timestamp: read.timestamp.clone(),
        },
        object_type: read.object_type.clone(),
        // Files on the command line are the user's own: no bound.
        max_bytes: None,
    };
    let format = read.log_format.map(|f| match f {
        LogFormat::Xes => Format::Xes,
        LogFormat::Csv => Format::Csv,
        LogFormat::Jsonl => Format::Jsonl,
        LogFormat::OcelJson => Format::OcelJson,
        LogFormat::OcelXml => Format::OcelXml,
    });
    (format, options)
}

/// Reads a log file, warning about skipped events.
fn read_file(path: &Path, read: &ReadArgs) -> anyhow::Result<EventLog> {
    let (format, options) = read_options(path, read);
    let started = std::time::Instant::now();
    let outcome = read_with_progress(path, format, &options)?;
    if outcome.skipped > 0 {
        eprintln!(
            "warning: skipped {} bad event(s) in {} (--lenient)",
            outcome.skipped, options.file
        );
    }
    let log = outcome.log;
    tracing::info!(file = %options.file, events = log.events(), cases = log.cases(), elapsed_ms = started.elapsed().as_millis() as u64, "read log");
    Ok(log)
}

/// Reads the log from its file or from a database, and selects the cases.
fn load(args: &LogArgs, filter_args: &FilterArgs) -> anyhow::Result<(EventLog, Vec<u32>)> {
    let filter = filter(filter_args)?;
    let log = load_log(args)?;
    let cases = if filter.is_empty() {
        waymark_analytics::all_cases(&log)
    } else {
        filter.select(&log)
    };
    Ok((log, cases))
}

/// Reads the log from its file or from a database (one case per person).
pub(crate) fn load_log(args: &LogArgs) -> anyhow::Result<EventLog> {
    load_log_keeping(args, &waymark_store::Keep::All)
}

/// [`load_log`]; from a database, only the attributes `keep` names are read (a file is read
/// whole).
pub(crate) fn load_log_keeping(
    args: &LogArgs,
    keep: &waymark_store::Keep,
) -> anyhow::Result<EventLog> {
    Ok(match (&args.db, &args.log) {
        (Some(db), _) => {
            // Reading needs no index (so it works beside a running server too); a database of
            // an older schema is opened for writing once, to upgrade it.
            let store = waymark_store::open(
                db,
                &waymark_store::Options {
                    read_only: true,
                    ..Default::default()
                },
            )
            .or_else(|_| waymark_store::open(db, &Default::default()))
            .with_context(|| format!("cannot open {}", db))?;
            let (log, skipped) = waymark_store::stored_log_keeping(store.as_ref(), keep)?;
            if skipped > 0 {
                eprintln!(
                    "warning: {skipped} stored event(s) have no userId or anonymousId and were left out"
                );
            }
            log
        }
        (None, Some(path)) => read_file(path, &args.read)?,
        (None, None) if args.events.is_some() => bail!(
            "this command reads the events whole, from a file or --db; events kept in ClickHouse are analysed there\nhint: use `waymark analyze dfg|variants|durations|funnel --events URL`"
        ),
        (None, None) => bail!("name a log file, or a database with --db"),
    })
}

/// The events store an import writes to: refused when it already holds events, unless the
/// import says to add to them (an import has no message ids, so twice would count twice).
fn events_to_fill(
    location: &waymark_clickhouse::Location,
    append: bool,
) -> anyhow::Result<waymark_clickhouse::EventStore> {
    let store = open_events(location)?;
    let (events, _) = store.counts()?;
    if events > 0 && !append {
        bail!(
            "{location} already holds {events} events, and an import has no message ids to tell them apart: importing the same events again would count them twice\nhint: name a new database in the URL, or add --append to add these events to those"
        );
    }
    Ok(store)
}

/// The events store a command names with `--events`.
fn open_events(
    location: &waymark_clickhouse::Location,
) -> anyhow::Result<waymark_clickhouse::EventStore> {
    waymark_clickhouse::EventStore::open(location)
        .with_context(|| format!("cannot open the events at {location}"))
}

/// `waymark analyze … --events clickhouse://…`: the analysis reduced on ClickHouse, printed as
/// from a file. `None` when the command reads a file or a database.
fn on_clickhouse(command: &AnalyzeCommand) -> Option<anyhow::Result<Outcome>> {
    let (args, filter_args) = match command {
        AnalyzeCommand::Dfg { log, filter, .. }
        | AnalyzeCommand::Variants { log, filter, .. }
        | AnalyzeCommand::Durations { log, filter, .. }
        | AnalyzeCommand::Funnel { log, filter, .. } => (log, filter),
    };
    let location = args.events.as_ref()?;
    Some((|| {
        let store = open_events(location)?;
        let filter = filter(filter_args)?;
        match command {
            AnalyzeCommand::Dfg { format, .. } => {
                let (dfg, names) = store.dfg(&filter)?;
                print_dfg(&names.into_log(), &dfg, *format)
            }
            AnalyzeCommand::Variants { format, limit, .. } => {
                let (variants, cases, names) = store.variants(&filter)?;
                print_variants(
                    &names.into_log(),
                    cases as usize,
                    &variants,
                    *limit,
                    *format,
                )
            }
            AnalyzeCommand::Durations { format, .. } => {
                let (summary, cases) = store.durations(&filter)?;
                let (dfg, names) = store.dfg(&filter)?;
                print_durations(&names.into_log(), cases as usize, &summary, &dfg, *format)
            }
            AnalyzeCommand::Funnel {
                steps,
                within,
                order,
                by,
                format,
                ..
            } => {
                if let Some(attribute) = by {
                    bail!(
                        "--by {attribute} is not measured on ClickHouse yet: the events' case attributes are not kept there\nhint: leave out --by, or analyse a file or --db"
                    );
                }
                let window = funnel_window(within.as_deref())?;
                let funnel = store.funnel(&filter, steps, window, funnel_order(*order))?;
                print_funnel(&[(None, funnel)], *format)
            }
        }
    })())
}

fn funnel_order(order: Order) -> FunnelOrder {
    match order {
        Order::Ordered => FunnelOrder::Ordered,
        Order::Strict => FunnelOrder::Strict,
        Order::Any => FunnelOrder::Any,
    }
}

/// `waymark import --events clickhouse://…`: each file read whole, then written in batches, case
/// by case (each case a person), after the events already there.
pub fn run_import_clickhouse(
    files: &[std::path::PathBuf],
    location: &waymark_clickhouse::Location,
    read: &ReadArgs,
    append: bool,
) -> anyhow::Result<Outcome> {
    let store = events_to_fill(location, append)?;
    for path in files {
        let log = read_file(path, read)?;
        let started = std::time::Instant::now();
        let written = store
            .import_log(&log)
            .with_context(|| format!("{}: the events were not all written", path.display()))?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {written} events of {} cases written to {location} ({seconds:.2} s, {:.0} events/s)",
            path.display(),
            log.cases(),
            written as f64 / seconds.max(1e-9)
        );
    }
    Ok(Outcome::Fine)
}

/// `waymark import --stored --db DB --events clickhouse://…`: the events stored in a Waymark
/// database, as the analyses read them (one case per stitched person, named and ordered as the
/// live log does, with their traits as case attributes), written to ClickHouse.
pub fn run_copy_stored(
    db: &waymark_store::Location,
    location: &waymark_clickhouse::Location,
    append: bool,
) -> anyhow::Result<Outcome> {
    let args = LogArgs {
        log: None,
        db: Some(db.clone()),
        events: None,
        read: ReadArgs {
            log_format: None,
            case: None,
            activity: None,
            timestamp: None,
            activity_key: waymark_eventlog::CONCEPT_NAME.to_string(),
            lenient: false,
            object_type: None,
        },
    };
    let store = events_to_fill(location, append)?;
    let log = load_log(&args)?;
    let started = std::time::Instant::now();
    let written = store
        .import_log(&log)
        .with_context(|| format!("the events of {db} were not all written"))?;
    eprintln!(
        "{db}: {written} events of {} people written to {location} ({:.2} s)",
        log.cases(),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Fine)
}

/// `waymark import`: each file is read in pieces (an XES log in runs of traces), and each piece
/// is stored while the next is read.
pub fn run_import(
    files: &[std::path::PathBuf],
    db: &waymark_store::Location,
    read: &ReadArgs,
) -> anyhow::Result<Outcome> {
    let store = waymark_store::open(db, &Default::default())
        .with_context(|| format!("cannot open {}", db))?;
    for path in files {
        let (format, options) = read_options(path, read);
        let format = log_format(path, format)?;
        let file = waymark_eventlog::open(path, &options.file)?;
        let bar = reading_bar(path, &file, "importing");
        let started = std::time::Instant::now();
        let imported = waymark_store::import_pieces(
            store.as_ref(),
            |piece| waymark_eventlog::read_pieces(bar.wrap_read(file), format, &options, piece),
            |_| {},
        );
        bar.finish_and_clear();
        let imported = match imported {
            Ok(imported) => imported,
            Err(waymark_store::ImportError::Read { error, before }) => {
                return Err(anyhow::Error::from(*error).context(format!(
                    "{} events of {} were stored before the error; importing the mended file adds only the rest",
                    before.inserted,
                    path.display()
                )));
            }
            Err(waymark_store::ImportError::Store(error)) => return Err(error.into()),
        };
        if imported.skipped > 0 {
            eprintln!(
                "warning: skipped {} bad event(s) in {} (--lenient)",
                imported.skipped, options.file
            );
        }
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {} events stored, {} already there ({seconds:.2} s, {:.0} events/s)",
            path.display(),
            imported.inserted,
            imported.duplicates,
            imported.events as f64 / seconds.max(1e-9)
        );
    }
    Ok(Outcome::Fine)
}

/// The format of a log: as given, else from the file name.
fn log_format(path: &Path, format: Option<Format>) -> anyhow::Result<Format> {
    format.or_else(|| Format::from_path(path)).ok_or_else(|| {
        anyhow::anyhow!("{}: cannot tell the log format from the file name; name it .xes, .xes.gz, .csv, .jsonl, .ocel.json or .ocel.xml, or pass --log-format", path.display())
    })
}

/// A progress bar over the bytes of `file`, shown only on a terminal and for files over 8 MB.
fn reading_bar(path: &Path, file: &std::fs::File, doing: &str) -> indicatif::ProgressBar {
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if !std::io::stderr().is_terminal() || size <= 8 * 1024 * 1024 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(size).with_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {doing} {{msg}} {{bar:30}} {{bytes}}/{{total_bytes}} ({{eta}})"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(
        path.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
    );
    bar
}

fn read_with_progress(
    path: &Path,
    format: Option<Format>,
    options: &ReadOptions,
) -> anyhow::Result<waymark_eventlog::ReadOutcome> {
    let format = log_format(path, format)?;
    let file = waymark_eventlog::open(path, &options.file)?;
    let bar = reading_bar(path, &file, "reading");
    let outcome = waymark_eventlog::read(bar.wrap_read(file), format, options);
    bar.finish_and_clear();
    Ok(outcome?)
}

#[derive(Serialize)]
struct EdgeJson<'a> {
    from: &'a str,
    to: &'a str,
    count: u64,
    mean_seconds: f64,
    median_seconds: f64,
}

#[derive(Serialize)]
struct DfgJson<'a> {
    events: u64,
    cases: u64,
    activities: BTreeMap<&'a str, u64>,
    start_activities: BTreeMap<&'a str, u64>,
    end_activities: BTreeMap<&'a str, u64>,
    edges: Vec<EdgeJson<'a>>,
}

fn edges_json<'a>(log: &'a EventLog, dfg: &Dfg) -> Vec<EdgeJson<'a>> {
    dfg.edges
        .iter()
        .map(|e| EdgeJson {
            from: log.resolve(e.from),
            to: log.resolve(e.to),
            count: e.count,
            mean_seconds: e.mean_seconds,
            median_seconds: e.median_seconds,
        })
        .collect()
}

fn counts<'a>(
    log: &'a EventLog,
    list: &[waymark_analytics::ActivityCount],
) -> BTreeMap<&'a str, u64> {
    list.iter()
        .map(|a| (log.resolve(a.activity), a.count))
        .collect()
}

fn emit(text: &str) -> anyhow::Result<Outcome> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    Ok(Outcome::Fine)
}

fn csv_text(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row)?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

fn edge_rows(log: &EventLog, dfg: &Dfg) -> Vec<Vec<String>> {
    dfg.edges
        .iter()
        .map(|e| {
            vec![
                log.resolve(e.from).to_string(),
                log.resolve(e.to).to_string(),
                e.count.to_string(),
                number(e.mean_seconds),
                number(e.median_seconds),
            ]
        })
        .collect()
}

const EDGE_HEADER: [&str; 5] = ["from", "to", "count", "mean_seconds", "median_seconds"];

fn print_dfg(log: &EventLog, dfg: &Dfg, format: OutputFormat) -> anyhow::Result<Outcome> {
    match format {
        OutputFormat::Json => {
            let json = DfgJson {
                events: dfg.events,
                cases: dfg.cases,
                activities: counts(log, &dfg.activities),
                start_activities: counts(log, &dfg.start_activities),
                end_activities: counts(log, &dfg.end_activities),
                edges: edges_json(log, dfg),
            };
            emit(&serde_json::to_string_pretty(&json)?)
        }
        OutputFormat::Csv => emit(&csv_text(&EDGE_HEADER, &edge_rows(log, dfg))?),
        OutputFormat::Table => {
            let starts: BTreeMap<&str, u64> = counts(log, &dfg.start_activities);
            let ends: BTreeMap<&str, u64> = counts(log, &dfg.end_activities);
            let activity_rows: Vec<Vec<String>> = dfg
                .activities
                .iter()
                .map(|a| {
                    let name = log.resolve(a.activity);
                    vec![
                        name.to_string(),
                        a.count.to_string(),
                        starts.get(name).copied().unwrap_or(0).to_string(),
                        ends.get(name).copied().unwrap_or(0).to_string(),
                    ]
                })
                .collect();
            let mut text = format!("{} events in {} cases\n\n", dfg.events, dfg.cases);
            text.push_str(&text_table(
                &["activity", "count", "starts", "ends"],
                &activity_rows,
            ));
            text.push('\n');
            text.push_str(&text_table(&EDGE_HEADER, &edge_rows(log, dfg)));
            emit(&text)
        }
    }
}

#[derive(Serialize)]
struct VariantJson<'a> {
    activities: Vec<&'a str>,
    count: u64,
    mean_duration_seconds: f64,
}

#[derive(Serialize)]
struct VariantsJson<'a> {
    cases: usize,
    variants: Vec<VariantJson<'a>>,
}

fn print_variants(
    log: &EventLog,
    cases: usize,
    variants: &[waymark_analytics::Variant],
    limit: Option<usize>,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let shown = &variants[..limit.unwrap_or(variants.len()).min(variants.len())];
    let names = |v: &waymark_analytics::Variant| {
        v.activities
            .iter()
            .map(|a| log.resolve(*a))
            .collect::<Vec<_>>()
    };
    match format {
        OutputFormat::Json => {
            let json = VariantsJson {
                cases,
                variants: shown
                    .iter()
                    .map(|v| VariantJson {
                        activities: names(v),
                        count: v.count,
                        mean_duration_seconds: v.mean_duration_seconds,
                    })
                    .collect(),
            };
            emit(&serde_json::to_string_pretty(&json)?)
        }
        OutputFormat::Csv | OutputFormat::Table => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|v| {
                    vec![
                        v.count.to_string(),
                        format!("{:.1}%", 100.0 * v.count as f64 / cases.max(1) as f64),
                        number(v.mean_duration_seconds),
                        names(v).join(" > "),
                    ]
                })
                .collect();
            let header = ["count", "share", "mean_duration_seconds", "activities"];
            if format == OutputFormat::Csv {
                emit(&csv_text(&header, &rows)?)
            } else {
                let mut text = format!("{} variants in {} cases\n\n", variants.len(), cases);
                text.push_str(&text_table(&header, &rows));
                emit(&text)
            }
        }
    }
}

#[derive(Serialize)]
struct DurationJson {
    mean: f64,
    median: f64,
    min: f64,
    max: f64,
    p90: f64,
}

#[derive(Serialize)]
struct DurationsJson<'a> {
    cases: usize,
    case_duration_seconds: DurationJson,
    edges: Vec<EdgeJson<'a>>,
}

fn print_durations(
    log: &EventLog,
    cases: usize,
    summary: &waymark_analytics::Summary,
    dfg: &Dfg,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    let stats = [
        ("mean", summary.mean),
        ("median", summary.median),
        ("min", summary.min),
        ("max", summary.max),
        ("p90", summary.p90),
    ];
    match format {
        OutputFormat::Json => {
            let json = DurationsJson {
                cases,
                case_duration_seconds: DurationJson {
                    mean: summary.mean,
                    median: summary.median,
                    min: summary.min,
                    max: summary.max,
                    p90: summary.p90,
                },
                edges: edges_json(log, dfg),
            };
            emit(&serde_json::to_string_pretty(&json)?)
        }
        OutputFormat::Csv => {
            let rows: Vec<Vec<String>> = stats
                .iter()
                .map(|(k, v)| vec![k.to_string(), number(*v)])
                .collect();
            emit(&csv_text(&["statistic", "case_duration_seconds"], &rows)?)
        }
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = stats
                .iter()
                .map(|(k, v)| vec![k.to_string(), number(*v), human(*v)])
                .collect();
            let mut text = format!("case durations over {cases} cases\n\n");
            text.push_str(&text_table(&["statistic", "seconds", "duration"], &rows));
            text.push('\n');
            text.push_str(&text_table(&EDGE_HEADER, &edge_rows(log, dfg)));
            emit(&text)
        }
    }
}

fn human(seconds: f64) -> String {
    waymark_journey::duration::format(std::time::Duration::from_secs_f64(seconds.max(0.0).round()))
}

#[derive(Serialize)]
struct StepJson<'a> {
    name: &'a str,
    reached: usize,
    conversion_from_previous: f64,
    conversion_from_first: f64,
    median_seconds_from_previous: Option<f64>,
    drop_off: usize,
}

#[derive(Serialize)]
struct FunnelJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    cases: usize,
    steps: Vec<StepJson<'a>>,
}

fn funnel_json(value: Option<&str>, funnel: &Funnel) -> serde_json::Value {
    let json = FunnelJson {
        value,
        cases: funnel.cases,
        steps: funnel
            .steps
            .iter()
            .map(|s| StepJson {
                name: &s.name,
                reached: s.reached,
                conversion_from_previous: s.conversion_from_previous,
                conversion_from_first: s.conversion_from_first,
                median_seconds_from_previous: s.median_seconds_from_previous,
                drop_off: s.drop_off,
            })
            .collect(),
    };
    serde_json::to_value(json).unwrap_or_default()
}

fn print_funnel(
    groups: &[(Option<String>, Funnel)],
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    match format {
        OutputFormat::Json => {
            let value = match groups {
                [(None, funnel)] => funnel_json(None, funnel),
                _ => serde_json::json!({
                    "cases": groups.iter().map(|(_, f)| f.cases).sum::<usize>(),
                    "groups": groups.iter().map(|(v, f)| funnel_json(v.as_deref(), f)).collect::<Vec<_>>(),
                }),
            };
            emit(&serde_json::to_string_pretty(&value)?)
        }
        OutputFormat::Csv | OutputFormat::Table => {
            let mut rows = Vec::new();
            for (value, funnel) in groups {
                for step in &funnel.steps {
                    let mut row = Vec::new();
                    if groups.len() > 1 || value.is_some() {
                        row.push(value.clone().unwrap_or_default());
                    }
                    row.extend([
                        step.name.clone(),
                        step.reached.to_string(),
                        format!("{:.1}%", 100.0 * step.conversion_from_previous),
                        format!("{:.1}%", 100.0 * step.conversion_from_first),
                        step.median_seconds_from_previous
                            .map(human)
                            .unwrap_or_else(|| "-".to_string()),
                        step.drop_off.to_string(),
                    ]);
                    rows.push(row);
                }
            }
            let mut header = vec![
                "step",
                "reached",
                "from_previous",
                "from_first",
                "median_time_from_previous",
                "drop_off",
            ];
            if groups.len() > 1 || groups.first().is_some_and(|(v, _)| v.is_some()) {
                header.insert(0, "group");
            }
            if format == OutputFormat::Csv {
                emit(&csv_text(&header, &rows)?)
            } else {
                let cases: usize = groups.iter().map(|(_, f)| f.cases).sum();
                let mut text = format!("funnel over {cases} cases\n\n");
                text.push_str(&text_table(&header, &rows));
                emit(&text)
            }
        }
    }
}

//! Command-line arguments.

use std::path::PathBuf;

use waymark_store::Location;

use clap::{Parser, Subcommand, ValueEnum};

/// Waymark: design customer journeys as code, measure them with real events, automate them.
#[derive(Debug, Parser)]
#[command(name = "waymark", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Journeys as code: check, draw and compare journey files.
    Journey {
        #[command(subcommand)]
        command: JourneyCommand,
    },
    /// Analyse an event log: directly-follows graph, variants, durations, funnels.
    Analyze {
        #[command(subcommand)]
        command: Box<AnalyzeCommand>,
    },
    /// Run the Waymark server: the Segment-compatible collection API and the web app, on a SQLite
    /// file or PostgreSQL (`--db`).
    Serve(ServeArgs),
    /// Serve a demo workspace: the example journeys with realistic synthetic events.
    Demo(DemoArgs),
    /// Load event logs (XES, CSV, JSONL, OCEL) into a Waymark database. Importing the same events
    /// again adds nothing.
    Import {
        /// The log files.
        #[arg(required_unless_present = "stored")]
        files: Vec<PathBuf>,
        /// The database: a SQLite file (created if missing) or postgres://user@host:port/database.
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
        /// Keep the events in ClickHouse instead (clickhouse://HOST:PORT/DATABASE, or the shards of
        /// a cluster: clickhouse://HOST:PORT,HOST:PORT/DATABASE?cluster=NAME); each case is a person.
        #[arg(long, env = "WAYMARK_EVENTS", value_name = "URL", value_parser = EventsUrl)]
        events: Option<waymark_clickhouse::Location>,
        /// With --events: copy the events stored in --db (collected and imported, one person per
        /// stitched profile, with their traits) into ClickHouse, instead of reading files.
        #[arg(long, requires = "events", conflicts_with = "files")]
        stored: bool,
        /// With --events: add to a ClickHouse database that already holds events (nothing there
        /// tells an event imported twice from one imported once, so it is refused without this).
        #[arg(long, requires = "events")]
        append: bool,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Processes behind journeys: check and deploy BPMN 2.0 models.
    Process {
        #[command(subcommand)]
        command: ProcessCommand,
    },
    /// The organisation directory: people, departments, managers and roles.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// API keys and access tokens: list them, issue server and worker keys, revoke them.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Back up a SQLite store into a new file, consistently, while a server runs on it
    /// (PostgreSQL: use pg_dump, see docs/deploy.md). Restore by serving the copy.
    Backup {
        /// The store to back up.
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
        /// The new file.
        #[arg(long)]
        to: PathBuf,
    },
    /// Move an installation from a SQLite file to PostgreSQL: events, profiles, journeys, the
    /// directory and credentials, processes, and requests with their history. Prints each table's
    /// rows and checksum on both sides; running it again adds nothing. Stop the server first.
    Copy {
        /// The SQLite store to copy.
        #[arg(long)]
        from: PathBuf,
        /// The PostgreSQL database (postgres://user@host:port/database); its schema is made.
        #[arg(long)]
        to: Location,
    },
    /// KPIs: each measurable KPI of a journey file on its events, against its target; or
    /// before and after a change.
    Kpi {
        #[command(subcommand)]
        command: Box<KpiCommand>,
    },
    /// Alert rules on KPIs: see when a rule would have fired on past events.
    Alerts {
        #[command(subcommand)]
        command: Box<AlertsCommand>,
    },
    /// Print the server's OpenAPI document (JSON), the same as its `/openapi.json`.
    Openapi,
    /// Event-log files: convert between formats, summarise.
    Log {
        #[command(subcommand)]
        command: Box<LogCommand>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KpiCommand {
    /// The scorecard: every measurable KPI's value over the last `--days` days, the days before,
    /// its target, its weekly trend and a sentence. Exits 1 when a KPI misses its target, so a
    /// scheduled job can act on it.
    Check(KpiArgs),
    /// Every KPI before and after a change (`--at`, e.g. the day the to-be version went live),
    /// `--days` days on each side, with the test that fits the measure (two-proportion z-test,
    /// Mann-Whitney, Welch's t), a 95% interval and a verdict in words.
    Compare(KpiCompareArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct KpiArgs {
    /// The journey file whose KPIs are measured.
    pub journey: PathBuf,
    #[command(flatten)]
    pub log: LogArgs,
    /// The end of the window (ISO 8601 or YYYY-MM-DD; default: the last event).
    #[arg(long)]
    pub now: Option<String>,
    /// The window's length in days.
    #[arg(long, default_value_t = 28, value_parser = clap::value_parser!(i64).range(1..=366))]
    pub days: i64,
    #[arg(long, value_enum, default_value_t = KpiFormat::Table)]
    pub format: KpiFormat,
}

#[derive(Debug, Clone, clap::Args)]
pub struct KpiCompareArgs {
    #[command(flatten)]
    pub kpi: KpiArgs,
    /// The change: before it against after it (ISO 8601 or YYYY-MM-DD).
    #[arg(long)]
    pub at: String,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// When a rule on a KPI would have fired, day by day over the past, each run of days that
    /// fired being one alert. Rules: `below VALUE`, `above VALUE`, `worse by 20%` (against the
    /// period before), each optionally `over 7d`; `anomaly [by weekday|by week] [at 3.5]` (against
    /// the KPI's own seasonal history; docs/alerts.md).
    Simulate(SimulateArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The journey file that defines the KPI.
    pub journey: PathBuf,
    #[command(flatten)]
    pub log: LogArgs,
    /// The KPI's id (from its name: `Time to money` is `time-to-money`).
    #[arg(long)]
    pub kpi: String,
    /// The rule, e.g. `below 80%`, `worse by 20% over 14d`, `anomaly by weekday`.
    #[arg(long)]
    pub rule: String,
    /// Check the days up to this one (ISO 8601 or YYYY-MM-DD; default: the last event).
    #[arg(long)]
    pub to: Option<String>,
    /// How many days back to check.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..=3660))]
    pub days: i64,
    #[arg(long, value_enum, default_value_t = KpiFormat::Table)]
    pub format: KpiFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KpiFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The demo database (created if missing; running again adds nothing).
    #[arg(long, default_value = "waymark-demo.db")]
    pub db: Location,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// How many people to simulate.
    #[arg(long, default_value_t = 600)]
    pub people: usize,
    /// The random seed: the same seed gives the same events.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (`db`, `listen`, `admin-token`, `write-key`,
    /// `identifier-traits`). Flags win over WAYMARK_* variables, which win over the file.
    #[arg(long, env = "WAYMARK_CONFIG")]
    pub config: Option<PathBuf>,
    /// The database: a SQLite file (created if missing; WAL mode), or
    /// postgres://user@host:port/database. Default: waymark.db.
    #[arg(long, env = "WAYMARK_DB")]
    pub db: Option<Location>,
    /// The address to listen on. Default: 127.0.0.1:8080.
    #[arg(long, env = "WAYMARK_LISTEN")]
    pub listen: Option<String>,
    /// Make sure this admin API token exists (stored hashed).
    #[arg(long, env = "WAYMARK_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Make sure this source write key exists (stored hashed). It ships in web pages and apps,
    /// so it only records events. Changing it ends the previous one.
    #[arg(long, env = "WAYMARK_WRITE_KEY", hide_env_values = true)]
    pub write_key: Option<String>,
    /// Make sure this secret server key exists (stored hashed): events sent with it also
    /// continue and start requests (a learning system reporting a training done, say). Keep it
    /// on servers. Changing it ends the previous one.
    #[arg(long, env = "WAYMARK_SERVER_KEY", hide_env_values = true)]
    pub server_key: Option<String>,
    /// The traits that identify a person, so events carrying the same value merge into one
    /// profile. Default: email,phone.
    #[arg(long, env = "WAYMARK_IDENTIFIER_TRAITS", value_delimiter = ',')]
    pub identifier_traits: Option<Vec<String>>,
    /// An SMTP server for the email of send tasks: smtp://host:port (a relay on the same host or
    /// network, no TLS), smtp://user:password@host:587?tls=required (STARTTLS) or
    /// smtps://user:password@host (TLS). Without it, email tasks wait for a worker.
    #[arg(long, env = "WAYMARK_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The sender of those emails. Default: Waymark <waymark@localhost>.
    #[arg(long, env = "WAYMARK_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Where people reach this server, for the links in emails. Default: http:// and the address
    /// listened on.
    #[arg(long, env = "WAYMARK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A PEM file of CA certificates: the SMTP server and https:// webhooks must then present a
    /// certificate from one of them (a private CA) instead of one the built-in Mozilla roots trust.
    #[arg(long, env = "WAYMARK_TLS_CA")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Seconds a timer, email or webhook call claimed by a node is that node's. When the node
    /// dies holding it, another node takes it over after this long. A webhook call gives up after
    /// half of it (30 s at most), an SMTP conversation too (a minute at most). With --events,
    /// the node forwarding the events to ClickHouse is replaced after this long too (10 s at
    /// most). Default: 60.
    #[arg(long, env = "WAYMARK_TAKEOVER_AFTER", value_parser = clap::value_parser!(u64).range(TAKEOVER_SECONDS))]
    pub takeover_after: Option<u64>,
    /// Seconds between checks of the alert rules on KPIs (each check reads only what changed and
    /// checks each rule's newly completed days). Default: 600.
    #[arg(long, env = "WAYMARK_ALERT_EVERY", value_parser = clap::value_parser!(u64).range(ALERT_SECONDS))]
    pub alert_every: Option<u64>,
    /// Days a person is not asked for feedback again after a survey, across all touchpoints
    /// (an email's survey link is left out meanwhile; `POST /v1/surveys` answers 409). Default: 14.
    #[arg(long, env = "WAYMARK_SURVEY_EVERY", value_parser = clap::value_parser!(u64).range(SURVEY_DAYS))]
    pub survey_every: Option<u64>,
    /// Keep the collected events in ClickHouse as well, and measure the journey reports there:
    /// clickhouse://HOST:PORT/DATABASE, or the shards of a cluster
    /// (clickhouse://HOST:PORT,HOST:PORT/DATABASE?cluster=NAME). A collection call is
    /// acknowledged once ClickHouse has its events. The password may come from
    /// WAYMARK_CLICKHOUSE_PASSWORD.
    #[arg(long, env = "WAYMARK_EVENTS", value_name = "URL", value_parser = EventsUrl)]
    pub events: Option<waymark_clickhouse::Location>,
}

/// The days `--survey-every` may be (0: ask every time).
pub const SURVEY_DAYS: std::ops::RangeInclusive<u64> = 0..=365;

/// The seconds `--alert-every` may be.
pub const ALERT_SECONDS: std::ops::RangeInclusive<u64> = 1..=86_400;

/// The seconds `--takeover-after` may be.
pub const TAKEOVER_SECONDS: std::ops::RangeInclusive<u64> = 2..=86_400;

/// Where the events come from: a log file, or the events stored in a Waymark database.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// The log: .xes, .xes.gz, .csv (any delimiter), .jsonl (Segment events), or OCEL 2.0
    /// (.ocel.json, .ocel.xml; with --object-type).
    #[arg(required_unless_present_any = ["db", "events"])]
    pub log: Option<PathBuf>,
    /// Analyse the events stored in this Waymark database instead of a file.
    #[arg(long, conflicts_with = "log")]
    pub db: Option<Location>,
    /// Analyse the events kept in ClickHouse, reduced on its servers:
    /// clickhouse://HOST:PORT/DATABASE, or the shards of a cluster,
    /// clickhouse://HOST:PORT,HOST:PORT/DATABASE?cluster=NAME.
    #[arg(long, conflicts_with_all = ["log", "db"], value_name = "URL", value_parser = EventsUrl)]
    pub events: Option<waymark_clickhouse::Location>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// How to read a log file.
#[derive(Debug, Clone, clap::Args)]
pub struct ReadArgs {
    /// The file format, when the name does not tell.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// CSV: the column holding the case (default: case_id, Case ID, ...).
    #[arg(long)]
    pub case: Option<String>,
    /// CSV: the column holding the activity (default: activity, Activity, ...).
    #[arg(long)]
    pub activity: Option<String>,
    /// CSV: the column holding the timestamp (default: timestamp, Complete Timestamp, ...).
    #[arg(long)]
    pub timestamp: Option<String>,
    /// The attributes that name an activity, joined by `+`, e.g. concept:name+lifecycle:transition.
    #[arg(long, default_value = "concept:name")]
    pub activity_key: String,
    /// Skip bad events and report how many, instead of stopping at the first.
    #[arg(long)]
    pub lenient: bool,
    /// OCEL 2.0: the object type whose objects become the cases, e.g. order.
    #[arg(long)]
    pub object_type: Option<String>,
}

/// Which cases to analyse.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only cases that start at or after this time (ISO 8601 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only cases that start before this time (ISO 8601 or YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Only cases whose case attribute KEY has VALUE, written KEY=VALUE.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    pub case_attribute: Option<String>,
    /// Only cases that contain this activity (repeatable).
    #[arg(long, value_name = "ACTIVITY")]
    pub contains: Vec<String>,
    /// Only cases that lack this activity (repeatable).
    #[arg(long, value_name = "ACTIVITY")]
    pub lacks: Vec<String>,
    /// Only cases that take at least this long, e.g. 2h or 3d.
    #[arg(long)]
    pub min_duration: Option<String>,
    /// Only cases that take at most this long.
    #[arg(long)]
    pub max_duration: Option<String>,
    /// Only the cases of the K most frequent variants.
    #[arg(long, value_name = "K")]
    pub top_variants: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Xes,
    Csv,
    Jsonl,
    OcelJson,
    OcelXml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Json,
    Table,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Order {
    Ordered,
    Strict,
    Any,
}

#[derive(Debug, Subcommand)]
pub enum AnalyzeCommand {
    /// The directly-follows graph: activity, start and end counts, and edges with their count and
    /// the mean and median seconds between the two events.
    Dfg {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// The distinct activity sequences, with counts and mean case duration, most frequent first.
    Variants {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        /// Show at most this many variants (all in JSON when not given).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Case duration statistics (mean, median, min, max, p90) and the per-edge timings.
    Durations {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// How many cases reach each step, in order, within a time window.
    Funnel {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// The steps, comma-separated activities.
        #[arg(long, value_delimiter = ',', required = true)]
        steps: Vec<String>,
        /// The window from the first step, with a unit: s, m, h, d or w (90m, 2592000s, 30d).
        /// Without it, the window is unbounded.
        #[arg(long)]
        within: Option<String>,
        /// ordered: ClickHouse windowFunnel; strict: no other event between steps; any: any order.
        #[arg(long, value_enum, default_value_t = Order::Ordered)]
        order: Order,
        /// Break the funnel down by this case attribute.
        #[arg(long, value_name = "ATTR")]
        by: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Convert a log to XES, CSV or Parquet (by the output's extension).
    Convert {
        #[command(flatten)]
        log: LogArgs,
        /// The output file: .xes, .csv or .parquet.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Count the events, cases and activities of a log.
    Stats {
        #[command(flatten)]
        log: LogArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum JourneyCommand {
    /// Check journey files and report every problem with its line, column and a hint.
    ///
    /// Exit codes: 0 no problems, 1 problems found (errors or warnings), 2 a file could not be read
    /// or the command was used wrongly.
    Lint {
        /// Journey files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// How to print the problems.
        #[arg(long, value_enum, default_value_t = LintFormat::Text)]
        format: LintFormat,
        /// Exit 0 when there are warnings but no errors.
        #[arg(long)]
        allow_warnings: bool,
    },
    /// Draw a journey map: stages as columns, channel swimlanes, the line of visibility and the
    /// emotion curve, as SVG or as a self-contained HTML page; with `--db` or `--log`, with the
    /// measured figures on every card.
    Render {
        /// The journey file.
        file: PathBuf,
        /// Where to write the map; `.svg` or `.html`, or `-` for standard output.
        #[arg(short, long)]
        output: PathBuf,
        /// The output format; by default taken from the output file's extension.
        #[arg(long, value_enum)]
        format: Option<RenderFormat>,
        /// Put the figures measured in this database on the cards (volume, conversion, time
        /// against target, score, moment-of-truth influence), as `journey report` computes them.
        #[arg(long, conflicts_with = "log")]
        db: Option<Location>,
        /// Put the figures measured in this log file on the cards.
        #[arg(long)]
        log: Option<PathBuf>,
        /// With --db or --log: an instance with no event for this long is over (default: the
        /// journey file's `instances.timeout`, else 30d).
        #[arg(long)]
        timeout: Option<String>,
        /// How to read the --log file.
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Compare two versions of a journey: touchpoints added, removed and changed, and the
    /// customer-effort figures of each.
    Diff {
        /// The earlier version, usually as-is.
        before: PathBuf,
        /// The later version, usually to-be.
        after: PathBuf,
        #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
        format: DiffFormat,
    },
    /// Deploy a journey to a Waymark database: a new version when the file differs from the
    /// latest one. The server then reports on it (`GET /v1/journeys/{id}/report`). A to-be
    /// version is proposed instead: it becomes current once the journey's owner approves its
    /// five change-impact answers (a task in their inbox). With a server running on the
    /// database, deploy through its API instead (`POST /v1/journeys`).
    Deploy {
        /// The journey file.
        file: PathBuf,
        /// The database.
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
        /// Who deploys it: their directory id. Needed for a version that waits for the owner's
        /// approval (a to-be): its proposer never approves it.
        #[arg(long)]
        by: Option<String>,
    },
    /// Measure a journey with events: reach and conversion per stage and touchpoint, time
    /// against target, the funnel, conformance to the designed path, repeat contacts and what
    /// precedes them, CSAT/NPS/CES, moments of truth, trends and segments.
    ///
    /// The events come from a log file or from a Waymark database (`--db`). Each person's (or
    /// case's) events are cut into journey instances: a new one starts after `--timeout` without
    /// events, or at a start touchpoint after one completed at an end touchpoint.
    Report(Box<ReportArgs>),
    /// Propose the as-is journey from events: touchpoints from the event names (and their step
    /// and channel properties), ordered and grouped into stages by the typical paths, links for
    /// the loops and branches people take, targets at the measured medians, candidate moments of
    /// truth, and an event rule on every touchpoint. Review the draft, then deploy it.
    /// The method is described in docs/discover.md.
    Discover(Box<DiscoverArgs>),
    /// Write a new journey file with the universal stages (need, evaluate options, decide,
    /// deliver/onboard, use and service, renew/advocate) to start from.
    New {
        /// The journey's id, e.g. `home-insurance-claim`.
        id: String,
        /// The journey's title.
        #[arg(long)]
        title: Option<String>,
        /// Where to write it; standard output if not given.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// `waymark journey discover`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Where to write the draft journey file; standard output if not given or `-`.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The draft's id (default: `discovered`).
    #[arg(long, default_value = "discovered")]
    pub id: String,
    /// The draft's title (default: made from the id).
    #[arg(long)]
    pub title: Option<String>,
    /// Who owns the journey.
    #[arg(long, default_value = "Customer Experience")]
    pub owner: String,
    /// How many stages at most (default: a quarter of the touchpoints, 2 to 7).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub stages: Option<u16>,
    /// Only events with these names, e.g. when the log holds several journeys (comma-separated
    /// or repeated).
    #[arg(long, value_delimiter = ',', value_name = "EVENT")]
    pub only: Vec<String>,
}

/// `waymark journey report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The journey file.
    pub journey: PathBuf,
    #[command(flatten)]
    pub log: LogArgs,
    /// Only instances that start at or after this time (ISO 8601 or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only instances that start before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Break the figures down by this attribute: of the case (a persona or segment trait), else
    /// of the instance's first event.
    #[arg(long, value_name = "ATTRIBUTE")]
    pub by: Option<String>,
    /// The length of the trend's periods.
    #[arg(long, value_enum, default_value_t = PeriodArg::Month)]
    pub period: PeriodArg,
    /// An instance with no event for this long is over (abandoned unless it completed). Default:
    /// the journey file's `instances.timeout`, else 30d.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Touchpoints where a new instance starts after a completed one (default: the journey
    /// file's `instances.start`, else the first touchpoint events reach). Comma-separated or
    /// repeated.
    #[arg(long, value_delimiter = ',', value_name = "TOUCHPOINT")]
    pub start: Vec<String>,
    /// Touchpoints that complete an instance (default: the journey file's `instances.end`, else
    /// those of the last stage).
    #[arg(long, value_delimiter = ',', value_name = "TOUCHPOINT")]
    pub end: Vec<String>,
    /// The costly contacts, e.g. calls and complaints (default: every `conversation`).
    #[arg(long, value_delimiter = ',', value_name = "TOUCHPOINT")]
    pub contacts: Vec<String>,
    /// The funnel's steps, touchpoints in order (default: one step per stage).
    #[arg(long, value_delimiter = ',', value_name = "TOUCHPOINT")]
    pub funnel: Vec<String>,
    /// Measure the time between two touchpoints, written FROM:TO (repeatable).
    #[arg(long, value_name = "FROM:TO")]
    pub between: Vec<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    /// Write the report here instead of to standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeriodArg {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Markdown,
    Json,
    /// A page with the live map (figures on every card, the measured emotion curve) and the
    /// report's tables.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Svg,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add or update people from a CSV file: id,name,email,department,manager,roles (roles
    /// separated by `;`).
    Import {
        file: PathBuf,
        /// The database: a SQLite file (created if missing) or postgres://user@host:port/database.
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
    /// Print a new access token for a person in the directory.
    Token {
        user: String,
        /// How long it works, e.g. 30d; without it, until revoked.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
    /// Bring a disabled person back (uploading the directory again never does), without their
    /// old tokens.
    Enable {
        user: String,
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
    /// Take a person out of the directory: their tokens are revoked, their sessions end and the
    /// links sent to them stop working. Their history stays.
    Disable {
        user: String,
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Every key and token (never the secrets): id, kind, label, whose, topics, status.
    List {
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
    /// Issue a key and print it once: `server` (its events act on requests), `worker` (the
    /// worker tasks of --topic), `write` (records events only) or `admin`.
    Issue {
        #[arg(value_parser = ["server", "worker", "write", "admin"])]
        kind: String,
        /// What it is for, shown in lists.
        #[arg(long, default_value = "")]
        label: String,
        /// For a worker key: a topic it may work (repeatable).
        #[arg(long = "topic", value_name = "TOPIC")]
        topics: Vec<String>,
        /// How long it works, e.g. 90d; without it, until revoked.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
    /// Make a new key for the links of one kind (`links`: a step of a request, `sign-in`,
    /// `surveys`). It signs from the server's next start; links signed before keep working until
    /// they expire, unless --retire drops the older keys (every such link then stops working).
    RotateSigning {
        #[arg(value_parser = ["links", "sign-in", "surveys"])]
        kind: String,
        #[arg(long)]
        retire: bool,
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
    /// Revoke a key or token at once, by its id (`k_…`, from `waymark keys list`).
    Revoke {
        id: String,
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// Check and deploy process models (a new version of each changed process), with the forms
    /// they name that are found beside them.
    Deploy {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The database: a SQLite file (created if missing) or postgres://user@host:port/database.
        #[arg(long, env = "WAYMARK_DB", default_value = "waymark.db")]
        db: Location,
    },
    /// Check that process definitions can be executed, without deploying them. Exit code 0: every
    /// file is executable; 1: some are not (the reasons are printed); 2: a file cannot be read.
    Check {
        /// BPMN 2.0 files (.bpmn, .xml) or Waymark process files (.yaml).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = LintFormat::Text)]
        format: LintFormat,
    },
}

/// Reads `--events` without ever repeating the URL in an error (it may hold a password): clap's
/// own message for a refused value quotes it.
#[derive(Debug, Clone, Copy)]
pub struct EventsUrl;

impl clap::builder::TypedValueParser for EventsUrl {
    type Value = waymark_clickhouse::Location;

    fn parse_ref(
        &self,
        _command: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let text = value.to_str().ok_or_else(|| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidUtf8,
                "--events is not UTF-8 text\n",
            )
        })?;
        waymark_clickhouse::Location::parse(text).map_err(|error| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--events: {error}\n"),
            )
        })
    }
}

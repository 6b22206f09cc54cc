//! Command-line arguments.

use std::path::PathBuf;

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
    /// emotion curve, as SVG or as a self-contained HTML page.
    Render {
        /// The journey file.
        file: PathBuf,
        /// Where to write the map; `.svg` or `.html`, or `-` for standard output.
        #[arg(short, long)]
        output: PathBuf,
        /// The output format; by default taken from the output file's extension.
        #[arg(long, value_enum)]
        format: Option<RenderFormat>,
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

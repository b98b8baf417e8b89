//! How answers reach the person or the script: a table (or a line) by
//! default, the server's JSON with `--output json`, and progress while
//! waiting: a bar on a terminal, plain lines on a pipe or a CI log.

use std::io::IsTerminal;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Readable tables and lines.
    Table,
    /// The server's answers as JSON, one document per command.
    Json,
}

#[derive(Debug, Clone, Copy)]
pub struct Printer {
    output: Output,
}

impl Printer {
    pub fn new(output: Output) -> Printer {
        Printer { output }
    }

    pub fn is_json(&self) -> bool {
        self.output == Output::Json
    }

    /// Prints `value` as JSON, or as the table `rows` builds from it.
    pub fn show<T: Serialize>(&self, value: &T, header: &[&str], rows: Vec<Vec<String>>) {
        match self.output {
            Output::Json => self.json(value),
            Output::Table => println!("{}", table(header, rows)),
        }
    }

    /// A line for a person that is not the answer itself: on standard
    /// output with tables, on standard error with JSON (whose standard
    /// output holds the one JSON document).
    pub fn note(&self, line: &str) {
        match self.output {
            Output::Json => eprintln!("{line}"),
            Output::Table => println!("{line}"),
        }
    }

    /// Prints `value` as JSON, or `line` for a person.
    pub fn line<T: Serialize>(&self, value: &T, line: &str) {
        match self.output {
            Output::Json => self.json(value),
            Output::Table => println!("{line}"),
        }
    }

    pub fn json<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            // The answer types are maps and strings; this cannot happen,
            // and a script still sees a failure rather than nothing.
            Err(err) => eprintln!("ferry: the answer cannot be printed as JSON: {err}"),
        }
    }

    /// Progress over `total` things waited for, on standard error.
    pub fn progress(&self, total: u64, what: &str) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let style =
                ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(what.to_owned());
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                what: what.to_owned(),
                total,
                done: 0,
            }
        }
    }
}

/// A table of `rows` under `header`, as text.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    for row in rows {
        table.add_row(row);
    }
    table
}

/// A wait's progress: a bar on a terminal; elsewhere (a CI log) a line at
/// each tenth of the total, at the end, and for every thing that did not
/// succeed, so that a wait for 1,000 tasks writes a dozen lines, not 1,000.
pub enum Progress {
    Bar(ProgressBar),
    Lines { what: String, total: u64, done: u64 },
}

impl Progress {
    /// `done` of the total are finished; `note` says what just happened.
    pub fn set(&mut self, done: u64, note: &str) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(done);
                if !note.is_empty() {
                    bar.println(note);
                }
            }
            Progress::Lines {
                what,
                total,
                done: seen,
            } => {
                let tenth = |n: u64| n.saturating_mul(10) / (*total).max(1);
                let step = done != *seen && (done == *total || tenth(done) > tenth(*seen));
                if step || !note.is_empty() {
                    *seen = done;
                    eprintln!("{what}: {done}/{total} finished{}", suffix(note));
                }
            }
        }
    }

    /// The total grew: more things to wait for than first known.
    pub fn set_total(&mut self, new_total: u64) {
        match self {
            Progress::Bar(bar) => bar.set_length(new_total),
            Progress::Lines { total, .. } => *total = new_total,
        }
    }

    pub fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn suffix(note: &str) -> String {
    if note.is_empty() {
        String::new()
    } else {
        format!(" ({note})")
    }
}

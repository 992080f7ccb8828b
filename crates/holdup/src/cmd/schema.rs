//! `holdup schema COMMAND`: the JSON Schema of a command's `--json` output, generated from the
//! types that print it, so it cannot drift from them. `docs/schemas/` holds a copy of each
//! (`just schemas` rewrites them; a test checks they are current and that every fixture's
//! output matches them).

use super::{Failure, JSON_SCHEMA_VERSION, Versioned};
use crate::exit;
use clap::ValueEnum;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema};

/// The commands with a `--json` output (triage prints JSON lines always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JsonCommand {
    /// `holdup DUMP --json`.
    Report,
    Ps,
    Bt,
    Locks,
    Page,
    Info,
    Log,
    /// One line of `holdup triage`.
    Triage,
}

impl JsonCommand {
    pub fn name(self) -> &'static str {
        match self {
            JsonCommand::Report => "report",
            JsonCommand::Ps => "ps",
            JsonCommand::Bt => "bt",
            JsonCommand::Locks => "locks",
            JsonCommand::Page => "page",
            JsonCommand::Info => "info",
            JsonCommand::Log => "log",
            JsonCommand::Triage => "triage",
        }
    }

    /// What the output is, for the schema's description.
    fn what(self) -> &'static str {
        match self {
            JsonCommand::Report => {
                "The hang report: root causes, cycles, every task and lock of the wait-for graph, and what the dump lacks (docs/json-schema.md)."
            }
            JsonCommand::Ps => {
                "Every task read, with its state, CPU and how long it has been blocked."
            }
            JsonCommand::Bt => {
                "The tasks chosen (`bt PID...`, `-a`, `--all`), each with its kernel backtrace."
            }
            JsonCommand::Locks => {
                "Every wait found on a blocked task's stack, every lock with a holder or waiters and how each is known, and the locked pages nobody waits on."
            }
            JsonCommand::Page => {
                "One struct page decoded, with its lock, waiters and possible holders; or, for an address that is none, what it is."
            }
            JsonCommand::Info => "The kernel, the machine, the panic and the dump (crash's `sys`).",
            JsonCommand::Log => "The kernel log's records from the printk ring buffer.",
            JsonCommand::Triage => "One line of `holdup triage`: one dump (docs/triage.md).",
        }
    }

    /// Its schema, with an `$id` naming the command and the version.
    pub fn schema(self) -> Schema {
        let (mut s, version) = match self {
            JsonCommand::Report => (holdup_report::json_schema(), holdup_report::SCHEMA_VERSION),
            JsonCommand::Triage => (
                output_schema::<holdup_triage::TriageLine>(),
                holdup_triage::SCHEMA_VERSION,
            ),
            JsonCommand::Ps => (
                versioned::<holdup_kernel::sched::TaskList>(),
                JSON_SCHEMA_VERSION,
            ),
            JsonCommand::Bt => (versioned::<super::bt::BtOutput>(), JSON_SCHEMA_VERSION),
            JsonCommand::Locks => (
                versioned::<holdup_kernel::locking::LockAnalysis>(),
                JSON_SCHEMA_VERSION,
            ),
            JsonCommand::Page => (versioned::<super::page::PageJson>(), JSON_SCHEMA_VERSION),
            JsonCommand::Info => (
                versioned::<holdup_kernel::sysinfo::SystemInfo>(),
                JSON_SCHEMA_VERSION,
            ),
            JsonCommand::Log => (
                versioned::<holdup_kernel::printk::Log>(),
                JSON_SCHEMA_VERSION,
            ),
        };
        let title = match self {
            JsonCommand::Report => "holdup DUMP --json".to_string(),
            JsonCommand::Triage => "holdup triage: one line".to_string(),
            c => format!("holdup {} --json", c.name()),
        };
        s.insert("title".into(), title.into());
        s.insert("description".into(), self.what().into());
        s.insert(
            "$id".into(),
            format!("urn:holdup:schema:{}:{version}", self.name()).into(),
        );
        if let Some(p) = s
            .get_mut("properties")
            .and_then(|p| p.get_mut("schema_version"))
            .and_then(|v| v.as_object_mut())
        {
            p.insert("const".into(), version.into());
        }
        s
    }
}

fn versioned<T: JsonSchema + serde::Serialize + 'static>() -> Schema {
    output_schema::<Versioned<'static, T>>()
}

/// The schema of what `T` serializes to (a field skipped when empty is optional), not of
/// what a reader of it would accept.
fn output_schema<T: JsonSchema>() -> Schema {
    SchemaSettings::default()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

pub fn run(command: JsonCommand) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(&command.schema())
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

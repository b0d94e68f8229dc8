//! What a step prints and writes: the summary, each node's usage, the raw samples as
//! CSV, and the table shaped like the published prototype's (rows of node counts,
//! columns submission, confirmation, retrieval).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::local::Usage;
use crate::run::{ms, StepResult};
use crate::stats::Summary;

/// One node's usage over a step: CPU time used in it, memory at its end.
#[derive(Debug, Clone)]
pub struct NodeUsage {
    /// The node's name.
    pub name: String,
    /// CPU time used during the step.
    pub cpu: Duration,
    /// Resident memory at the end.
    pub rss_bytes: u64,
    /// The most resident memory the process ever had.
    pub peak_rss_bytes: u64,
}

impl NodeUsage {
    /// The usage between two readings of one process.
    pub fn between(name: &str, before: Usage, after: Usage) -> NodeUsage {
        NodeUsage {
            name: name.to_string(),
            cpu: after.cpu.saturating_sub(before.cpu),
            rss_bytes: after.rss_bytes,
            peak_rss_bytes: after.peak_rss_bytes,
        }
    }
}

fn line(name: &str, s: Option<Summary>) -> String {
    match s {
        None => format!("  {name:<13} no samples\n"),
        Some(s) => format!(
            "  {name:<13} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  ({} samples)\n",
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
            s.count
        ),
    }
}

/// The step's summary, as printed.
pub fn summary(result: &StepResult, usage: &[NodeUsage]) -> String {
    let c = &result.config;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "step: {:.0} sends/s to {} nodes for {:?} (after {:?} of warm-up, discarded)",
        c.rate, result.nodes, c.duration, c.warmup
    );
    let _ = writeln!(
        out,
        "  sent          {:.1}/s (the open loop started each send at most {:.1} ms late)",
        result.send_rate(),
        ms(result.dispatched.max_late)
    );
    let _ = writeln!(
        out,
        "  throughput    {:.1} committed/s",
        result.throughput()
    );
    out.push_str(&line("submission", result.submission()));
    out.push_str(&line("confirmation", result.confirmation()));
    out.push_str(&line("retrieval", result.retrieval()));
    let failures = result.failures();
    if failures.is_empty() {
        out.push_str("  failures      none\n");
    } else {
        for (reason, n) in failures {
            let _ = writeln!(out, "  failures      {n} × {reason}");
        }
    }
    if !usage.is_empty() {
        let secs = (c.warmup + c.duration).as_secs_f64();
        // Every transaction the step committed, warm-up included: the CPU readings
        // span the whole step.
        let committed = result
            .samples
            .iter()
            .filter(|s| s.confirmation.is_some())
            .count();
        for u in usage {
            let per_tx = if committed > 0 {
                format!(
                    "{:>6.0} µs/committed tx",
                    u.cpu.as_secs_f64() * 1e6 / committed as f64
                )
            } else {
                "     - µs/committed tx".to_string()
            };
            let _ = writeln!(
                out,
                "  {:<13} CPU {:>5.1} % of a core  {per_tx}  RSS {:>6.1} MB (peak {:.1} MB)",
                u.name,
                u.cpu.as_secs_f64() / secs * 100.0,
                u.rss_bytes as f64 / 1e6,
                u.peak_rss_bytes as f64 / 1e6
            );
        }
    }
    out
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or(String::new(), |d| format!("{:.3}", ms(d)))
}

/// Writes every sample as a CSV row.
pub fn write_csv(result: &StepResult, path: &Path) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "index,op,node,sent_ms,warmup,submission_ms,confirmation_ms,retrieval_ms,height,tx,failure"
    )?;
    for s in &result.samples {
        let failure = s
            .failure
            .as_ref()
            .map_or(String::new(), |f| f.to_string().replace(['"', '\n'], " "));
        writeln!(
            out,
            "{},{},{},{:.3},{},{},{},{},{},{},\"{}\"",
            s.index,
            s.op.name(),
            s.node,
            ms(s.sent),
            s.warmup,
            opt_ms(s.submission),
            opt_ms(s.confirmation),
            opt_ms(s.retrieval),
            s.height.map_or(String::new(), |h| h.to_string()),
            s.hash.map_or(String::new(), |h| h.to_string()),
            failure
        )?;
    }
    out.flush()
}

/// The table shaped like the prototype's: one row per network size (or per rate:
/// `first` names the first column), the median and the 99th percentile of each
/// latency, and the throughput.
pub fn size_table(first: &str, rows: &[(String, &StepResult)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| {first} | submission p50 / p99 | confirmation p50 / p99 | retrieval p50 / p99 | throughput |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    let cell = |s: Option<Summary>| {
        s.map_or("–".to_string(), |s| {
            format!("{:.1} / {:.1} ms", ms(s.p50), ms(s.p99))
        })
    };
    for (name, r) in rows {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {:.0}/s |",
            cell(r.submission()),
            cell(r.confirmation()),
            cell(r.retrieval()),
            r.throughput()
        );
    }
    out
}

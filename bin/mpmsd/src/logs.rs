//! Log output: human-readable by default, JSON lines on request; always to stderr so
//! that command output on stdout stays clean. Colours only on a terminal: a file or
//! the journal gets plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Sets up logging. `RUST_LOG` wins over `default_filter` (default "info").
pub fn init(json: bool, default_filter: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter.unwrap_or("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

//! `reel`: the one binary. Parses the command line, sets up logging and hands over to the
//! subcommand; every subcommand lives in its own module under `cmd/`.
//!
//! For a change, open:
//! - **a new CLI verb**: a module in `cmd/` with its clap `Args` and `run`, a variant in
//!   `cmd/mod.rs`'s `Command`, and a section with an example in the README;
//! - **a flag shared by the chain verbs**: `cmd/chain_args.rs` (which chain, which account,
//!   how its transactions are sent); by the node roles: `cmd/node_common.rs`; the
//!   `DURATION` parser both use: `cmd/duration.rs`;
//! - **a new contract parameter**: the contract and its setter in `contracts/src`, then
//!   `./x artifacts`, the deploy default in `reel_contracts::ProtocolParams`, the getter or
//!   transaction in `reel_chain::Protocol`, and the verb in `cmd/stake.rs` or `cmd/gov.rs`.

mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before the runtime's threads exist, so that they share the arenas it sets.
    reel_node::memory::tune_allocator();
    quiet_svt_av1();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("Error: starting the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// SVT-AV1 prints a banner and its settings to stderr for every encoder it opens, one per
/// AV1 segment; keep it to errors unless the operator set `SVT_LOG` itself.
#[allow(unsafe_code)]
fn quiet_svt_av1() {
    if std::env::var_os("SVT_LOG").is_none() {
        // SAFETY: called at the top of `main`, before any other thread exists.
        unsafe { std::env::set_var("SVT_LOG", "1") };
    }
}

async fn run() -> ExitCode {
    let cli = cmd::Cli::parse();
    init_tracing(cli.verbose);
    match cli.command.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The cause chain, one line each; no backtrace (RUST_BACKTRACE is for developers
            // and `-vv` shows the details that matter).
            eprintln!("Error: {err}");
            let mut causes = err.chain().skip(1).peekable();
            if causes.peek().is_some() {
                eprintln!("\nCaused by:");
                for cause in causes {
                    eprintln!("    {cause}");
                }
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr; `RUST_LOG` overrides the default, `-v` raises it.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "info,alloy=warn,hyper=warn,reqwest=warn",
        1 => "debug,alloy=info,hyper=info,reqwest=info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

//! hail-loadgen: drives running Hail instances the way riders and drivers do, over HTTP and
//! `/ws`, and prints one JSON line of what it measured. `scripts/bench.sh` runs it against two
//! release instances and writes BENCHMARKS.md; by hand:
//!
//! ```sh
//! cargo run --release --features ssr --bin hail-loadgen -- rides \
//!   --rider-url http://127.0.0.1:3100 --driver-url http://127.0.0.1:3101 \
//!   --rides 100 --phase 100x5:10 --pid hail-a=1234 --pid hail-b=1235 --pid redis=1200
//! ```
//!
//! Modes: `rides` (accepted rides whose drivers stream positions to their riders, in phases of
//! a given rate, latency matched by ride and coordinates on this process's clock), `idle`
//! (memory per idle logged-in socket), `session` (a location written on one instance and read
//! on the other), `page` (a server-rendered page), `nearby` (free drivers' positions pushed per
//! map cell, measured without and with riders watching). Every mode can report the CPU and resident
//! memory of the server processes named with `--pid`, and its own CPU.

mod http;
mod nearby;
mod procfs;
mod rides;
mod stats;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generator for Hail: rides, idle sockets, sessions, pages")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Accepted rides whose drivers stream positions to their riders over /ws.
    Rides(rides::RidesArgs),
    /// Idle logged-in sockets: resident memory per socket.
    Idle(rides::IdleArgs),
    /// A location saved on one instance and read back on the other.
    Session(http::SessionArgs),
    /// A server-rendered page, logged in.
    Page(http::PageArgs),
    /// Free drivers' positions pushed per map cell, without and with riders watching.
    Nearby(nearby::NearbyArgs),
}

/// What every mode takes.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// A server process to measure, as NAME=PID (repeatable).
    #[arg(long = "pid", value_parser = procfs::parse_named_pid)]
    pids: Vec<(String, u32)>,
    /// Sign-ups in flight at once (each is an Argon2 hash on the server).
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the generator must stay cheap next to the servers it measures.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let line = runtime.block_on(async {
        match cli.mode {
            Mode::Rides(args) => rides::rides(args).await,
            Mode::Idle(args) => rides::idle(args).await,
            Mode::Session(args) => http::session(args).await,
            Mode::Page(args) => http::page(args).await,
            Mode::Nearby(args) => nearby::nearby(args).await,
        }
    })?;
    println!("{line}");
    Ok(())
}

//! `costrouter`: the routing core as a command-line tool.
//!
//! ```text
//! costrouter policy check [--catalog FILE] [--pricing FILE] PATH...    validate policies (files or directories)
//! costrouter route --policy FILE [--catalog F] [--pricing F] < requests.jsonl
//! costrouter audit --policy FILE [--catalog F] [--pricing F] calls.jsonl [--json]
//! ```
//! `route` prints one JSON decision per input line. `audit` replays an export of past calls
//! through a policy and reports what the spend would have been, per task class.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::run(&args, &mut std::io::stdin().lock(), &mut std::io::stdout().lock()) {
        Ok(code) => std::process::exit(code),
        Err(message) => {
            eprintln!("costrouter: {message}");
            std::process::exit(2);
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    pub use costrouter::cli::run;
}

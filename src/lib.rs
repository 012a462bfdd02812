//! costrouter: an OpenAI-compatible LLM cost router that runs as a Cloudflare Worker.
//!
//! The crate is a plain-Rust core (request parsing, provider translation, pricing, routing) with
//! a thin edge layer in [`edge`] that is the only code touching `worker` types. The core builds
//! and tests natively with `cargo test`; the edge builds only for wasm32.

pub mod alerts;
pub mod api;
pub mod attribution;
pub mod budget;
pub mod calendar;
pub mod cache;
pub mod catalog;
pub mod client_address;
pub mod dashboard;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod events;
pub mod finish_queue;
pub mod forecast;
pub mod json_duplicates;
pub mod loopback;
pub mod money;
pub mod pricing;
pub mod providers;
pub mod receipt;
pub mod recommend;
pub mod report_days;
pub mod report_scope;
pub mod rollup;
pub mod routing;
pub mod semantic;
pub mod stream;
pub mod tenants;
pub mod tokens;
pub mod uncontrolled_tenants;
pub mod usage;

#[cfg(all(target_arch = "wasm32", feature = "edge"))]
mod edge;

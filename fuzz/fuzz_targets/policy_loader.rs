//! The policy loader: TOML text → validated `Policy`, with the catalog's real model names.
//! A refusal names a line inside the text and says why; an accepted policy loads identically
//! again (there is no serializer back to TOML to round-trip through), and matching requests
//! against it and picking split candidates stay in bounds.
#![no_main]

use costrouter::catalog::Catalog;
use costrouter::routing::policy::{split_pick, Action, Facts, Policy};
use costrouter_fuzz::seed_catalog;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static CATALOG: OnceLock<Catalog> = OnceLock::new();

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let catalog = CATALOG.get_or_init(seed_catalog);
    match Policy::from_toml("fuzz.toml", text, catalog) {
        Err(e) => {
            assert!(!e.message.trim().is_empty(), "an error without a message");
            let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
            assert!((1..=lines).contains(&e.line), "error at line {} of a {lines}-line text", e.line);
        }
        Ok(policy) => {
            assert_eq!(Policy::from_toml("fuzz.toml", text, catalog).ok().as_ref(), Some(&policy), "loading is not deterministic");
            assert!(!policy.rules.is_empty());
            for facts in [Facts::default(), Facts { model: "gpt-4o".into(), difficulty: 0.9, prompt_tokens: 5000, now_unix: 23 * 3600, ..Facts::default() }] {
                let _ = policy.first_match(&facts);
            }
            for rule in &policy.rules {
                if let Action::Route(route) = &rule.action {
                    if !route.weights.is_empty() {
                        assert!(split_pick(&route.candidates, &route.weights, "fuzz-user") < route.weights.len());
                    }
                }
            }
        }
    }
});

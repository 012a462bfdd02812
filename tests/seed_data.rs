//! The shipped configuration must load: a typo in kv-seed/ would otherwise surface only at the edge.

use costrouter::catalog::Catalog;
use costrouter::money::Usd;
use costrouter::pricing::PriceTable;

#[test]
fn shipped_catalog_and_pricing_load_and_agree() {
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).expect("kv-seed/catalog.json");
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).expect("kv-seed/pricing.json");
    catalog.check_prices(&prices).expect("every model has a price");
    assert!(catalog.resolve("gpt4o").is_some());
}

#[test]
fn the_flagship_models_clients_name_are_seeded_at_litellms_prices() {
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
    // (name a client sends, $ per million input, $ per million output), LiteLLM 1.110.2's rows.
    for (name, input, output) in [
        ("claude-opus-4-7", 5.0, 25.0),
        ("claude-opus-4-7-20260416", 5.0, 25.0),
        ("claude-opus-4-8", 5.0, 25.0),
        ("claude-opus-5", 5.0, 25.0),
        ("claude-sonnet-5", 2.0, 10.0),
        ("claude-opus-5-5", 4.0, 20.0),
        ("claude-sonnet-5-5", 2.0, 10.0),
        ("claude-haiku-5-5", 0.1, 0.5),
        ("gpt-5.4", 2.5, 15.0),
        ("gpt-5.5", 5.0, 30.0),
        ("gpt-5.6", 4.0, 20.0),
        ("gpt-6-luna", 0.1, 0.5),
        ("gpt-6-sol", 2.0, 10.0),
        ("gpt-6.1-sol", 2.0, 10.0),
        ("gpt-6.1-terra", 1.0, 5.0),
        ("gemini-3.8-flash", 0.75, 3.75),
        ("deepseek-v4-pro", 1.32, 3.96),
        ("gemini-3.1-pro", 2.0, 12.0),
    ] {
        let model = catalog.resolve(name).unwrap_or_else(|| panic!("{name} is not in the catalog"));
        let price = prices.get(&model.price_key).unwrap_or_else(|| panic!("{} has no price", model.price_key));
        let per_million = |usd: f64| Usd::per_token_from_per_million(usd).unwrap();
        assert_eq!((price.base.input, price.base.output), (per_million(input), per_million(output)), "{name}");
    }
}

#[test]
fn shipped_policies_load_against_the_catalog() {
    use costrouter::routing::policy::Policy;
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        Policy::from_toml(&path.display().to_string(), &text, &catalog).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A seeded Claude row says it reasons (its savings baselines keep thinking tokens) exactly when
/// the Anthropic adapter expects its model to think unasked: the row and the adapter agree.
#[test]
fn seeded_claude_rows_reason_as_the_anthropic_adapter_sends_them() {
    use costrouter::catalog::ProviderKind;
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).unwrap();
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
    let mut claude_rows = 0;
    for (name, model) in catalog.public_names() {
        for deployment in &model.deployments {
            if catalog.providers[&deployment.provider].kind != ProviderKind::Anthropic {
                continue;
            }
            claude_rows += 1;
            let row = prices.get(model.price_key_of(deployment)).unwrap();
            let thinks = costrouter::providers::anthropic::thinks_unasked(&deployment.upstream_model);
            assert_eq!(row.supports_reasoning, thinks, "{name}: the row says reasoning {}, the adapter {thinks}", row.supports_reasoning);
        }
    }
    assert!(claude_rows >= 10, "{claude_rows}");
}

/// Every seeded price is LiteLLM 1.110.2's for the same model, as this router reads LiteLLM's
/// rows (`tests/data/`: each seeded row's LiteLLM row, price and limit fields only): every band,
/// every processing tier, the off-peak rates and the output cap. A price copied by hand into
/// `kv-seed/pricing.json` cannot drift from its source unseen.
#[test]
fn seeded_prices_are_litellms() {
    use costrouter::usage::ServiceTier;
    let fixture: serde_json::Value = serde_json::from_str(include_str!("data/litellm_1_110_2_seeded_rows.json")).unwrap();
    let seeded = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).unwrap();
    let mut differences = Vec::new();
    let rows = fixture["rows"].as_object().unwrap();
    for (name, entry) in rows {
        let key = entry["litellm_key"].as_str().unwrap();
        let theirs = PriceTable::from_json(&serde_json::json!({ key: entry["row"] }).to_string()).unwrap_or_else(|e| panic!("{key}: {e}"));
        let (ours, theirs) = (seeded.get(name).unwrap_or_else(|| panic!("{name} is not seeded")), theirs.get(key).unwrap());
        let mut prompts = vec![1000];
        prompts.extend(ours.tiers.iter().chain(&theirs.tiers).map(|t| t.above_input_tokens + 1));
        // Known and meant: the Gemini adapter reads no processing tier from Gemini's answers (its
        // rows seed none: every Gemini call bills as standard), and Claude Sonnet 4.5's 1M window
        // needs a beta header the router does not send (its row keeps Anthropic's long-context
        // band in case it ever serves a longer prompt; LiteLLM's row has none).
        let tiers: &[ServiceTier] = if key.starts_with("gemini/") { &[ServiceTier::Standard] } else { &[ServiceTier::Standard, ServiceTier::Priority, ServiceTier::Flex, ServiceTier::Ultrafast] };
        if name == "claude-sonnet-4-5" {
            prompts.retain(|&p| p <= 200_000);
        }
        for &tier in tiers {
            for &prompt in &prompts {
                if ours.rates_at(tier, prompt) != theirs.rates_at(tier, prompt) {
                    differences.push(format!("{name} ({key}) {tier:?} at {prompt}: ours {:?}, theirs {:?}", ours.rates_at(tier, prompt), theirs.rates_at(tier, prompt)));
                }
            }
        }
        if ours.off_peak.as_ref().map(|o| o.rates) != theirs.off_peak.as_ref().map(|o| o.rates) {
            differences.push(format!("{name} ({key}) off-peak: ours {:?}, theirs {:?}", ours.off_peak, theirs.off_peak));
        }
        if ours.max_output_tokens != theirs.max_output_tokens {
            differences.push(format!("{name} ({key}) max_output_tokens: ours {:?}, theirs {:?}", ours.max_output_tokens, theirs.max_output_tokens));
        }
    }
    assert!(rows.len() >= 37, "{}", rows.len());
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}

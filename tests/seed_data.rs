//! The shipped configuration must load: a typo in kv-seed/ would otherwise surface only at the edge.

use costrouter::catalog::Catalog;
use costrouter::pricing::PriceTable;

#[test]
fn shipped_catalog_and_pricing_load_and_agree() {
    let catalog = Catalog::from_json(include_str!("../kv-seed/catalog.json")).expect("kv-seed/catalog.json");
    let prices = PriceTable::from_json(include_str!("../kv-seed/pricing.json")).expect("kv-seed/pricing.json");
    catalog.check_prices(&prices).expect("every model has a price");
    assert!(catalog.resolve("gpt4o").is_some());
}

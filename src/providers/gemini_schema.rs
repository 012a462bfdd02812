//! JSON Schema (as OpenAI clients send it in `response_format` and tool parameters) to Gemini's
//! `Schema` object, the OpenAPI 3.0 subset `responseSchema` and `functionDeclarations[].parameters`
//! accept. Gemini answers 400 to a keyword outside that subset, and Pydantic and Zod emit several
//! (`$defs`/`$ref`, `anyOf` with `null`, `const`, `type` lists), so the schema is rewritten, not
//! just filtered:
//! - `$ref` to `#/$defs/...` or `#/definitions/...` is inlined (Gemini's `Schema` has no
//!   references); a schema whose definitions refer to each other in a cycle goes as JSON Schema,
//!   and so does one whose inlining would outgrow the request's budget or twice its own size;
//! - `null` in `type` lists and in `anyOf`/`oneOf` becomes `nullable`; a single remaining
//!   alternative is merged into its parent; `oneOf` becomes `anyOf`;
//! - `allOf` members are merged (properties joined, `required` united);
//! - `const` becomes a one-value `enum`; enums keep their string values only (Gemini's enums are
//!   strings);
//! - `format` is kept only where Gemini accepts it; every other keyword outside the subset
//!   (`additionalProperties`, `$schema`, `title`, `examples`, `patternProperties`, ...) is dropped.
//!
//! A schema with a free-form object somewhere (no properties), which `Schema` cannot hold, is sent
//! as JSON Schema in the fields that take it (`responseJsonSchema`, `parametersJsonSchema`).

use serde_json::{Map, Value};

/// The `Schema` fields Gemini accepts (besides `anyOf`, `items` and `properties`, recursed into).
const KEPT: &[&str] = &[
    "type", "format", "description", "nullable", "enum", "maxItems", "minItems", "required", "minProperties", "maxProperties",
    "minLength", "maxLength", "pattern", "example", "default", "minimum", "maximum", "propertyOrdering",
];

/// How deep `$ref`s are followed: enough for real nesting. Recursive schemas never get here
/// (see [`converted_within`]); a chain of definitions deeper than this ends in an untyped
/// object, which sends the schema as JSON Schema.
const MAX_REF_DEPTH: usize = 8;

/// Whether Gemini's `Schema` holds a converted schema as it is. It refuses an OBJECT with no
/// properties ("should be non-empty for OBJECT type"), and free-form maps are common: Pydantic's
/// `dict[str, str]`, an MCP tool's `{"type": "object"}` argument. Such a schema goes in the
/// `*JsonSchema` field instead (see [`as_json_schema`]).
pub fn fits_gemini_schema(converted: &Value) -> bool {
    let Value::Object(obj) = converted else { return true };
    let is_object = obj.get("type").and_then(Value::as_str) == Some("object");
    let properties = obj.get("properties").and_then(Value::as_object);
    if is_object && properties.is_none_or(Map::is_empty) {
        return false;
    }
    properties.into_iter().flat_map(Map::values).all(fits_gemini_schema)
        && obj.get("items").is_none_or(fits_gemini_schema)
        && obj.get("anyOf").and_then(Value::as_array).into_iter().flatten().all(fits_gemini_schema)
}

/// Where a client's schema goes for Gemini.
#[derive(Debug, PartialEq)]
pub enum GeminiSchema {
    /// Converted for the `Schema` fields (`parameters`, `responseSchema`).
    Schema(Value),
    /// As JSON Schema for the `*JsonSchema` fields.
    JsonSchema(Value),
}

/// `schema` in the form Gemini holds faithfully: its `Schema` when the conversion keeps every
/// constraint, else JSON Schema — for a free-form object (see [`fits_gemini_schema`]) and for an
/// `enum` or `const` that is not all strings (`"enum": [1, 2, 3]`), which `Schema` cannot say
/// (its enums are strings) and the conversion would drop, letting the model answer 7.
pub fn for_gemini(schema: &Value, budget: &mut ConversionBudget) -> GeminiSchema {
    match converted_within(schema, &mut budget.memory) {
        Some(converted) if fits_gemini_schema(&converted) && !has_non_string_choices(schema) && grows_within(schema, &converted, &mut budget.growth_slack) => {
            GeminiSchema::Schema(converted)
        }
        _ => GeminiSchema::JsonSchema(as_json_schema(schema)),
    }
}

/// Whether an `enum` or `const` anywhere in `schema` (definitions included) holds a value that is
/// not a string.
fn has_non_string_choices(schema: &Value) -> bool {
    match schema {
        Value::Object(obj) => {
            obj.get("enum").and_then(Value::as_array).is_some_and(|values| values.iter().any(|v| !v.is_string()))
                || obj.get("const").is_some_and(|v| !v.is_string())
                || obj.values().any(has_non_string_choices)
        }
        Value::Array(items) => items.iter().any(has_non_string_choices),
        _ => false,
    }
}

/// Whether a function's parameters declare no arguments at all (`{"type": "object"}`, with
/// empty `properties` or `required` at most): Gemini is then told of no parameters, as its
/// `Schema` refuses an object without properties. Anything more (`additionalProperties` other
/// than false, alternatives, a `$ref`) is a schema, sent as one.
pub fn takes_no_arguments(schema: &Value) -> bool {
    let Some(obj) = schema.as_object() else { return false };
    obj.iter().all(|(k, v)| match k.as_str() {
        "type" => v == "object",
        "properties" => v.as_object().is_some_and(Map::is_empty),
        "required" => v.as_array().is_some_and(Vec::is_empty),
        "additionalProperties" => v == false,
        "$schema" | "title" | "description" => true,
        _ => false,
    })
}

/// The client's schema for Gemini's `parametersJsonSchema` / `responseJsonSchema`, which take
/// JSON Schema itself (free-form objects and `additionalProperties` included), less the
/// `$schema` marker.
pub fn as_json_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(obj) = &mut schema {
        obj.remove("$schema");
    }
    schema
}

/// The Gemini form of `schema` (an untyped object if it would be larger than [`BUDGET`]).
#[cfg(test)]
fn to_gemini_schema(schema: &Value) -> Value {
    converted_within(schema, &mut ConversionBudget::for_request().memory).unwrap_or_else(|| serde_json::json!({"type": "object"}))
}

/// What inlining may build for one request, all its schemas together (each tool's parameters
/// and the response format), in units of a node ([`NODE_COST`], about what one takes in wasm
/// memory) plus the bytes of the text it copies: about 4 MB. A definition that refers to itself
/// k times grows as k to the power of [`MAX_REF_DEPTH`] when inlined: five self-references in
/// a 400-byte schema made 300 MB, and a budget per schema let ten such tools pass 128 MB. A
/// schema past it goes as JSON Schema, whose `$ref`s Gemini follows itself.
const BUDGET: usize = 4 << 20;
const NODE_COST: usize = 256;

/// What is left of a request's [`BUDGET`], and of its [`INLINED_SLACK_BYTES`].
pub struct ConversionBudget {
    memory: usize,
    growth_slack: usize,
}

impl ConversionBudget {
    pub fn for_request() -> ConversionBudget {
        ConversionBudget { memory: BUDGET, growth_slack: INLINED_SLACK_BYTES }
    }
}

/// The Gemini form of `schema`, or `None` when it would outgrow what is left of `budget`
/// (which keeps what this conversion spent: a failed one leaves the next schemas less).
fn converted_within(schema: &Value, budget: &mut usize) -> Option<Value> {
    let defs = definitions(schema);
    // A recursive schema cannot be inlined whole: cut at a depth, its leaves would be untyped
    // objects, which `Schema` refuses, so it goes as JSON Schema without the inlining's cost.
    if super::schema_refs::has_cycle(&defs) {
        return None;
    }
    let converted = convert(schema, &defs, 0, budget);
    (*budget > 0).then_some(converted)
}

/// Whether `converted`, the Gemini form of `schema`, is at most [`MAX_INLINED_GROWTH`] times its
/// size, the excess taken out of `slack` (the request's, all its schemas together) when it is
/// larger. Gemini bills the schema it is sent as prompt, and the request's budget hold bounds the
/// prompt by the bytes the client sent: inlined many times over, a definition could be billed a
/// hundred times what was held (a 14 KB schema became 3.3 MB). Only a schema with definitions
/// grows.
fn grows_within(schema: &Value, converted: &Value, slack: &mut usize) -> bool {
    if !has_definitions(schema) {
        return true;
    }
    let allowed = MAX_INLINED_GROWTH * json_len(schema);
    let excess = json_len(converted).saturating_sub(allowed);
    if excess > *slack {
        return false;
    }
    *slack -= excess;
    true
}

/// How much larger than the client's schema its inlined form may be: a token takes several
/// bytes, so twice the bytes stays within the hold's bound of a token per byte sent.
const MAX_INLINED_GROWTH: usize = 2;
/// What the request's schemas together may grow past [`MAX_INLINED_GROWTH`] (a small schema
/// whose one definition is used a few times), about a thousand tokens.
const INLINED_SLACK_BYTES: usize = 4096;

/// The length of `value` as JSON, without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("a Value always serializes");
    count.0
}

/// Takes the cost of a copy out of `budget`.
fn spend(budget: &mut usize, cost: usize) {
    *budget = budget.saturating_sub(cost);
}

/// `true`: any value (a tuple's missing first item stands for it).
const ANYTHING: Value = Value::Bool(true);

/// What copying a keyword value allocates: a `Value` for each element (48 bytes in wasm, 72
/// natively) and the bytes of its strings and keys. An enum of 20,000 empty strings is 20,000
/// values, whatever its text.
fn copy_cost(value: &Value) -> usize {
    const VALUE: usize = 64;
    VALUE
        + match value {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(copy_cost).sum::<usize>(),
            Value::Object(map) => map.iter().map(|(k, v)| k.len() + VALUE + copy_cost(v)).sum::<usize>(),
            _ => 0,
        }
}

/// Whether `root` defines anything its references could inline (what [`definitions`] would
/// collect, without cloning it).
fn has_definitions(root: &Value) -> bool {
    ["$defs", "definitions"].iter().any(|key| matches!(root.get(key), Some(Value::Object(d)) if !d.is_empty()))
}

fn definitions(root: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = root.get(key) {
            for (name, s) in d {
                defs.insert(format!("#/{key}/{name}"), s.clone());
            }
        }
    }
    defs
}

fn convert(schema: &Value, defs: &Map<String, Value>, depth: usize, budget: &mut usize) -> Value {
    // Spent: what is built from here on is thrown away (the schema goes as JSON Schema).
    if *budget == 0 {
        return Value::Null;
    }
    spend(budget, NODE_COST);
    let Value::Object(obj) = schema else {
        // `true` / `{}`: anything. Gemini needs a type; an object is the loosest it has.
        return serde_json::json!({"type": "object"});
    };
    if let Some(target) = obj.get("$ref").and_then(Value::as_str) {
        let resolved = match defs.get(target) {
            Some(def) if depth < MAX_REF_DEPTH => convert(def, defs, depth + 1, budget),
            _ => serde_json::json!({"type": "object"}),
        };
        // Siblings of a `$ref` (a description, say) still apply.
        return if obj.len() == 1 { resolved } else { merge(resolved, Value::Object(convert_fields(obj, defs, depth, budget))) };
    }
    Value::Object(convert_fields(obj, defs, depth, budget))
}

/// The fields of a schema object but its `$ref`, converted; every copy it makes is taken out of
/// `budget`.
fn convert_fields(obj: &Map<String, Value>, defs: &Map<String, Value>, depth: usize, budget: &mut usize) -> Map<String, Value> {
    let mut out = Map::new();
    let mut nullable = obj.get("nullable").and_then(Value::as_bool).unwrap_or(false);
    for (key, value) in obj {
        match key.as_str() {
            "$ref" => {}
            "type" => match value {
                Value::Array(types) => {
                    let named: Vec<&Value> = types.iter().filter(|t| t.as_str() != Some("null")).collect();
                    nullable |= named.len() < types.len();
                    // A union of types becomes one schema object each.
                    spend(budget, copy_cost(value) + NODE_COST * named.len());
                    match named.as_slice() {
                        [one] => {
                            out.insert("type".into(), (*one).clone());
                        }
                        [] => {}
                        many => {
                            let alternatives = many.iter().map(|t| serde_json::json!({"type": t})).collect();
                            out.insert("anyOf".into(), Value::Array(alternatives));
                        }
                    }
                }
                Value::String(t) if t == "null" => nullable = true,
                other => {
                    spend(budget, copy_cost(other));
                    out.insert("type".into(), other.clone());
                }
            },
            "properties" => {
                if let Value::Object(props) = value {
                    // Property names are the caller's data, kept as they are.
                    let converted = props
                        .iter()
                        .map(|(n, s)| {
                            spend(budget, n.len());
                            (n.clone(), convert(s, defs, depth, budget))
                        })
                        .collect();
                    out.insert("properties".into(), Value::Object(converted));
                }
            }
            "items" => {
                // A tuple (`items` as a list, or `prefixItems`) has no Gemini form: its first type stands for all.
                let item = match value {
                    Value::Array(list) => list.first().unwrap_or(&ANYTHING),
                    other => other,
                };
                out.insert("items".into(), convert(item, defs, depth, budget));
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(list) = value {
                    let mut alternatives = Vec::new();
                    for member in list {
                        if member.get("type").and_then(Value::as_str) == Some("null") && member.as_object().is_some_and(|m| m.len() == 1) {
                            nullable = true;
                        } else {
                            alternatives.push(convert(member, defs, depth, budget));
                        }
                    }
                    match alternatives.len() {
                        0 => {}
                        1 => out = into_map(merge(Value::Object(out), alternatives.pop().unwrap_or_default())),
                        _ => {
                            out.insert("anyOf".into(), Value::Array(alternatives));
                        }
                    }
                }
            }
            "allOf" => {
                if let Value::Array(list) = value {
                    for member in list {
                        out = into_map(merge(Value::Object(out), convert(member, defs, depth, budget)));
                    }
                }
            }
            "const" => {
                if let Value::String(s) = value {
                    spend(budget, s.len());
                    out.insert("enum".into(), Value::Array(vec![Value::String(s.clone())]));
                    out.entry("type").or_insert_with(|| Value::String("string".into()));
                }
            }
            "enum" => {
                spend(budget, copy_cost(value));
                if *budget == 0 {
                    continue;
                }
                let strings: Vec<Value> = value.as_array().into_iter().flatten().filter(|v| v.is_string()).cloned().collect();
                if !strings.is_empty() && strings.len() == value.as_array().map_or(0, Vec::len) {
                    out.insert("enum".into(), Value::Array(strings));
                }
            }
            "format" if value.as_str().is_some_and(|f| ["enum", "date-time", "int32", "int64", "float", "double"].contains(&f)) => {
                spend(budget, copy_cost(value));
                out.insert("format".into(), value.clone());
            }
            // Other formats (`email`, `uri`, ...) are refused by Gemini; `nullable` is settled below.
            "format" | "nullable" => {}
            k if KEPT.contains(&k) => {
                spend(budget, copy_cost(value));
                out.insert(k.to_string(), value.clone());
            }
            _ => {}
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    // `required` may only name properties that exist (Gemini checks).
    if let (Some(Value::Array(required)), Some(Value::Object(props))) = (out.get("required").cloned(), out.get("properties")) {
        let kept: Vec<Value> = required.into_iter().filter(|r| r.as_str().is_some_and(|n| props.contains_key(n))).collect();
        out.insert("required".into(), Value::Array(kept));
    } else if out.get("properties").is_none() {
        out.remove("required");
    }
    out
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `extra`'s fields added to `base`: properties joined, `required` united, the rest `base` first.
fn merge(base: Value, extra: Value) -> Value {
    let (Value::Object(mut base), Value::Object(extra)) = (base, extra) else { return Value::Object(Map::new()) };
    for (key, value) in extra {
        match (key.as_str(), base.get_mut(&key), value) {
            ("properties", Some(Value::Object(mine)), Value::Object(theirs)) => mine.extend(theirs),
            ("required", Some(Value::Array(mine)), Value::Array(theirs)) => {
                for r in theirs {
                    if !mine.contains(&r) {
                        mine.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                base.insert(key, value);
            }
        }
    }
    Value::Object(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pydantic_optional_and_nested_models_become_gemini_schema() {
        // What Pydantic v2 emits for `class A(BaseModel): x: int` and
        // `class M(BaseModel): a: A; b: str | None = None; kind: Literal["m"]; tags: list[str]`.
        let pydantic = json!({
            "$defs": {"A": {"properties": {"x": {"title": "X", "type": "integer"}}, "required": ["x"], "title": "A", "type": "object", "additionalProperties": false}},
            "properties": {
                "a": {"$ref": "#/$defs/A", "description": "the nested one"},
                "b": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "B"},
                "kind": {"const": "m", "title": "Kind"},
                "tags": {"items": {"type": "string", "format": "email"}, "title": "Tags", "type": "array"}
            },
            "required": ["a", "kind", "tags"], "title": "M", "type": "object", "additionalProperties": false,
            "$schema": "https://json-schema.org/draft/2020-12/schema"
        });
        assert_eq!(
            to_gemini_schema(&pydantic),
            json!({
                "type": "object",
                "required": ["a", "kind", "tags"],
                "properties": {
                    "a": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"], "description": "the nested one"},
                    "b": {"type": "string", "default": null, "nullable": true},
                    "kind": {"type": "string", "enum": ["m"]},
                    "tags": {"type": "array", "items": {"type": "string"}}
                }
            })
        );
    }

    #[test]
    fn type_lists_unions_all_of_and_recursion() {
        assert_eq!(to_gemini_schema(&json!({"type": ["integer", "null"]})), json!({"type": "integer", "nullable": true}));
        assert_eq!(
            to_gemini_schema(&json!({"oneOf": [{"type": "string"}, {"type": "integer"}]})),
            json!({"anyOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(
            to_gemini_schema(&json!({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                                               {"properties": {"b": {"type": "number"}}, "required": ["b"]}]})),
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}}, "required": ["a", "b"]})
        );
        // A tree node that refers to itself has no `Schema` form (it has no references): it goes
        // as JSON Schema, which has.
        let tree = json!({"$ref": "#/definitions/Node", "definitions": {"Node": {"type": "object",
            "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/Node"}}}}}});
        assert_eq!(for_gemini(&tree, &mut ConversionBudget::for_request()), GeminiSchema::JsonSchema(tree.clone()));
        // Numeric enums have no Gemini form; the type stays.
        assert_eq!(to_gemini_schema(&json!({"type": "integer", "enum": [1, 2]})), json!({"type": "integer"}));
        // `required` names only properties that are there.
        assert_eq!(
            to_gemini_schema(&json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]})),
            json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]})
        );
    }

    #[test]
    fn property_names_are_data() {
        // A property called "additionalProperties" or "$ref" is the caller's field, not a keyword.
        let s = json!({"type": "object", "properties": {"additionalProperties": {"type": "string"}, "title": {"type": "string"}}});
        assert_eq!(to_gemini_schema(&s), s);
    }

    #[test]
    fn what_schema_cannot_hold_goes_as_json_schema() {
        let strings = json!({"type": "object", "properties": {"label": {"type": "string", "enum": ["spam", "ham"]}}});
        assert_eq!(for_gemini(&strings, &mut ConversionBudget::for_request()), GeminiSchema::Schema(strings.clone()));
        for lossy in [
            json!({"type": "object", "properties": {"rating": {"type": "integer", "enum": [1, 2, 3, 4, 5]}}}),
            json!({"type": "object", "properties": {"version": {"const": 0}}}),
            json!({"type": "object", "properties": {"x": {"$ref": "#/$defs/X"}}, "$defs": {"X": {"enum": [true, "maybe"]}}}),
            json!({"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}),
        ] {
            assert_eq!(for_gemini(&lossy, &mut ConversionBudget::for_request()), GeminiSchema::JsonSchema(lossy.clone()), "{lossy}");
        }
        for none in [json!({"type": "object"}), json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false, "title": "NoArgs"})] {
            assert!(takes_no_arguments(&none), "{none}");
        }
        for some in [json!({"type": "object", "additionalProperties": {"type": "string"}}), json!({"anyOf": [{"type": "object"}]}), json!({"type": "object", "properties": {"q": {}}})] {
            assert!(!takes_no_arguments(&some), "{some}");
        }
    }

    #[test]
    fn a_schema_that_would_grow_past_the_budget_goes_as_json_schema() {
        // A definition referring to itself eight times: inlined to depth 8 it would be 8^8 nodes.
        let props: serde_json::Map<String, Value> = (0..8).map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/A"}))).collect();
        let schema = json!({"type": "object", "$defs": {"A": {"type": "object", "properties": props}}, "properties": {"a": {"$ref": "#/$defs/A"}}});
        let mut budget = BUDGET;
        assert_eq!(converted_within(&schema, &mut budget), None);
        assert_eq!(budget, BUDGET, "a recursive schema is not inlined at all");
        assert!(matches!(for_gemini(&schema, &mut ConversionBudget::for_request()), GeminiSchema::JsonSchema(_)));
        // Without recursion, what each inlining copies counts: a long description, a long enum,
        // a long constant or property name, referred to from many places.
        let many_refs = |def: Value| {
            let props: serde_json::Map<String, Value> = (0..200).map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/D"}))).collect();
            json!({"type": "object", "$defs": {"D": def}, "properties": props})
        };
        let big = "d".repeat(50_000);
        let enum_values: Vec<String> = (0..5_000).map(|i| format!("v{i}")).collect();
        for def in [
            json!({"type": "string", "description": big}),
            json!({"type": "string", "enum": enum_values}),
            // Empty strings copy nothing but each is a value.
            json!({"type": "string", "enum": vec![""; 20_000]}),
            json!({"type": vec![""; 20_000]}),
            json!({"type": "object", "properties": {"": {"type": "string"}}, "required": vec![""; 20_000]}),
            json!({"const": big}),
            json!({"type": "object", "properties": {big.clone(): {"type": "string"}}}),
            json!({"type": big}),
        ] {
            assert_eq!(converted_within(&many_refs(def.clone()), &mut BUDGET.clone()), None, "{}", &def.to_string()[..60]);
        }
        // The same through a chain of definitions, each referring eight times to the next.
        let chain = json!({"type": "object", "properties": {"r": {"$ref": "#/$defs/D0"}}, "$defs": {
            "D0": {"type": "object", "properties": (0..8).map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/D1"}))).collect::<serde_json::Map<_, _>>()},
            "D1": {"type": "object", "properties": (0..8).map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/E"}))).collect::<serde_json::Map<_, _>>()},
            "E": {"type": "string", "enum": vec![""; 20_000]}}});
        assert_eq!(converted_within(&chain, &mut BUDGET.clone()), None);
        // Sent (and billed as prompt) far larger than the client's schema, which the budget's
        // hold counts: a 13 KB definition behind a chain of definitions each referring twice to
        // the next, 2^7 copies (1.7 MB, within the memory budget).
        let mut defs: serde_json::Map<String, Value> = (0..7).map(|i| (format!("D{i}"), json!({"type": "object", "properties": {"l": {"$ref": format!("#/$defs/D{}", i + 1)}, "r": {"$ref": format!("#/$defs/D{}", i + 1)}}}))).collect();
        defs.insert("D7".into(), json!({"type": "string", "description": "d".repeat(13_000)}));
        let doubling = json!({"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/D0"}}});
        assert!(converted_within(&doubling, &mut BUDGET.clone()).is_some(), "within the memory budget");
        assert!(matches!(for_gemini(&doubling, &mut ConversionBudget::for_request()), GeminiSchema::JsonSchema(_)));
        // The slack past twice a schema's size is the request's: one schema growing by 3 KB
        // past it converts, a second one no longer does.
        let defs: serde_json::Map<String, Value> = [("D".to_string(), json!({"type": "string", "description": "d".repeat(500)}))].into_iter().collect();
        let props: serde_json::Map<String, Value> = (0..8).map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/D"}))).collect();
        let eightfold = json!({"type": "object", "$defs": defs, "properties": props});
        let mut budget = ConversionBudget::for_request();
        assert!(matches!(for_gemini(&eightfold, &mut budget), GeminiSchema::Schema(_)));
        assert!(matches!(for_gemini(&eightfold, &mut budget), GeminiSchema::JsonSchema(_)));
        // Referred to a few times, the same definitions convert.
        let few: serde_json::Map<String, Value> = (0..3).map(|i| (format!("p{i}"), json!({"$ref": "#/$defs/D"}))).collect();
        let small = json!({"type": "object", "$defs": {"D": {"type": "string", "enum": ["a", "b"], "description": "x".repeat(1_000)}}, "properties": few});
        assert!(converted_within(&small, &mut BUDGET.clone()).is_some());
        // An ordinary nested schema is converted as before.
        let nested = json!({"type": "object", "$defs": {"B": {"type": "object", "properties": {"n": {"type": "integer"}}}},
            "properties": {"b": {"$ref": "#/$defs/B"}, "c": {"type": "array", "items": {"$ref": "#/$defs/B"}}}});
        assert!(converted_within(&nested, &mut BUDGET.clone()).is_some());
        assert!(matches!(for_gemini(&nested, &mut ConversionBudget::for_request()), GeminiSchema::Schema(_)));
        // One budget for the request: a schema that spent it leaves none for the next ones,
        // which go as JSON Schema at once.
        let mut budget = ConversionBudget::for_request();
        assert!(matches!(for_gemini(&many_refs(json!({"type": "string", "description": big})), &mut budget), GeminiSchema::JsonSchema(_)));
        assert!(matches!(for_gemini(&nested, &mut budget), GeminiSchema::JsonSchema(_)));
    }
}

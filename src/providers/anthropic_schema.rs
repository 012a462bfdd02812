//! An OpenAI `response_format` JSON Schema in the form Anthropic's structured outputs take
//! (`output_config.format`, Claude 4.5 and later), or `None` when that form cannot hold it
//! faithfully, and the answer is then asked for by a system-prompt instruction as before.
//!
//! Anthropic compiles the schema into a grammar and accepts a subset of JSON Schema: types,
//! `properties`, `required`, `items`, `enum` of primitives, `const`, `anyOf`, `allOf` (without a
//! `$ref` inside), local `$ref` / `$defs` / `definitions` that do not recurse, `default`, some
//! string `format`s, `minItems` of 0 or 1 and simple `pattern`s (which regex features count as
//! simple is not spelt out, so every `pattern` goes into the description); every object must say
//! `additionalProperties: false`; at most 24 optional properties and 16 unions (an `anyOf` or a
//! list of types) in all. Anything else is a 400 (documented at
//! <https://platform.claude.com/docs/en/build-with-claude/structured-outputs>). So:
//! - validation keywords the grammar does not enforce (`minimum`, `maxLength`, `maxItems`,
//!   `pattern`, ...) move into the description, as Anthropic's own SDKs move them: the model
//!   still reads them, as it reads the whole schema in the instruction;
//! - `oneOf` becomes `anyOf` (the answer matches one alternative either way);
//! - an object that does not say `additionalProperties` gets `false`: the answer holds the
//!   declared properties only, which the schema allows;
//! - a schema the grammar would change the meaning of is not converted: an object open to other
//!   properties (`additionalProperties: true` or a schema, or no properties at all: a free-form
//!   map would be forced to `{}`), a recursive or non-local `$ref`, a tuple, an `enum` or
//!   `const` holding objects, a schema that takes anything (`{}`, `true`, one with no type, an
//!   array with no `items`), `allOf` and alternatives beside an object's own `properties` (each
//!   closed on its own, their combination would admit nothing), `required` naming a property
//!   not declared (unsatisfiable once closed), any keyword that constrains structure beyond the
//!   subset (`not`, `if`, `patternProperties`, ...), more optional properties or unions than
//!   Anthropic takes.

use serde_json::{Map, Value};

/// String formats the grammar enforces; another is moved into the description.
const FORMATS: &[&str] = &["date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"];

/// Keywords the grammar does not enforce: kept as words for the model to read.
const DESCRIBED: &[&str] = &[
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "minContains", "maxContains", "pattern",
];

/// Annotations with no effect on the answer, left out.
const DROPPED: &[&str] = &["$schema", "$id", "$comment", "examples", "readOnly", "writeOnly", "deprecated", "discriminator"];

/// Anthropic's limits over the whole schema.
const MAX_OPTIONAL_PROPERTIES: usize = 24;
const MAX_UNIONS: usize = 16;

/// The schema for `output_config.format.schema`, or `None` (see the module's notes).
pub fn to_output_schema(schema: &Value) -> Option<Value> {
    let defs = definitions(schema)?;
    if super::schema_refs::has_cycle(&defs) {
        return None;
    }
    let mut counts = Counts::default();
    let converted = convert(schema, &defs, &mut counts)?;
    (counts.optional <= MAX_OPTIONAL_PROPERTIES && counts.unions <= MAX_UNIONS).then_some(converted)
}

#[derive(Default)]
struct Counts {
    optional: usize,
    unions: usize,
}

/// The root's definitions by reference (`#/$defs/name`); `None` if one is not an object.
fn definitions(root: &Value) -> Option<Map<String, Value>> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        match root.get(key) {
            None => {}
            Some(Value::Object(d)) => {
                for (name, s) in d {
                    defs.insert(format!("#/{key}/{name}"), s.clone());
                }
            }
            Some(_) => return None,
        }
    }
    Some(defs)
}

fn convert(schema: &Value, defs: &Map<String, Value>, counts: &mut Counts) -> Option<Value> {
    // `true` or `{}` takes any value, which no grammar of the subset expresses.
    let Value::Object(obj) = schema else { return None };
    if obj.is_empty() {
        return None;
    }
    let mut out = Map::new();
    let mut described: Vec<String> = Vec::new();
    for (key, value) in obj {
        match key.as_str() {
            "type" => {
                match value {
                    Value::String(_) => {}
                    Value::Array(types) if types.iter().all(Value::is_string) => counts.unions += usize::from(types.len() > 1),
                    _ => return None,
                }
                out.insert(key.clone(), value.clone());
            }
            // Property and definition names are the caller's, kept as they are.
            "properties" | "$defs" | "definitions" => {
                let converted = value.as_object()?.iter().map(|(name, s)| Some((name.clone(), convert(s, defs, counts)?))).collect::<Option<Map<_, _>>>()?;
                out.insert(key.clone(), Value::Object(converted));
            }
            "items" => {
                // A list of item schemas is a tuple, which the subset has no form for.
                out.insert(key.clone(), convert(value, defs, counts)?);
            }
            // One reference wrapped to carry a description (Pydantic before 2.9): the reference.
            "allOf" if value.as_array().is_some_and(|m| m.len() == 1 && m[0].as_object().is_some_and(|r| r.len() == 1 && r.contains_key("$ref"))) => {
                let target = value[0]["$ref"].as_str()?;
                if !defs.contains_key(target) || obj.contains_key("$ref") {
                    return None;
                }
                out.insert("$ref".into(), Value::String(target.to_string()));
            }
            // Each member closed on its own, an intersection of objects would admit nothing.
            "allOf" => return None,
            "anyOf" | "oneOf" => {
                let members = value.as_array().filter(|m| !m.is_empty())?;
                // Alternatives adding to the object's own properties: closed, none would fit.
                if obj.contains_key("properties") {
                    return None;
                }
                counts.unions += 1;
                let converted = members.iter().map(|m| convert(m, defs, counts)).collect::<Option<Vec<_>>>()?;
                out.insert("anyOf".into(), Value::Array(converted));
            }
            "$ref" => {
                if !defs.contains_key(value.as_str()?) {
                    return None;
                }
                out.insert(key.clone(), value.clone());
            }
            "enum" => {
                let values = value.as_array()?;
                if values.iter().any(|v| v.is_object() || v.is_array()) {
                    return None;
                }
                out.insert(key.clone(), value.clone());
            }
            "const" => {
                if value.is_object() || value.is_array() {
                    return None;
                }
                out.insert(key.clone(), value.clone());
            }
            "description" | "title" => {
                out.insert(key.clone(), Value::String(value.as_str()?.to_string()));
            }
            "required" => {
                let names = value.as_array()?;
                if !names.iter().all(Value::is_string) {
                    return None;
                }
                out.insert(key.clone(), value.clone());
            }
            "default" => {
                out.insert(key.clone(), value.clone());
            }
            "additionalProperties" => {
                if value != &Value::Bool(false) {
                    return None;
                }
                out.insert(key.clone(), value.clone());
            }
            "format" => match value.as_str() {
                Some(f) if FORMATS.contains(&f) => {
                    out.insert(key.clone(), value.clone());
                }
                _ => described.push(format!("format: {value}")),
            },
            "minItems" => match value.as_u64() {
                Some(0 | 1) => {
                    out.insert(key.clone(), value.clone());
                }
                _ => described.push(format!("minItems: {value}")),
            },
            k if DESCRIBED.contains(&k) => described.push(format!("{k}: {value}")),
            k if DROPPED.contains(&k) => {}
            _ => return None,
        }
    }
    // A schema that names no type and no values takes anything (Pydantic's `Any`: a title alone).
    if !["type", "enum", "const", "anyOf", "$ref"].iter().any(|k| out.contains_key(*k)) {
        return None;
    }
    let is_type = |name: &str| out.get("type").is_some_and(|t| t == name || t.as_array().is_some_and(|l| l.iter().any(|x| x == name)));
    if is_type("array") && !out.contains_key("items") {
        return None;
    }
    if is_type("object") || out.contains_key("properties") {
        let properties = out.get("properties").and_then(Value::as_object);
        if properties.is_none_or(Map::is_empty) {
            return None;
        }
        let required: Vec<&str> = out.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        if required.iter().any(|name| !properties.is_some_and(|p| p.contains_key(*name))) {
            return None;
        }
        counts.optional += properties.map_or(0, |p| p.keys().filter(|name| !required.contains(&name.as_str())).count());
        out.entry("additionalProperties").or_insert(Value::Bool(false));
    }
    if !described.is_empty() {
        let words = format!("({})", described.join(", "));
        let text = match out.get("description").and_then(Value::as_str) {
            Some(d) if !d.is_empty() => format!("{d} {words}"),
            _ => words,
        };
        out.insert("description".into(), Value::String(text));
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pydantic_schema_is_closed_and_its_bounds_become_words() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Person", "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "description": "Full name"},
                "age": {"type": "integer", "minimum": 0, "maximum": 150},
                "email": {"type": "string", "format": "email"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 5, "minItems": 1},
                "pet": {"$ref": "#/$defs/Pet"},
                "nickname": {"oneOf": [{"type": "string"}, {"type": "null"}]}
            },
            "required": ["name", "age"],
            "$defs": {"Pet": {"type": "object", "properties": {"kind": {"enum": ["cat", "dog"]}}, "required": ["kind"]}}
        });
        let out = to_output_schema(&schema).expect("expressible");
        assert!(out.get("$schema").is_none());
        assert_eq!(out["additionalProperties"], false);
        assert_eq!(out["$defs"]["Pet"]["additionalProperties"], false, "nested objects are closed too");
        assert_eq!(out["properties"]["name"]["description"], "Full name (minLength: 1)");
        assert!(out["properties"]["name"].get("minLength").is_none());
        assert_eq!(out["properties"]["age"]["description"], "(minimum: 0, maximum: 150)");
        assert_eq!(out["properties"]["email"]["format"], "email");
        assert_eq!(out["properties"]["tags"]["minItems"], 1);
        assert_eq!(out["properties"]["tags"]["description"], "(maxItems: 5)");
        assert_eq!(out["properties"]["pet"], json!({"$ref": "#/$defs/Pet"}));
        assert_eq!(out["properties"]["nickname"]["anyOf"], json!([{"type": "string"}, {"type": "null"}]));
        // Pydantic before 2.9 wraps a described reference in a one-member allOf; a discriminated
        // union's `discriminator` is an annotation.
        let wrapped = to_output_schema(&json!({"type": "object", "properties": {"pet": {"allOf": [{"$ref": "#/$defs/Pet"}], "description": "Their pet"},
            "shape": {"oneOf": [{"$ref": "#/$defs/Pet"}], "discriminator": {"propertyName": "kind"}}},
            "$defs": {"Pet": {"type": "object", "properties": {"kind": {"const": "cat"}}, "required": ["kind"]}}})).unwrap();
        assert_eq!(wrapped["properties"]["pet"], json!({"$ref": "#/$defs/Pet", "description": "Their pet"}));
        assert_eq!(wrapped["properties"]["shape"], json!({"anyOf": [{"$ref": "#/$defs/Pet"}]}));
        // Which regex features the grammar takes is not spelt out: a pattern is words too.
        let id = to_output_schema(&json!({"type": "object", "properties": {"id": {"type": "string", "pattern": "^\\bID\\d{1,400}$"}}})).unwrap();
        assert_eq!(id["properties"]["id"], json!({"type": "string", "description": "(pattern: \"^\\\\bID\\\\d{1,400}$\")"}));
    }

    #[test]
    fn a_schema_the_grammar_would_change_is_not_converted() {
        let object = |props: Value| json!({"type": "object", "properties": props});
        for (why, schema) in [
            ("free-form map", object(json!({"meta": {"type": "object", "additionalProperties": {"type": "string"}}}))),
            ("open object", json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": true})),
            ("no properties", object(json!({"meta": {"type": "object"}}))),
            ("anything", object(json!({"a": {}}))),
            ("recursive", json!({"$ref": "#/$defs/Node", "$defs": {"Node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}})),
            ("mutually recursive", json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}}, "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}}}})),
            ("remote ref", object(json!({"a": {"$ref": "https://example.com/a.json"}}))),
            ("tuple", object(json!({"pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}}))),
            ("object enum", object(json!({"a": {"enum": [{"x": 1}]}}))),
            ("not", object(json!({"a": {"type": "string", "not": {"const": "x"}}}))),
            ("pattern properties", json!({"type": "object", "properties": {"a": {"type": "string"}}, "patternProperties": {"^x": {"type": "string"}}})),
            ("allOf with a ref and more", json!({"allOf": [{"$ref": "#/$defs/A"}, {"type": "object", "properties": {"y": {"type": "string"}}}], "$defs": {"A": {"type": "object", "properties": {"x": {"type": "string"}}}}})),
            ("allOf of objects", json!({"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}, {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}]})),
            ("alternatives beside properties", json!({"type": "object", "properties": {"a": {"type": "string"}}, "anyOf": [{"properties": {"b": {"type": "string"}}}]})),
            ("untyped (Pydantic's Any)", object(json!({"a": {"title": "Data"}}))),
            ("array of anything", object(json!({"a": {"type": "array"}}))),
            ("object const", object(json!({"a": {"const": {"x": 1}}}))),
            ("required but undeclared", json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]})),
            ("non-string description", object(json!({"a": {"type": "string", "description": 5}}))),
        ] {
            assert_eq!(to_output_schema(&schema), None, "{why}");
        }
    }

    #[test]
    fn more_optional_properties_or_unions_than_anthropic_takes_are_not_converted() {
        let optional = |n: usize| json!({"type": "object", "properties": (0..n).map(|i| (format!("p{i}"), json!({"type": "string"}))).collect::<Map<_, _>>()});
        assert!(to_output_schema(&optional(24)).is_some());
        assert_eq!(to_output_schema(&optional(25)), None);
        let mut required = optional(30);
        required["required"] = json!((0..30).map(|i| format!("p{i}")).collect::<Vec<_>>());
        assert!(to_output_schema(&required).is_some(), "required properties do not count");
        let unions = |n: usize| {
            let props: Map<_, _> = (0..n).map(|i| (format!("p{i}"), json!({"type": ["string", "null"]}))).collect();
            let names: Vec<_> = props.keys().cloned().collect();
            json!({"type": "object", "properties": props, "required": names})
        };
        assert!(to_output_schema(&unions(16)).is_some());
        assert_eq!(to_output_schema(&unions(17)), None);
    }

    #[test]
    fn many_definitions_are_checked_for_cycles_once_each() {
        // 300 definitions, each naming every later one: no cycle, so the schema is taken.
        let n = 300;
        let defs: serde_json::Map<String, Value> = (0..n)
            .map(|i| {
                let props: serde_json::Map<String, Value> = (i + 1..n).map(|j| (format!("p{j}"), json!({"$ref": format!("#/$defs/d{j}")}))).collect();
                (format!("d{i}"), json!({"type": "object", "properties": props, "required": props.keys().collect::<Vec<_>>()}))
            })
            .collect();
        let dag = json!({"type": "object", "properties": {"root": {"$ref": "#/$defs/d0"}}, "required": ["root"], "$defs": defs});
        assert!(!super::super::schema_refs::has_cycle(&definitions(&dag).unwrap()));
        // The last one naming the first closes a cycle through all of them.
        let mut cyclic = dag.clone();
        cyclic["$defs"][format!("d{}", n - 1)]["properties"]["back"] = json!({"$ref": "#/$defs/d0"});
        assert!(super::super::schema_refs::has_cycle(&definitions(&cyclic).unwrap()));
        assert_eq!(to_output_schema(&cyclic), None);
        // A reference to nothing defined is no cycle.
        assert!(!super::super::schema_refs::has_cycle(&definitions(&json!({"$defs": {"a": {"$ref": "#/$defs/missing"}}})).unwrap()));
    }
}

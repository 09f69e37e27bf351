//! The JSON Schemas in `schemas/` are the published contract of the canonical events. They must match the Rust
//! types exactly: this test regenerates them and compares. After an intended change to a type, run with
//! `UPDATE_GOLDEN=1` and review the schema diff like an API change.

use std::path::Path;

#[test]
fn committed_schemas_match_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    for (name, schema) in yujing_model::json_schemas() {
        let generated = serde_json::to_string_pretty(&schema).expect("schemas serialize") + "\n";
        let path = dir.join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &generated).expect("schemas/ writable");
            continue;
        }
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_GOLDEN=1", path.display()));
        assert!(
            committed == generated,
            "{} does not match the Rust types; run with UPDATE_GOLDEN=1 and review the diff",
            path.display()
        );
    }
}

#[test]
fn a_clue_validates_against_its_schema_shape() {
    // Every property the schema requires is present in a serialized clue, and no serialized field is unknown to
    // the schema: a cheap structural check that catches serde attributes drifting from the schema.
    let schemas = yujing_model::json_schemas();
    let clue_schema = &schemas
        .iter()
        .find(|(name, _)| *name == "clue.schema.json")
        .expect("the clue schema is published")
        .1;
    let properties = clue_schema["properties"]
        .as_object()
        .expect("clue schema has properties");
    let required: Vec<&str> = clue_schema["required"]
        .as_array()
        .expect("clue schema lists required properties")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let clue: serde_json::Value =
        serde_json::from_str(include_str!("sample_clue.json")).expect("sample clue parses");
    let parsed: yujing_model::Clue = serde_json::from_value(clue.clone()).expect("sample clue is a Clue");
    let reserialized = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(reserialized, clue, "the sample clue round-trips unchanged");
    for field in required {
        assert!(clue.get(field).is_some(), "required field {field} is missing");
    }
    for field in clue.as_object().expect("object").keys() {
        assert!(
            properties.contains_key(field),
            "field {field} is not in the schema"
        );
    }
}

//! The grid of a sweep: `[grid]` of a TOML file maps `[correlate]` parameters (dotted paths, or
//! `rules.<rule name>.<field>`) to the values to try; the sweep runs every combination.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use yujing_correlate::{CorrelateConfig, Settings};

use crate::TuneError;

/// The most configurations one sweep runs.
pub const MAX_CONFIGURATIONS: usize = 500;

/// Each parameter's values, by path.
pub type Grid = BTreeMap<String, Vec<Value>>;

/// A configuration of the sweep: what it changes from the configuration in force, and its settings.
#[derive(Debug, Clone)]
pub struct Configuration {
    /// `(path, value)` of each parameter changed; empty for the configuration in force.
    pub changes: Vec<(String, String)>,
    /// The checked settings.
    pub settings: Settings,
}

/// The grid file's path, made absolute for messages.
pub fn absolute(path: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Reads `[grid]` from the TOML file at `path`.
pub fn read(path: &Path) -> Result<Grid, TuneError> {
    let bad = |reason: String| TuneError::Grid {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| TuneError::Io {
        doing: "read the grid",
        path: path.to_owned(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| bad(format!("not TOML: {e}")))?;
    let grid = table
        .get("grid")
        .and_then(|g| g.as_table())
        .ok_or_else(|| bad("put the parameters under [grid]".to_owned()))?;
    let mut out = Grid::new();
    for (parameter, values) in grid {
        let values = values
            .as_array()
            .ok_or_else(|| bad(format!("{parameter} must be a list of values")))?;
        let values = values
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("{parameter} has a value JSON cannot hold: {e}")))?;
        out.insert(parameter.clone(), values);
    }
    Ok(out)
}

/// The configuration in force (`#0`), then each combination of `grid` applied to `base` that builds and differs
/// from it.
pub fn configurations(
    base: &CorrelateConfig,
    in_force: &Settings,
    grid: &Grid,
) -> Result<Vec<Configuration>, TuneError> {
    let base = serde_json::to_value(base)?;
    let mut out = vec![Configuration {
        changes: Vec::new(),
        settings: in_force.clone(),
    }];
    for combination in combinations(grid) {
        let mut value = base.clone();
        for (path, v) in &combination {
            value = apply(&value, path, v)?;
        }
        let described = || {
            combination
                .iter()
                .map(|(p, v)| format!("{p} = {}", label(v)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let candidate: CorrelateConfig =
            serde_json::from_value(value).map_err(|e| TuneError::InvalidCombination {
                combination: described(),
                reason: e.to_string(),
            })?;
        let settings = candidate.build().map_err(|e| TuneError::InvalidCombination {
            combination: described(),
            reason: e.0.join("; "),
        })?;
        if settings == *in_force {
            continue;
        }
        out.push(Configuration {
            changes: combination.iter().map(|(p, v)| (p.clone(), label(v))).collect(),
            settings,
        });
    }
    if out.len() > MAX_CONFIGURATIONS {
        return Err(TuneError::TooManyConfigurations(out.len()));
    }
    Ok(out)
}

/// Sets `path` (dotted, `rules.<rule name>.<field>` for a rule) in `base` to `value`.
pub fn apply(base: &Value, path: &str, value: &Value) -> Result<Value, TuneError> {
    let missing = |what: String| TuneError::Parameter(format!("'{path}': {what}"));
    let mut config = base.clone();
    if let Some(rest) = path.strip_prefix("rules.") {
        let (name, field) = rest
            .rsplit_once('.')
            .ok_or_else(|| missing("write rules.<rule name>.<field>".to_owned()))?;
        let rules = config
            .get_mut("rules")
            .and_then(|r| r.as_array_mut())
            .ok_or_else(|| missing("the configuration has no rules".to_owned()))?;
        let rule = rules
            .iter_mut()
            .find(|r| r.get("name").and_then(|n| n.as_str()) == Some(name))
            .ok_or_else(|| missing(format!("there is no rule named {name}")))?;
        let slot = rule
            .get_mut(field)
            .ok_or_else(|| missing(format!("a rule has no field {field}")))?;
        *slot = value.clone();
        return Ok(config);
    }
    let pointer = format!("/{}", path.replace('.', "/"));
    let slot = config
        .pointer_mut(&pointer)
        .ok_or_else(|| missing("not a parameter of [correlate] (e.g. scoring.link_threshold)".to_owned()))?;
    *slot = value.clone();
    Ok(config)
}

/// Every combination of the grid's values, in order.
pub fn combinations(grid: &Grid) -> Vec<Vec<(String, Value)>> {
    let mut out: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (path, values) in grid {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((path.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    out
}

/// A value as the report shows it: a string without its quotes.
fn label(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_apply_to_rules_by_name_and_to_scoring_by_path() {
        let base = serde_json::json!({
            "scoring": {"link_threshold": 9.0},
            "rules": [{"name": "recurring-orange", "occurrences": 5}, {"name": "recurring-red", "occurrences": 8}]
        });
        let v = apply(&base, "rules.recurring-orange.occurrences", &serde_json::json!(4)).unwrap_or_default();
        assert_eq!(v["rules"][0]["occurrences"], 4);
        assert_eq!(v["rules"][1]["occurrences"], 8);
        let v = apply(&base, "scoring.link_threshold", &serde_json::json!(8.5)).unwrap_or_default();
        assert_eq!(v["scoring"]["link_threshold"], 8.5);
        assert!(apply(&base, "rules.nope.occurrences", &serde_json::json!(4)).is_err());
        assert!(apply(&base, "scoring.nope", &serde_json::json!(4)).is_err());
    }

    #[test]
    fn the_grid_is_the_cartesian_product() {
        let mut grid = Grid::new();
        grid.insert("a".to_owned(), vec![serde_json::json!(1), serde_json::json!(2)]);
        grid.insert(
            "b".to_owned(),
            vec![serde_json::json!(3), serde_json::json!(4), serde_json::json!(5)],
        );
        assert_eq!(combinations(&grid).len(), 6);
    }
}

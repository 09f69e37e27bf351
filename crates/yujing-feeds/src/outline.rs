//! The county's outline: the polygons of a GeoJSON boundary file, the backdrop of the command centre's map and
//! the test of whether a point lies in the county.
//!
//! The configured gazetteer names the file (`[gazetteer] outline`); empty means Rugao's, compiled in
//! (`config/rugao-county.geojson`). Another county's boundary works the same way. Coordinates are longitude and
//! latitude as published; public Chinese boundary files are often GCJ-02-shifted by a few hundred metres, so the
//! outline is good for drawing a county, not for deciding which street a point is on.

use serde_json::Value;

/// Rugao's outline (如皋市, adcode 320682), compiled in.
pub const RUGAO_OUTLINE: &str = include_str!("../../../config/rugao-county.geojson");

/// A ring: closed or not, longitude/latitude pairs.
pub type Ring = Vec<[f64; 2]>;

/// A GeoJSON file that is not a usable outline, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("county outline: {0}")]
pub struct OutlineError(pub String);

/// The county's polygons, each an outer ring and its holes.
#[derive(Debug, Clone, PartialEq)]
pub struct CountyOutline {
    polygons: Vec<Vec<Ring>>,
    /// `[min lng, min lat, max lng, max lat]`.
    bounds: [f64; 4],
}

impl CountyOutline {
    /// Rugao's outline, compiled in.
    pub fn rugao() -> CountyOutline {
        CountyOutline::from_geojson(RUGAO_OUTLINE).expect("the compiled-in outline is valid")
    }

    /// Reads a GeoJSON FeatureCollection, Feature or geometry: every Polygon and MultiPolygon in it.
    pub fn from_geojson(text: &str) -> Result<CountyOutline, OutlineError> {
        let value: Value = serde_json::from_str(text).map_err(|e| OutlineError(format!("not JSON: {e}")))?;
        let mut polygons = Vec::new();
        collect(&value, "the file", &mut polygons)?;
        if polygons.is_empty() {
            return Err(OutlineError(
                "no Polygon or MultiPolygon geometry in it; give the county's boundary as GeoJSON".to_owned(),
            ));
        }
        let mut bounds = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for [lng, lat] in polygons.iter().flatten().flatten() {
            bounds = [
                bounds[0].min(*lng),
                bounds[1].min(*lat),
                bounds[2].max(*lng),
                bounds[3].max(*lat),
            ];
        }
        if bounds[2] - bounds[0] <= 0.0 || bounds[3] - bounds[1] <= 0.0 {
            return Err(OutlineError("its polygons enclose no area".to_owned()));
        }
        Ok(CountyOutline { polygons, bounds })
    }

    /// The polygons: each an outer ring, then its holes.
    pub fn polygons(&self) -> &[Vec<Ring>] {
        &self.polygons
    }

    /// `[min lng, min lat, max lng, max lat]`.
    pub fn bounds(&self) -> [f64; 4] {
        self.bounds
    }

    /// Whether (`lng`, `lat`) lies inside the county (even-odd over every ring, so holes are outside).
    pub fn contains(&self, lng: f64, lat: f64) -> bool {
        let [x0, y0, x1, y1] = self.bounds;
        if !(x0..=x1).contains(&lng) || !(y0..=y1).contains(&lat) {
            return false;
        }
        let mut inside = false;
        for ring in self.polygons.iter().flatten() {
            let n = ring.len();
            for i in 0..n {
                let [xi, yi] = ring[i];
                let [xj, yj] = ring[(i + n - 1) % n];
                if (yi > lat) != (yj > lat) && lng < (xj - xi) * (lat - yi) / (yj - yi) + xi {
                    inside = !inside;
                }
            }
        }
        inside
    }
}

fn collect(value: &Value, at: &str, out: &mut Vec<Vec<Ring>>) -> Result<(), OutlineError> {
    match value.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            let features = value
                .get("features")
                .and_then(Value::as_array)
                .ok_or_else(|| OutlineError(format!("{at}: a FeatureCollection without a features array")))?;
            for (i, feature) in features.iter().enumerate() {
                collect(feature, &format!("feature {i}"), out)?;
            }
            Ok(())
        }
        Some("Feature") => match value.get("geometry") {
            Some(Value::Null) | None => Ok(()),
            Some(geometry) => collect(geometry, at, out),
        },
        Some("GeometryCollection") => {
            for geometry in value
                .get("geometries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                collect(geometry, at, out)?;
            }
            Ok(())
        }
        Some("Polygon") => {
            out.push(polygon(value.get("coordinates"), at)?);
            Ok(())
        }
        Some("MultiPolygon") => {
            let polygons = value
                .get("coordinates")
                .and_then(Value::as_array)
                .ok_or_else(|| OutlineError(format!("{at}: a MultiPolygon without coordinates")))?;
            for p in polygons {
                out.push(polygon(Some(p), at)?);
            }
            Ok(())
        }
        // Points and lines (a label, a river) are not the boundary.
        Some(_) => Ok(()),
        None => Err(OutlineError(format!("{at}: not a GeoJSON object (no \"type\")"))),
    }
}

fn polygon(coordinates: Option<&Value>, at: &str) -> Result<Vec<Ring>, OutlineError> {
    let rings = coordinates
        .and_then(Value::as_array)
        .ok_or_else(|| OutlineError(format!("{at}: a polygon's coordinates are not an array of rings")))?;
    let mut out = Vec::with_capacity(rings.len());
    for ring in rings {
        let points = ring
            .as_array()
            .ok_or_else(|| OutlineError(format!("{at}: a ring is not an array of positions")))?;
        let mut parsed = Vec::with_capacity(points.len());
        for point in points {
            let lng = point.get(0).and_then(Value::as_f64);
            let lat = point.get(1).and_then(Value::as_f64);
            match (lng, lat) {
                (Some(lng), Some(lat))
                    if (-180.0..=180.0).contains(&lng) && (-90.0..=90.0).contains(&lat) =>
                {
                    parsed.push([lng, lat]);
                }
                _ => {
                    return Err(OutlineError(format!(
                        "{at}: {point} is not a [longitude, latitude] position"
                    )))
                }
            }
        }
        if parsed.len() < 3 {
            return Err(OutlineError(format!(
                "{at}: a ring has fewer than three positions"
            )));
        }
        out.push(parsed);
    }
    if out.is_empty() {
        return Err(OutlineError(format!("{at}: a polygon without rings")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rugao_holds_its_sample_points_and_not_its_neighbours() {
        let rugao = CountyOutline::rugao();
        let [x0, y0, x1, y1] = rugao.bounds();
        assert!(
            x0 > 120.3 && x1 < 120.9 && y0 > 31.9 && y1 < 32.5,
            "{:?}",
            rugao.bounds()
        );
        // 锦绣华庭 in 如城街道 (the grid sample), and the centroid of the county.
        assert!(rugao.contains(120.5689, 32.3874));
        assert!(rugao.contains(120.573481, 32.268391));
        // Nantong city centre and Taizhou: outside.
        assert!(!rugao.contains(120.894, 31.981));
        assert!(!rugao.contains(119.925, 32.455));
    }

    #[test]
    fn a_hole_is_outside_and_bad_files_say_what_is_wrong() {
        let square = r#"{"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],
            [[4,4],[6,4],[6,6],[4,6],[4,4]]]}"#;
        let outline = CountyOutline::from_geojson(square).unwrap_or_else(|e| panic!("{e}"));
        assert!(outline.contains(2.0, 2.0));
        assert!(!outline.contains(5.0, 5.0));
        let error = |text: &str| CountyOutline::from_geojson(text).err().map(|e| e.to_string());
        assert!(error("{").is_some_and(|e| e.contains("not JSON")));
        assert!(error(r#"{"type":"Point","coordinates":[1,2]}"#).is_some_and(|e| e.contains("no Polygon")));
        assert!(
            error(r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],["x",1],[1,1]]]}}]}"#)
                .is_some_and(|e| e.contains("feature 0") && e.contains("[\"x\",1]")),
        );
    }
}

//! The county map, projected on the server: the outline as one SVG path, and any point as SVG coordinates.
//!
//! The projection is equirectangular with longitude scaled by the cosine of the county's middle latitude. Over
//! a county (tens of kilometres) it is within a fraction of a percent of a conformal projection, and the page
//! needs no map library, no tiles and no network.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use yujing_feeds::CountyOutline;

/// The map's width in SVG units; the height follows the county's shape.
const WIDTH: f64 = 1000.0;
/// The margin around the outline, in SVG units.
const MARGIN: f64 = 16.0;

/// The projected county.
#[derive(Debug, Clone)]
pub struct CountyMap {
    outline: Arc<CountyOutline>,
    /// Longitude and latitude of the top-left corner of the drawing.
    origin: (f64, f64),
    /// SVG units per degree of longitude and of latitude.
    scale: (f64, f64),
    /// What the page draws.
    drawing: MapDrawing,
}

/// The map as the page draws it (`GET /api/v1/map`).
#[derive(Debug, Clone, Serialize)]
pub struct MapDrawing {
    /// The SVG `viewBox`.
    pub view_box: String,
    /// The outline as an SVG path (even-odd fill, so holes stay holes).
    pub outline: String,
    /// The outline's bounds, `[min lng, min lat, max lng, max lat]`.
    pub bounds: [f64; 4],
}

impl CountyMap {
    /// Projects `outline`.
    pub fn new(outline: Arc<CountyOutline>) -> CountyMap {
        let [x0, y0, x1, y1] = outline.bounds();
        let shrink = ((y0 + y1) / 2.0).to_radians().cos();
        let per_degree = (WIDTH - 2.0 * MARGIN) / ((x1 - x0) * shrink);
        let scale = (per_degree * shrink, per_degree);
        let height = (y1 - y0) * per_degree + 2.0 * MARGIN;
        let mut map = CountyMap {
            origin: (x0, y1),
            scale,
            drawing: MapDrawing {
                view_box: format!("0 0 {WIDTH} {height:.0}"),
                outline: String::new(),
                bounds: outline.bounds(),
            },
            outline,
        };
        let mut path = String::new();
        for ring in map.outline.polygons().iter().flatten() {
            for (i, &[lng, lat]) in ring.iter().enumerate() {
                let (x, y) = map.project(lng, lat);
                let _ = write!(path, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            path.push('Z');
        }
        map.drawing.outline = path;
        map
    }

    /// The SVG coordinates of (`lng`, `lat`).
    pub fn project(&self, lng: f64, lat: f64) -> (f64, f64) {
        (
            MARGIN + (lng - self.origin.0) * self.scale.0,
            MARGIN + (self.origin.1 - lat) * self.scale.1,
        )
    }

    /// Whether the point lies inside the county.
    pub fn contains(&self, lng: f64, lat: f64) -> bool {
        self.outline.contains(lng, lat)
    }

    /// What the page draws.
    pub fn drawing(&self) -> &MapDrawing {
        &self.drawing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outline_fills_the_width_and_north_is_up() {
        let map = CountyMap::new(Arc::new(CountyOutline::rugao()));
        let [x0, y0, x1, y1] = map.drawing().bounds;
        let (left, top) = map.project(x0, y1);
        let (right, bottom) = map.project(x1, y0);
        assert!((left - MARGIN).abs() < 1e-9 && (top - MARGIN).abs() < 1e-9);
        assert!((right - (WIDTH - MARGIN)).abs() < 1e-6, "{right}");
        assert!(bottom > top);
        assert!(map.drawing().view_box.starts_with("0 0 1000 "));
        assert!(map.drawing().outline.starts_with('M') && map.drawing().outline.ends_with('Z'));
        // A degree of latitude is longer on the drawing than a degree of longitude at 32°N.
        assert!(map.scale.1 > map.scale.0);
    }
}

//! Optional raster tiles under the SVG map, for real deployments with a tile service (none is
//! reachable here, so the map never needs one). Standard slippy-map tiles ({z}/{x}/{y}, Web
//! Mercator), placed by their corners in the map's own projection: across a city the two
//! projections differ by well under a pixel.

use serde::{Deserialize, Serialize};

use super::city::Bounds;
use super::{AppError, GeoPoint};

/// Street level for a city a few kilometres across: about 30 tiles.
pub const TILE_ZOOM: u8 = 14;

/// What the browser needs to draw tiles: from HAIL_MAP_TILE_URL and HAIL_MAP_ATTRIBUTION.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSettings {
    pub tile_url: Option<String>,
    pub attribution: Option<String>,
}

/// One tile's image and its place in viewBox units.
#[derive(Debug, Clone, PartialEq)]
pub struct TilePlacement {
    pub href: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Checks a tile URL template: http(s), with {z}, {x} and {y}.
pub fn check_template(template: &str) -> Result<(), AppError> {
    let scheme_ok = template.starts_with("https://") || template.starts_with("http://");
    let parts_ok = ["{z}", "{x}", "{y}"].iter().all(|p| template.contains(p));
    if scheme_ok && parts_ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "tile_url",
            "a tile URL is http(s) with {z}, {x} and {y}, like https://tiles.example/{z}/{x}/{y}.png",
        ))
    }
}

fn tile_x(lng: f64, zoom: u8) -> u32 {
    let n = f64::from(1u32 << zoom);
    ((lng + 180.0) / 360.0 * n).floor() as u32
}

fn tile_y(lat: f64, zoom: u8) -> u32 {
    let n = f64::from(1u32 << zoom);
    let lat = lat.to_radians();
    ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor() as u32
}

fn tile_lng(x: u32, zoom: u8) -> f64 {
    f64::from(x) / f64::from(1u32 << zoom) * 360.0 - 180.0
}

fn tile_lat(y: u32, zoom: u8) -> f64 {
    let n = std::f64::consts::PI * (1.0 - 2.0 * f64::from(y) / f64::from(1u32 << zoom));
    n.sinh().atan().to_degrees()
}

/// The tiles covering `bounds`, each placed by its corners.
pub fn placements(template: &str, bounds: &Bounds, zoom: u8) -> Vec<TilePlacement> {
    let (x0, x1) = (tile_x(bounds.west, zoom), tile_x(bounds.east, zoom));
    let (y0, y1) = (tile_y(bounds.north, zoom), tile_y(bounds.south, zoom));
    let mut tiles = Vec::new();
    for x in x0..=x1 {
        for y in y0..=y1 {
            let corners = GeoPoint::new(tile_lat(y, zoom), tile_lng(x, zoom))
                .ok()
                .zip(GeoPoint::new(tile_lat(y + 1, zoom), tile_lng(x + 1, zoom)).ok());
            let Some((north_west, south_east)) = corners else {
                continue;
            };
            let (left, top) = bounds.project(north_west);
            let (right, bottom) = bounds.project(south_east);
            tiles.push(TilePlacement {
                href: template
                    .replace("{z}", &zoom.to_string())
                    .replace("{x}", &x.to_string())
                    .replace("{y}", &y.to_string()),
                x: left,
                y: top,
                width: right - left,
                height: bottom - top,
            });
        }
    }
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::city::BOUNDS;

    #[test]
    fn templates_need_a_scheme_and_all_three_parts() {
        assert!(check_template("https://tiles.example/{z}/{x}/{y}.png").is_ok());
        assert!(check_template("ftp://tiles.example/{z}/{x}/{y}.png").is_err());
        assert!(check_template("https://tiles.example/{z}/{x}.png").is_err());
    }

    #[test]
    fn tile_numbers_match_the_slippy_map_scheme() {
        // Berlin's centre at zoom 14: each tile number, and its edges around the point.
        assert_eq!(tile_x(13.405, 14), 8802);
        assert_eq!(tile_y(52.52, 14), 5373);
        assert!(tile_lng(8802, 14) <= 13.405 && tile_lng(8803, 14) > 13.405);
        assert!(tile_lat(5373, 14) > 52.52 && tile_lat(5374, 14) < 52.52);
    }

    #[test]
    fn the_tiles_cover_the_whole_map_without_gaps() {
        let tiles = placements("https://t.example/{z}/{x}/{y}.png", &BOUNDS, TILE_ZOOM);
        let (width, height) = BOUNDS.view_size();
        assert!((20..=60).contains(&tiles.len()), "{}", tiles.len());
        let left = tiles.iter().map(|t| t.x).fold(f64::INFINITY, f64::min);
        let top = tiles.iter().map(|t| t.y).fold(f64::INFINITY, f64::min);
        let right = tiles
            .iter()
            .map(|t| t.x + t.width)
            .fold(f64::NEG_INFINITY, f64::max);
        let bottom = tiles
            .iter()
            .map(|t| t.y + t.height)
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(left <= 0.0 && top <= 0.0 && right >= width && bottom >= height);
        assert!(tiles.iter().all(|t| t.width > 0.0 && t.height > 0.0));
        assert!(tiles[0].href.starts_with("https://t.example/14/"));
    }
}

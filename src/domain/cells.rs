//! The map cells of the demo city: a fixed grid over [`BOUNDS`]. Free drivers' positions are
//! published per cell, and an idle rider's live socket follows the cells their map shows, so an
//! instance hears only the cells its riders look at (one Redis subscription per cell followed).

use std::fmt;

use super::city::BOUNDS;
use super::GeoPoint;

/// Rows and columns of the grid: 16 cells of about 1.7 x 2 km over the city.
pub const GRID: u8 = 4;
/// The most cells one `watch` may name: the whole grid.
pub const MAX_WATCHED: usize = (GRID as usize) * (GRID as usize);

/// One cell of the grid, written `r<row>c<col>` (row 0 is the south, column 0 the west).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    row: u8,
    col: u8,
}

impl Cell {
    /// The cell a point lies in; `None` outside the city.
    pub fn of(at: GeoPoint) -> Option<Self> {
        if !BOUNDS.contains(at) {
            return None;
        }
        let index = |value: f64, low: f64, high: f64| {
            let share = (value - low) / (high - low);
            // The north and east edges belong to the last row and column.
            ((share * f64::from(GRID)) as u8).min(GRID - 1)
        };
        Some(Self {
            row: index(at.lat(), BOUNDS.south, BOUNDS.north),
            col: index(at.lng(), BOUNDS.west, BOUNDS.east),
        })
    }

    /// Every cell of the grid, south-west first.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..GRID).flat_map(|row| (0..GRID).map(move |col| Self { row, col }))
    }

    /// A cell's name as a client sends it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{raw:?} is not a map cell: cells are r0c0 to r{0}c{0}",
                GRID - 1
            )
        };
        let rest = raw.strip_prefix('r').ok_or_else(bad)?;
        let (row, col) = rest.split_once('c').ok_or_else(bad)?;
        let digit = |s: &str| match s.as_bytes() {
            [d @ b'0'..=b'9'] if d - b'0' < GRID => Some(d - b'0'),
            _ => None,
        };
        match (digit(row), digit(col)) {
            (Some(row), Some(col)) => Ok(Self { row, col }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}c{}", self.row, self.col)
    }
}

impl serde::Serialize for Cell {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cell {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat: f64, lng: f64) -> GeoPoint {
        GeoPoint::new(lat, lng).unwrap()
    }

    #[test]
    fn the_grid_covers_the_city_edge_to_edge_and_nothing_outside() {
        assert_eq!(
            Cell::of(point(BOUNDS.south, BOUNDS.west))
                .unwrap()
                .to_string(),
            "r0c0"
        );
        assert_eq!(
            Cell::of(point(BOUNDS.north, BOUNDS.east))
                .unwrap()
                .to_string(),
            "r3c3"
        );
        assert_eq!(Cell::of(point(52.525, 13.405)).unwrap().to_string(), "r2c2");
        assert_eq!(
            Cell::of(point(BOUNDS.south + 0.001, BOUNDS.east - 0.001))
                .unwrap()
                .to_string(),
            "r0c3"
        );
        assert_eq!(Cell::of(point(BOUNDS.north + 0.001, BOUNDS.west)), None);
        assert_eq!(Cell::of(point(0.0, 0.0)), None);
        let all: Vec<Cell> = Cell::all().collect();
        assert_eq!(all.len(), MAX_WATCHED);
        for (n, cell) in all.iter().enumerate() {
            assert_eq!(Cell::parse(&cell.to_string()), Ok(*cell));
            assert!(all[..n].iter().all(|c| c != cell));
        }
    }

    #[test]
    fn cells_are_parsed_at_the_edge() {
        assert_eq!(Cell::parse("r1c2").unwrap().to_string(), "r1c2");
        for bad in [
            "", "r", "r1", "r1c", "c1r2", "r4c0", "r0c4", "r-1c0", "r01c0", "R1C1", "r1c2x",
        ] {
            let err = Cell::parse(bad).unwrap_err();
            assert!(err.contains("is not a map cell"), "{bad}: {err}");
        }
    }
}

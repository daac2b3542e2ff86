//! The city map, drawn as SVG by Hail itself (filled in by the map work).

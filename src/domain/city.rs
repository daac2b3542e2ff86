//! The demo city: its bounds, named places and streets (filled in by the map work).

//! The city map, drawn as SVG by Hail itself: no tile service is reachable, and the demo city in
//! `domain::city` is small enough to draw whole. Also the place picker, the keyboard-friendly
//! (and JavaScript-free) way to choose the same places.
//!
//! Everything renders from constants and the `markers` signal with no browser-only state, so the
//! server's HTML and the first client render match for hydration; numbers are rounded before they
//! reach the markup so that last-bit differences between native and WASM maths cannot show.

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use leptos::web_sys;
use wasm_bindgen::JsCast;

use crate::api::map::get_map_settings;
use crate::domain::city::{place, BOUNDS, PARKS, PLACES, RIVER, STREETS};
use crate::domain::tiles::{placements, MapSettings, TILE_ZOOM};
use crate::domain::{AppError, GeoPoint};

/// The server's map settings, read once per page load.
#[derive(Clone, Copy)]
pub struct MapSettingsResource(Resource<Result<MapSettings, AppError>>);

/// Called once by the app: every map on the page shares the one read.
pub fn provide_map_settings() {
    provide_context(MapSettingsResource(Resource::new(
        || (),
        |_| get_map_settings(),
    )));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkerKind {
    Pickup,
    Dropoff,
    Car,
    /// A free driver near the rider: a car with no name.
    Nearby,
    You,
}

impl MarkerKind {
    /// What end-to-end tests select on, and the CSS modifier.
    fn name(self) -> &'static str {
        match self {
            MarkerKind::Pickup => "pickup",
            MarkerKind::Dropoff => "dropoff",
            MarkerKind::Car => "car",
            MarkerKind::Nearby => "nearby",
            MarkerKind::You => "you",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub kind: MarkerKind,
    pub at: GeoPoint,
    /// Shown as the marker's tooltip (`<title>`), e.g. "Pickup: Central Station".
    pub label: String,
}

/// Which way a drawn route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// The rider's way from the pickup (or the car) to the drop-off.
    Trip,
    /// The driver's way to the pickup.
    Approach,
}

impl RouteKind {
    /// What end-to-end tests select on.
    fn test_id(self) -> &'static str {
        match self {
            RouteKind::Trip => "route",
            RouteKind::Approach => "approach-route",
        }
    }

    fn class(self) -> &'static str {
        match self {
            RouteKind::Trip => "city-map__route city-map__route--trip",
            RouteKind::Approach => "city-map__route city-map__route--approach",
        }
    }
}

/// A route to draw: its points along the streets, the first where the way starts.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteLine {
    pub kind: RouteKind,
    pub points: Vec<GeoPoint>,
}

impl RouteLine {
    /// The lines of a ride's map (see `RideView::routes`), the approach drawn under the trip.
    pub fn of_ride(routes: crate::domain::ride::RideRoutes) -> Vec<RouteLine> {
        [
            (RouteKind::Approach, routes.approach),
            (RouteKind::Trip, routes.trip),
        ]
        .into_iter()
        .filter_map(|(kind, route)| {
            route.map(|r| RouteLine {
                kind,
                points: r.points().collect(),
            })
        })
        .filter(|line| line.points.len() >= 2)
        .collect()
    }
}

/// The city with its streets, places, `routes` and `markers`. With `on_pick`, a click on the map picks the
/// point under the pointer; clicks on the letterbox around the drawing pick nothing.
#[component]
pub fn CityMap(
    #[prop(into)] label: String,
    #[prop(into)] markers: Signal<Vec<Marker>>,
    #[prop(optional, into)] routes: Option<Signal<Vec<RouteLine>>>,
    #[prop(optional)] on_pick: Option<Callback<GeoPoint>>,
    /// Ids of the text that says what the map shows (the ride's status, its ETA): the map's
    /// text alternative beside its label.
    #[prop(optional)]
    described_by: Option<&'static str>,
) -> impl IntoView {
    let (width, height) = BOUNDS.view_size();
    let view_box = format!("0 0 {} {}", num(width), num(height));
    // Ids must be unique on the page; two maps with the same label would be a screen bug anyway.
    let hint_id = format!("{}-hint", slug(&label));
    let pickable = on_pick.is_some();
    // Raster tiles only when the server is configured for them (see `provide_map_settings`).
    let settings = use_context::<MapSettingsResource>();
    let tiles = move || {
        let settings = settings?.0.get()?.ok()?;
        let url = settings.tile_url?;
        Some((placements(&url, &BOUNDS, TILE_ZOOM), settings.attribution))
    };

    let on_click = move |ev: MouseEvent| {
        if let Some(pick) = on_pick {
            if let Some(at) = point_under_pointer(&ev) {
                pick.run(at);
            }
        }
    };

    // Keyed by position and kind, so a marker that only moves keeps its element and its CSS
    // transition glides it; the element reads its data back from `markers` by index.
    let keys = move || {
        markers.with(|all| {
            all.iter()
                .enumerate()
                .map(|(index, m)| (index, m.kind))
                .collect::<Vec<_>>()
        })
    };

    view! {
        <figure class="city-map" class:city-map--pickable=pickable>
            <svg
                class="city-map__svg"
                viewBox=view_box
                width=num(width)
                height=num(height)
                preserveAspectRatio="xMidYMid meet"
                role="img"
                aria-label=label
                aria-describedby={
                    let ids: Vec<String> = described_by
                        .map(str::to_owned)
                        .into_iter()
                        .chain(pickable.then(|| hint_id.clone()))
                        .collect();
                    (!ids.is_empty()).then(|| ids.join(" "))
                }
                on:click=on_click
            >
                <rect class="city-map__land" x="0" y="0" width=num(width) height=num(height)/>
                // Read under a `Suspense` so the server's render waits for the settings, as the
                // browser's first render (which has them from the page) does: hydration agrees.
                <Suspense fallback=|| ()>
                    {move || tiles().map(|(tiles, _)| {
                        view! {
                            <g class="city-map__tiles">
                                {tiles
                                    .into_iter()
                                    .map(|t| view! {
                                        <image href=t.href x=num(t.x) y=num(t.y) width=num(t.width)
                                            height=num(t.height) preserveAspectRatio="none"/>
                                    })
                                    .collect_view()}
                            </g>
                        }
                    })}
                </Suspense>
                {PARKS
                    .iter()
                    .map(|outline| view! { <polygon class="city-map__park" points=points(outline)/> })
                    .collect_view()}
                <polyline class="city-map__river" points=points(RIVER)/>
                <g class="city-map__streets">
                    {STREETS
                        .iter()
                        .map(|street| {
                            view! {
                                <polyline
                                    class="city-map__street-casing"
                                    class:city-map__street--major=is_major(street.name)
                                    points=points(street.points)
                                />
                            }
                        })
                        .collect_view()}
                    {STREETS
                        .iter()
                        .map(|street| {
                            view! {
                                <polyline
                                    class="city-map__street"
                                    class:city-map__street--major=is_major(street.name)
                                    points=points(street.points)
                                >
                                    <title>{street.name}</title>
                                </polyline>
                            }
                        })
                        .collect_view()}
                </g>
                // A white casing under each line, as road maps draw routes over streets.
                <g class="city-map__routes">
                    {move || {
                        routes
                            .map(|r| r.get())
                            .unwrap_or_default()
                            .into_iter()
                            .map(|line| {
                                let drawn = line_points(&line.points);
                                view! {
                                    <polyline class="city-map__route-casing" points=drawn.clone()/>
                                    <polyline
                                        class=line.kind.class()
                                        data-testid=line.kind.test_id()
                                        points=drawn
                                    />
                                }
                            })
                            .collect_view()
                    }}
                </g>
                <g class="city-map__places">
                    {PLACES.iter().map(|p| place_view(p.lat, p.lng, p.id, p.name)).collect_view()}
                </g>
                <ScaleBar/>
                <g class="city-map__markers">
                    <For each=keys key=|key| *key let((index, kind))>
                        <MarkerView markers index kind/>
                    </For>
                </g>
            </svg>
            {pickable
                .then(|| {
                    view! {
                        <figcaption id=hint_id class="city-map__hint">
                            "Click the map to choose a point, or pick a place from the list."
                        </figcaption>
                    }
                })}
            <Suspense fallback=|| ()>
                {move || tiles().and_then(|(_, attribution)| attribution).map(|a| view! {
                    <small class="city-map__attribution">{a}</small>
                })}
            </Suspense>
        </figure>
    }
}

fn place_view(lat: f64, lng: f64, id: &'static str, name: &'static str) -> impl IntoView {
    let (x, y) = GeoPoint::new(lat, lng)
        .map(|at| BOUNDS.project(at))
        .unwrap_or_default();
    let (dx, dy, anchor) = label_offset(id);
    view! {
        <g class="city-map__place" data-place=id>
            <circle cx=num(x) cy=num(y) r="6"/>
            <text x=num(x + dx) y=num(y + dy) text-anchor=anchor>{name}</text>
        </g>
    }
}

/// Where a place's name sits beside its dot, chosen by eye so that neighbours do not collide.
fn label_offset(id: &str) -> (f64, f64, &'static str) {
    match id {
        "university" => (-10.0, 22.0, "end"),
        "museum-island" => (4.0, -14.0, "middle"),
        "old-town-square" => (10.0, -10.0, "start"),
        "central-station" => (-10.0, -10.0, "end"),
        "tech-campus" => (0.0, -14.0, "middle"),
        "harbour" => (-10.0, 18.0, "end"),
        _ => (10.0, 6.0, "start"),
    }
}

/// The ring and the avenues are drawn wider, as a map would.
fn is_major(name: &str) -> bool {
    name == "Ring Road" || name.ends_with("Avenue")
}

/// One kilometre, so the size of the city reads at a glance.
#[component]
fn ScaleBar() -> impl IntoView {
    // A degree of longitude at the city's middle latitude, in metres (spherical Earth).
    const METRES_PER_DEGREE: f64 = 111_195.0;
    let (width, height) = BOUNDS.view_size();
    let mid_lat = ((BOUNDS.south + BOUNDS.north) / 2.0).to_radians();
    let ground_width = (BOUNDS.east - BOUNDS.west) * METRES_PER_DEGREE * mid_lat.cos();
    let km = 1000.0 / ground_width * width;
    let (x, y) = (24.0, height - 24.0);
    view! {
        <g class="city-map__scale" aria-hidden="true">
            <path d=format!("M{} {}v8h{}v-8", num(x), num(y - 8.0), num(km))/>
            <text x=num(x + km / 2.0) y=num(y - 14.0) text-anchor="middle">"1 km"</text>
        </g>
    }
}

#[component]
fn MarkerView(markers: Signal<Vec<Marker>>, index: usize, kind: MarkerKind) -> impl IntoView {
    let marker =
        Memo::new(move |_| markers.with(|all| all.get(index).filter(|m| m.kind == kind).cloned()));
    // Keeps the last position while `<For>` removes a marker that has just gone.
    let spot = Memo::new(move |last: Option<&(f64, f64)>| {
        marker
            .with(|m| m.as_ref().map(|m| BOUNDS.project(m.at)))
            .or(last.copied())
            .unwrap_or_default()
    });
    let coordinate = move |pick: fn(&GeoPoint) -> f64| {
        move || marker.with(|m| m.as_ref().map(|m| format!("{:.6}", pick(&m.at))))
    };
    let title = move || marker.with(|m| m.as_ref().map(|m| m.label.clone()).unwrap_or_default());
    // The attribute is what tests and plain SVG renderers read; the inline style is what every
    // browser transitions (Chromium also transitions the attribute, not all engines do).
    let translate = move || {
        let (x, y) = spot.get();
        format!("translate({} {})", num(x), num(y))
    };
    let translate_css = move || {
        let (x, y) = spot.get();
        format!("translate({}px, {}px)", num(x), num(y))
    };
    let name = kind.name();

    view! {
        <g
            class=format!("marker marker--{name}")
            data-testid=format!("marker-{name}")
            data-lat=coordinate(GeoPoint::lat)
            data-lng=coordinate(GeoPoint::lng)
            transform=translate
            style:transform=translate_css
        >
            <title>{title}</title>
            <g class="marker__body">{shape(kind, spot)}</g>
        </g>
    }
}

/// Each shape is drawn around (0, 0), the marker's exact point: pins stand on it, dots sit on it.
fn shape(kind: MarkerKind, spot: Memo<(f64, f64)>) -> AnyView {
    match kind {
        MarkerKind::Pickup => view! {
            <path class="marker__pin" d="M0 0C-3-9-14-15-14-27a14 14 0 1 1 28 0C14-15 3-9 0 0Z"/>
            <circle class="marker__hole" cy="-27" r="5"/>
        }
        .into_any(),
        MarkerKind::Dropoff => view! {
            <path class="marker__flag-pole" d="M0 0V-40"/>
            <path class="marker__flag" d="M0-40h22l-5 8 5 8H0Z"/>
            <circle class="marker__foot" r="3.5"/>
        }
        .into_any(),
        MarkerKind::Car | MarkerKind::Nearby => {
            let heading = heading_of(spot);
            let rotate = move || format!("rotate({})", num(heading.get()));
            let rotate_css = move || format!("rotate({}deg)", num(heading.get()));
            // Drawn pointing north (up); the inner group turns it to where it last moved.
            view! {
                <g class="marker__heading" transform=rotate style:transform=rotate_css>
                    <rect class="marker__car" x="-10" y="-17" width="20" height="34" rx="6"/>
                    <path class="marker__windscreen" d="M-7-7q7-5 14 0l-1.5-6h-11Z"/>
                    <rect class="marker__roof" x="-6" y="-4" width="12" height="12" rx="2"/>
                </g>
            }
            .into_any()
        }
        MarkerKind::You => view! {
            <circle class="marker__halo" r="20"/>
            <circle class="marker__dot" r="8"/>
        }
        .into_any(),
    }
}

/// The direction the car last moved in, in degrees clockwise from north, unwrapped so that a
/// turn across north rotates the short way rather than spinning a full circle.
///
/// It starts at 0 on both sides and only changes in the browser (effects do not run on the
/// server), so hydration sees the same markup.
fn heading_of(spot: Memo<(f64, f64)>) -> RwSignal<f64> {
    let heading = RwSignal::new(0.0);
    let last = StoredValue::new(None::<(f64, f64)>);
    Effect::new(move |_| {
        let now = spot.get();
        if let Some(before) = last.get_value() {
            if let Some(turned) = turn(heading.get_untracked(), before, now) {
                heading.set(turned);
            }
        }
        last.set_value(Some(now));
    });
    heading
}

/// The new unwrapped heading after moving from `before` to `now` (viewBox units), or `None`
/// when the move is too small to have a direction.
fn turn(current: f64, before: (f64, f64), now: (f64, f64)) -> Option<f64> {
    let (dx, dy) = (now.0 - before.0, now.1 - before.1);
    if dx.hypot(dy) < 0.5 {
        return None;
    }
    // y grows southwards, so north is -y; atan2(east, north) is the compass bearing.
    let bearing = dx.atan2(-dy).to_degrees();
    let delta = (bearing - current + 180.0).rem_euclid(360.0) - 180.0;
    Some(current + delta)
}

/// The point under a click, or `None` when it fell outside the drawn city.
fn point_under_pointer(ev: &MouseEvent) -> Option<GeoPoint> {
    // The svg element itself, wherever inside it the click landed.
    let svg = ev.current_target()?.dyn_into::<web_sys::Element>().ok()?;
    let rect = dom::bounding_client_rect(&svg);
    let screen = ScreenBox {
        left: rect.left(),
        top: rect.top(),
        width: rect.width(),
        height: rect.height(),
    };
    let (x, y) = view_position(
        f64::from(ev.client_x()),
        f64::from(ev.client_y()),
        screen,
        BOUNDS.view_size(),
    )?;
    BOUNDS.unproject(x, y)
}

/// Where an element sits on screen, in CSS pixels (as `getBoundingClientRect` reports it).
#[derive(Debug, Clone, Copy)]
struct ScreenBox {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

/// Converts a pointer position to viewBox units for an SVG drawn with
/// `preserveAspectRatio="xMidYMid meet"`: the drawing is scaled uniformly to fit and centred, so
/// when CSS gives the element another shape there is a letterbox on two sides. Positions in the
/// letterbox map outside the view, where `Bounds::unproject` refuses them. The svg must have no
/// border or padding (the stylesheet puts those on the figure) since the viewBox fills the
/// content box.
fn view_position(
    client_x: f64,
    client_y: f64,
    screen: ScreenBox,
    (view_width, view_height): (f64, f64),
) -> Option<(f64, f64)> {
    let scale = (screen.width / view_width).min(screen.height / view_height);
    if !scale.is_finite() || scale <= 0.0 {
        return None;
    }
    let pad_x = (screen.width - view_width * scale) / 2.0;
    let pad_y = (screen.height - view_height * scale) / 2.0;
    Some((
        (client_x - screen.left - pad_x) / scale,
        (client_y - screen.top - pad_y) / scale,
    ))
}

/// `Element.getBoundingClientRect`, bound here because the `DomRect` feature of web-sys is not
/// switched on in Cargo.toml; with it, `web_sys::Element::get_bounding_client_rect` replaces
/// this module. Only called from event handlers, which run in the browser alone.
mod dom {
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsCast;

    use leptos::web_sys::Element;

    #[wasm_bindgen]
    extern "C" {
        /// Any element, seen only for the one method this module needs.
        type Measured;

        pub type ClientRect;

        #[wasm_bindgen(method, js_name = getBoundingClientRect)]
        fn bounding_client_rect(this: &Measured) -> ClientRect;

        #[wasm_bindgen(method, getter)]
        pub fn left(this: &ClientRect) -> f64;

        #[wasm_bindgen(method, getter)]
        pub fn top(this: &ClientRect) -> f64;

        #[wasm_bindgen(method, getter)]
        pub fn width(this: &ClientRect) -> f64;

        #[wasm_bindgen(method, getter)]
        pub fn height(this: &ClientRect) -> f64;
    }

    pub fn bounding_client_rect(element: &Element) -> ClientRect {
        // Every Element has the method, so the unchecked view is sound.
        element.unchecked_ref::<Measured>().bounding_client_rect()
    }
}

/// A labelled `<select>` of the city's places, posting the place id under `name`; it works as a
/// plain form field without JavaScript. `on_change` gets the chosen id, or `None` for the
/// "Choose a place…" option (or anything that is not a known place).
#[component]
pub fn PlacePicker(
    #[prop(into)] label: String,
    #[prop(into)] id: String,
    #[prop(into)] name: String,
    #[prop(into)] selected: Signal<Option<String>>,
    on_change: Callback<Option<String>>,
) -> impl IntoView {
    let is_selected = move |value: &'static str| {
        move || {
            selected.with(|s| match s {
                Some(chosen) => chosen == value,
                None => value.is_empty(),
            })
        }
    };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select
                id=id
                name=name
                class="place-picker"
                // The `selected` attributes below set the first render; after the user has
                // touched the control only the property moves it.
                prop:value=move || selected.get().unwrap_or_default()
                on:change:target=move |ev| {
                    let value = ev.target().value();
                    on_change.run(place(&value).map(|p| p.id.to_owned()));
                }
            >
                <option value="" selected=is_selected("")>"Choose a place…"</option>
                {PLACES
                    .iter()
                    .map(|p| view! { <option value=p.id selected=is_selected(p.id)>{p.name}</option> })
                    .collect_view()}
            </select>
        </div>
    }
}

/// SVG `points` for `(lat, lng)` pairs. Every constant is checked valid by the city's tests, so
/// skipping an invalid one is never expected to happen; it just keeps the render panic-free.
fn points(pairs: &[(f64, f64)]) -> String {
    let valid: Vec<GeoPoint> = pairs
        .iter()
        .filter_map(|&(lat, lng)| GeoPoint::new(lat, lng).ok())
        .collect();
    line_points(&valid)
}

/// SVG `points` for a route's points.
fn line_points(points: &[GeoPoint]) -> String {
    points
        .iter()
        .map(|&at| {
            let (x, y) = BOUNDS.project(at);
            format!("{},{}", num(x), num(y))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One decimal of a viewBox unit is under 10 m on the ground and well under a pixel.
fn num(value: f64) -> String {
    let rounded = format!("{value:.1}");
    // "-0.0" and "12.0" are noise in markup.
    let trimmed = rounded.strip_suffix(".0").unwrap_or(&rounded);
    if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A label turned into something usable in an id: "Map of your ride" → "map-of-your-ride".
fn slug(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if words.is_empty() {
        "city-map".to_owned()
    } else {
        words.join("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEW: (f64, f64) = (1000.0, 800.0);

    #[test]
    fn a_click_on_an_unscaled_map_is_the_pixel_itself() {
        let screen = ScreenBox {
            left: 50.0,
            top: 20.0,
            width: 1000.0,
            height: 800.0,
        };
        assert_eq!(
            view_position(550.0, 420.0, screen, VIEW),
            Some((500.0, 400.0))
        );
    }

    #[test]
    fn a_click_on_a_shrunken_map_is_scaled_up() {
        let screen = ScreenBox {
            left: 0.0,
            top: 0.0,
            width: 500.0,
            height: 400.0,
        };
        assert_eq!(
            view_position(250.0, 100.0, screen, VIEW),
            Some((500.0, 200.0))
        );
    }

    #[test]
    fn a_letterboxed_map_is_centred_and_clicks_in_the_bars_fall_outside() {
        // Twice as wide as the drawing's shape: bars of 200 px left and right.
        let screen = ScreenBox {
            left: 0.0,
            top: 0.0,
            width: 900.0,
            height: 400.0,
        };
        assert_eq!(view_position(200.0, 0.0, screen, VIEW), Some((0.0, 0.0)));
        assert_eq!(
            view_position(700.0, 400.0, screen, VIEW),
            Some((1000.0, 800.0))
        );
        let (x, _) = view_position(100.0, 200.0, screen, VIEW).unwrap();
        assert!(x < 0.0);
        let (width, height) = BOUNDS.view_size();
        let real = ScreenBox {
            left: 0.0,
            top: 0.0,
            width: 900.0,
            height: 400.0,
        };
        let (x, y) = view_position(100.0, 200.0, real, (width, height)).unwrap();
        assert_eq!(BOUNDS.unproject(x, y), None);
    }

    #[test]
    fn a_map_with_no_size_picks_nothing() {
        let screen = ScreenBox {
            left: 0.0,
            top: 0.0,
            width: 0.0,
            height: 0.0,
        };
        assert_eq!(view_position(0.0, 0.0, screen, VIEW), None);
    }

    #[test]
    fn a_click_on_a_place_picks_that_place() {
        let (width, height) = BOUNDS.view_size();
        let screen = ScreenBox {
            left: 10.0,
            top: 10.0,
            width: width / 2.0,
            height: height / 2.0,
        };
        let station = place("central-station").unwrap().at();
        let (x, y) = BOUNDS.project(station);
        let (vx, vy) =
            view_position(10.0 + x / 2.0, 10.0 + y / 2.0, screen, (width, height)).unwrap();
        let picked = BOUNDS.unproject(vx, vy).unwrap();
        assert!((picked.lat() - station.lat()).abs() < 1e-9);
        assert!((picked.lng() - station.lng()).abs() < 1e-9);
    }

    #[test]
    fn the_car_turns_the_short_way_round() {
        // Heading north, then moving east: a quarter turn clockwise.
        assert_eq!(turn(0.0, (0.0, 0.0), (10.0, 0.0)), Some(90.0));
        // Heading just west of north (350°) and turning to just east of it: +20°, not -340°.
        let turned = turn(350.0, (0.0, 0.0), (10.0, -57.0)).unwrap();
        assert!((turned - 370.0).abs() < 0.1, "{turned}");
        // Southwards is 180° either way round.
        assert_eq!(
            turn(0.0, (0.0, 0.0), (0.0, 10.0)).map(f64::abs),
            Some(180.0)
        );
        // Standing still keeps the heading.
        assert_eq!(turn(45.0, (1.0, 1.0), (1.1, 1.1)), None);
    }

    #[test]
    fn numbers_in_markup_are_short_and_never_negative_zero() {
        assert_eq!(num(12.04), "12");
        assert_eq!(num(12.06), "12.1");
        assert_eq!(num(-0.01), "0");
        assert_eq!(num(-3.26), "-3.3");
    }

    #[test]
    fn ids_are_made_from_labels() {
        assert_eq!(slug("Map of your ride"), "map-of-your-ride");
        assert_eq!(slug("  Pick-up: où?  "), "pick-up-o");
        assert_eq!(slug("…"), "city-map");
    }
}

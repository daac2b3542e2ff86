//! The authorization matrix: every server function and every WebSocket message, tried by each
//! party, on two instances. The tables below are the contract; SECURITY.md prints them, and
//! `the_security_page_prints_these_tables` fails when the page and the tables part ways
//! (`HAIL_BLESS=1 cargo test --features ssr --test integration authz::` rewrites the page).
//!
//! What a refusal must look like: the documented status, a JSON `{kind, message}` body that
//! holds nothing of the ride (its id, places, PIN, people), and, for 404, exactly the answer the
//! same party gets for a ride that does not exist. A refused step changes nothing: the ride's
//! `seq` is the same after every refusal.

use std::fmt::Write as _;
use std::time::Duration;

use hail::domain::live::{ClientMessage, ServerMessage};
use hail::domain::ride::RideId;
use hail::domain::GeoPoint;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::*;
use crate::live::{Ended, Live};

/// Who asks, about one ride.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    Anonymous,
    OtherRider,
    OtherDriver,
    Rider,
    Driver,
    /// The driver the ride is offered to; once another driver took it, the one who declined.
    Offered,
}

const PARTIES: [Party; 6] = [
    Party::Anonymous,
    Party::OtherRider,
    Party::OtherDriver,
    Party::Rider,
    Party::Driver,
    Party::Offered,
];

impl Party {
    fn heading(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::OtherRider => "another rider",
            Self::OtherDriver => "another driver",
            Self::Rider => "its rider",
            Self::Driver => "its driver",
            Self::Offered => "the driver offered it",
        }
    }
}

/// What a party gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 200 with the answer (HTTP), or the documented reply (WebSocket).
    Allowed,
    /// 200, and the answer holds the ride (a list, the current ride, the driver's screen).
    Shown,
    /// 200, and the answer holds nothing of the ride.
    Hidden,
    /// Refused with this HTTP status (for the socket: at the upgrade).
    Status(u16),
    /// Refused over the socket with an `error` of this code; the socket stays open.
    Code(&'static str),
}

impl Outcome {
    fn cell(self, live: bool) -> String {
        match self {
            Self::Allowed => "✓".to_owned(),
            Self::Shown => "✓ with it".to_owned(),
            Self::Hidden => "✓ without it".to_owned(),
            Self::Status(status) if live => format!("{status} at the upgrade"),
            Self::Status(status) => status.to_string(),
            Self::Code(code) => format!("`{code}`"),
        }
    }
}

/// What is tried.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// `GET path?id=<ride>` (ride rows) or `GET path` (account rows).
    Get(&'static str),
    /// `GET path`, which names no ride: what it tells of the ride depends on who asks.
    Read(&'static str),
    /// `POST path` with the ride's id (ride rows) and these fields; `{pin}` stands for the
    /// ride's PIN, `{email}` for an email of the party's own.
    Post(&'static str, &'static [(&'static str, &'static str)]),
    /// The upgrade to /ws itself.
    Upgrade,
    /// A WebSocket message.
    Send(LiveMessage),
}

#[derive(Debug, Clone, Copy)]
enum LiveMessage {
    Subscribe,
    Unsubscribe,
    Position,
    Watch,
}

impl Action {
    fn label(self) -> String {
        match self {
            Self::Get(path) | Self::Read(path) => format!("`GET {path}`"),
            Self::Post(path, _) => format!("`POST {path}`"),
            Self::Upgrade => "`GET /ws` (upgrade)".to_owned(),
            Self::Send(LiveMessage::Subscribe) => "`subscribe` (socket)".to_owned(),
            Self::Send(LiveMessage::Unsubscribe) => "`unsubscribe` (socket)".to_owned(),
            Self::Send(LiveMessage::Position) => "`position` (socket)".to_owned(),
            Self::Send(LiveMessage::Watch) => "`watch` (socket)".to_owned(),
        }
    }

    fn is_live(self) -> bool {
        matches!(self, Self::Upgrade | Self::Send(_))
    }

    fn changes_the_ride(self) -> bool {
        matches!(self, Self::Post(..))
    }
}

/// Where the ride is when a row is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Searching, offered to `Party::Offered`.
    Offered,
    /// `Party::Offered` declined; `Party::Driver` accepted.
    Assigned,
    Arrived,
    /// Arrived, and three wrong PINs locked the start until the rider re-confirms.
    PinLocked,
    InTrip,
    Completed,
}

impl Stage {
    fn label(self) -> &'static str {
        match self {
            Self::Offered => "offered",
            Self::Assigned => "driver assigned",
            Self::Arrived => "driver arrived",
            Self::PinLocked => "PIN locked",
            Self::InTrip => "in trip",
            Self::Completed => "completed",
        }
    }
}

struct RideRow {
    action: Action,
    stage: Stage,
    /// In the order of `PARTIES`.
    outcomes: [Outcome; 6],
}

use Outcome::{Allowed as Y, Code, Hidden as WITHOUT, Shown as WITH, Status};

const NO: Outcome = Status(404);
const ROLE: Outcome = Status(403);
const ANON: Outcome = Status(401);
/// The live endpoint refuses a request without a session at the upgrade, with 403.
const ANON_LIVE: Outcome = Status(403);
const NOT_YOURS: Outcome = Code("forbidden");
/// A driver whose offer is gone is told only that ("this offer is no longer available").
const GONE: Outcome = Status(409);

/// Everything about one ride, by who asks.
const RIDE_ROWS: &[RideRow] = &[
    RideRow {
        action: Action::Get("/api/ride"),
        stage: Stage::Offered,
        outcomes: [ANON, NO, NO, Y, NO, Y],
    },
    RideRow {
        action: Action::Read("/api/current_ride"),
        stage: Stage::Offered,
        outcomes: [ANON, WITHOUT, WITHOUT, WITH, WITHOUT, WITH],
    },
    RideRow {
        action: Action::Read("/api/driver"),
        stage: Stage::Offered,
        outcomes: [ANON, ROLE, WITHOUT, ROLE, WITHOUT, WITH],
    },
    RideRow {
        action: Action::Send(LiveMessage::Subscribe),
        stage: Stage::Offered,
        outcomes: [ANON_LIVE, NOT_YOURS, NOT_YOURS, Y, NOT_YOURS, Y],
    },
    RideRow {
        action: Action::Post("/api/accept", &[]),
        stage: Stage::Offered,
        outcomes: [ANON, ROLE, NO, ROLE, NO, Y],
    },
    RideRow {
        action: Action::Post("/api/decline", &[]),
        stage: Stage::Offered,
        outcomes: [ANON, ROLE, NO, ROLE, NO, Y],
    },
    RideRow {
        action: Action::Post("/api/cancel_ride", &[]),
        stage: Stage::Offered,
        outcomes: [ANON, NO, ROLE, Y, ROLE, ROLE],
    },
    RideRow {
        action: Action::Get("/api/ride"),
        stage: Stage::Assigned,
        outcomes: [ANON, NO, NO, Y, Y, NO],
    },
    RideRow {
        action: Action::Read("/api/current_ride"),
        stage: Stage::Assigned,
        outcomes: [ANON, WITHOUT, WITHOUT, WITH, WITH, WITHOUT],
    },
    RideRow {
        action: Action::Read("/api/driver"),
        stage: Stage::Assigned,
        outcomes: [ANON, ROLE, WITHOUT, ROLE, WITH, WITHOUT],
    },
    RideRow {
        action: Action::Send(LiveMessage::Subscribe),
        stage: Stage::Assigned,
        outcomes: [ANON_LIVE, NOT_YOURS, NOT_YOURS, Y, Y, NOT_YOURS],
    },
    RideRow {
        action: Action::Post("/api/accept", &[]),
        stage: Stage::Assigned,
        outcomes: [ANON, ROLE, NO, ROLE, Y, GONE],
    },
    RideRow {
        action: Action::Post("/api/arrive", &[]),
        stage: Stage::Assigned,
        outcomes: [ANON, ROLE, NO, ROLE, Y, NO],
    },
    RideRow {
        action: Action::Post("/api/cancel_ride", &[]),
        stage: Stage::Assigned,
        outcomes: [ANON, NO, ROLE, Y, ROLE, ROLE],
    },
    RideRow {
        action: Action::Post("/api/start_trip", &[("pin", "{pin}")]),
        stage: Stage::Arrived,
        outcomes: [ANON, ROLE, NO, ROLE, Y, NO],
    },
    RideRow {
        action: Action::Post("/api/reconfirm_ride", &[]),
        stage: Stage::PinLocked,
        outcomes: [ANON, NO, ROLE, Y, ROLE, ROLE],
    },
    RideRow {
        action: Action::Post("/api/complete", &[]),
        stage: Stage::InTrip,
        outcomes: [ANON, ROLE, NO, ROLE, Y, NO],
    },
    RideRow {
        action: Action::Get("/api/ride"),
        stage: Stage::Completed,
        outcomes: [ANON, NO, NO, Y, Y, NO],
    },
    RideRow {
        action: Action::Read("/api/rides"),
        stage: Stage::Completed,
        outcomes: [ANON, WITHOUT, WITHOUT, WITH, WITH, WITHOUT],
    },
    RideRow {
        action: Action::Post("/api/rate_ride", &[("stars", "5")]),
        stage: Stage::Completed,
        outcomes: [ANON, NO, ROLE, Y, ROLE, ROLE],
    },
];

/// Who asks, about their own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Account {
    Anonymous,
    Rider,
    Driver,
}

const ACCOUNTS: [Account; 3] = [Account::Anonymous, Account::Rider, Account::Driver];

struct AccountRow {
    action: Action,
    outcomes: [Outcome; 3],
}

const LAT: &str = "52.52";
const LNG: &str = "13.405";
const AT: &[(&str, &str)] = &[("lat", LAT), ("lng", LNG)];

/// Everything that is not about one ride, in the order it is tried.
const ACCOUNT_ROWS: &[AccountRow] = &[
    AccountRow {
        action: Action::Get("/api/me"),
        outcomes: [ANON, Y, Y],
    },
    AccountRow {
        action: Action::Post("/api/flash", &[]),
        outcomes: [Y, Y, Y],
    },
    AccountRow {
        action: Action::Get("/api/map"),
        outcomes: [Y, Y, Y],
    },
    AccountRow {
        action: Action::Post("/api/save_location", AT),
        outcomes: [ANON, Y, Y],
    },
    AccountRow {
        action: Action::Get("/api/location"),
        outcomes: [ANON, Y, Y],
    },
    AccountRow {
        action: Action::Post(
            "/api/quote",
            &[
                ("pickup_lat", "52.52"),
                ("pickup_lng", "13.405"),
                ("dropoff_lat", "52.50"),
                ("dropoff_lng", "13.44"),
            ],
        ),
        outcomes: [ANON, Y, ROLE],
    },
    AccountRow {
        action: Action::Get("/api/nearby?lat=52.52&lng=13.405"),
        outcomes: [ANON, Y, ROLE],
    },
    AccountRow {
        action: Action::Get("/api/driver"),
        outcomes: [ANON, ROLE, Y],
    },
    AccountRow {
        action: Action::Post(
            "/api/car",
            &[
                ("make", "Toyota"),
                ("model", "Prius"),
                ("plate", "B-HX 123"),
            ],
        ),
        outcomes: [ANON, ROLE, Y],
    },
    AccountRow {
        action: Action::Post("/api/go_online", AT),
        outcomes: [ANON, ROLE, Y],
    },
    AccountRow {
        action: Action::Post("/api/position", AT),
        outcomes: [ANON, ROLE, Y],
    },
    AccountRow {
        action: Action::Upgrade,
        outcomes: [ANON_LIVE, Y, Y],
    },
    AccountRow {
        action: Action::Send(LiveMessage::Position),
        outcomes: [ANON_LIVE, NOT_YOURS, Y],
    },
    AccountRow {
        action: Action::Send(LiveMessage::Unsubscribe),
        outcomes: [ANON_LIVE, Y, Y],
    },
    AccountRow {
        action: Action::Send(LiveMessage::Watch),
        outcomes: [ANON_LIVE, Y, NOT_YOURS],
    },
    AccountRow {
        action: Action::Post(
            "/api/request_ride",
            &[
                ("pickup_lat", "52.52"),
                ("pickup_lng", "13.405"),
                ("pickup_name", "Central Station"),
                ("dropoff_lat", "52.50"),
                ("dropoff_lng", "13.44"),
                ("dropoff_name", "Riverside Park"),
                ("client_key", "authz-matrix-key"),
            ],
        ),
        outcomes: [ANON, Y, ROLE],
    },
    AccountRow {
        action: Action::Get("/api/current_ride"),
        outcomes: [ANON, Y, Y],
    },
    AccountRow {
        action: Action::Get("/api/rides"),
        outcomes: [ANON, Y, Y],
    },
    AccountRow {
        action: Action::Post("/api/go_offline", &[]),
        outcomes: [ANON, ROLE, Y],
    },
    // Signing up or logging in while logged in starts a new session (under a new id).
    AccountRow {
        action: Action::Post(
            "/api/signup",
            &[
                ("name", "Sam"),
                ("email", "{email}"),
                ("password", "correct horse"),
                ("role", "rider"),
            ],
        ),
        outcomes: [Y, Y, Y],
    },
    AccountRow {
        action: Action::Post(
            "/api/login",
            &[("email", "{email}"), ("password", "correct horse")],
        ),
        outcomes: [Y, Y, Y],
    },
    AccountRow {
        action: Action::Post("/api/logout", &[]),
        outcomes: [Y, Y, Y],
    },
];

/// The two tables as SECURITY.md prints them.
fn tables() -> String {
    let mut out = String::new();
    out.push_str("| action | the ride is |");
    for party in PARTIES {
        write!(out, " {} |", party.heading()).unwrap();
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(PARTIES.len()));
    for row in RIDE_ROWS {
        write!(out, "\n| {} | {} |", row.action.label(), row.stage.label()).unwrap();
        for outcome in row.outcomes {
            write!(out, " {} |", outcome.cell(row.action.is_live())).unwrap();
        }
    }
    out.push_str("\n\n| action | anonymous | a rider | a driver |\n|---|---|---|---|");
    for row in ACCOUNT_ROWS {
        write!(out, "\n| {} |", row.action.label()).unwrap();
        for outcome in row.outcomes {
            write!(out, " {} |", outcome.cell(row.action.is_live())).unwrap();
        }
    }
    out.push('\n');
    out
}

const BEGIN: &str = "<!-- authorization tables: printed by tests/integration/authz.rs -->\n";
const END: &str = "<!-- end of the authorization tables -->";

#[test]
fn the_security_page_prints_these_tables() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/SECURITY.md");
    let page = std::fs::read_to_string(path).expect("SECURITY.md");
    let start = page
        .find(BEGIN)
        .expect("SECURITY.md marks where the tables go")
        + BEGIN.len();
    let end = page[start..].find(END).expect("and where they end") + start;
    let printed = tables();
    if page[start..end] == printed {
        return;
    }
    if std::env::var_os("HAIL_BLESS").is_some() {
        let page = format!("{}{printed}{}", &page[..start], &page[end..]);
        std::fs::write(path, page).unwrap();
        return;
    }
    panic!(
        "SECURITY.md's tables differ from tests/integration/authz.rs; rerun with HAIL_BLESS=1 \
         to print them there. They are:\n{printed}"
    );
}

/// Two instances and the parties of one ride.
struct Cast {
    cluster: Cluster,
    people: People,
}

struct People {
    anonymous: Browser,
    rider: Browser,
    other_rider: Browser,
    other_driver: Browser,
    driver: Browser,
    offered: Browser,
}

impl People {
    fn browser(&mut self, party: Party) -> &mut Browser {
        match party {
            Party::Anonymous => &mut self.anonymous,
            Party::OtherRider => &mut self.other_rider,
            Party::OtherDriver => &mut self.other_driver,
            Party::Rider => &mut self.rider,
            Party::Driver => &mut self.driver,
            Party::Offered => &mut self.offered,
        }
    }
}

/// The offered driver waits nearer the pickup than the ride's driver, so the offer goes to them
/// first; another driver is online far away.
const OFFERED_AT: (f64, f64) = (PICKUP.0 + 0.0027, PICKUP.1);
const DRIVER_AT: (f64, f64) = (PICKUP.0 + 0.0072, PICKUP.1);
const FAR_AWAY: (f64, f64) = (PICKUP.0 + 0.45, PICKUP.1);

struct Ride {
    id: String,
    pin: String,
    /// Its pickup's name, new for every ride (the other rides of the same people share the
    /// rest).
    pickup_name: String,
}

impl Cast {
    async fn assemble() -> Self {
        let cluster = Cluster::start_with(|c| {
            fast_dispatch(c);
            teleporting_drivers(c);
            // Each row takes a while; no offer may lapse in the middle of one.
            c.offer_timeout_secs = 60;
            c.driver_stale_secs = 600;
        })
        .await;
        let (a, b) = (&cluster.a, &cluster.b);
        let rider = Browser::rider(a, "Rita").await;
        let other_rider = Browser::rider(b, "Olga").await;
        let other_driver = Browser::driver_online(a, "Otto", FAR_AWAY).await;
        let driver = Browser::driver_online(b, "Dan", DRIVER_AT).await;
        let offered = Browser::driver_online(a, "Oona", OFFERED_AT).await;
        let people = People {
            anonymous: Browser::new(),
            rider,
            other_rider,
            other_driver,
            driver,
            offered,
        };
        Self { cluster, people }
    }

    /// A new ride, brought to `stage`.
    async fn ride_at(&mut self, stage: Stage) -> Ride {
        let (a, b) = (&self.cluster.a, &self.cluster.b);
        let pickup_name = format!("Gate {}", client_key());
        let requested = self
            .people
            .rider
            .request_ride_from(a, &client_key(), &pickup_name)
            .await;
        assert_eq!(requested.status, StatusCode::OK, "{}", requested.body);
        let ride = requested.json();
        let id = ride["id"].as_str().unwrap().to_owned();
        let pin = ride["pin"].as_str().unwrap().to_owned();
        self.people
            .offered
            .wait_for_current(b, 5, |c| c["id"].as_str() == Some(&id))
            .await;
        if stage > Stage::Offered {
            let declined = self
                .people
                .offered
                .ride_step(a, "/api/decline", &id, &[])
                .await;
            assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
            self.people
                .driver
                .wait_for_current(a, 5, |c| c["id"].as_str() == Some(&id))
                .await;
            let accepted = self
                .people
                .driver
                .ride_step(b, "/api/accept", &id, &[])
                .await;
            assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        }
        if stage > Stage::Assigned {
            let arrived = self
                .people
                .driver
                .ride_step(a, "/api/arrive", &id, &[])
                .await;
            assert_eq!(arrived.status, StatusCode::OK, "{}", arrived.body);
        }
        if stage == Stage::PinLocked {
            let wrong = if pin == "0000" { "1111" } else { "0000" };
            for _ in 0..3 {
                self.people
                    .driver
                    .ride_step(b, "/api/start_trip", &id, &[("pin", wrong)])
                    .await;
            }
            assert_eq!(
                self.people.rider.ride(a, &id).await.json()["pin_locked"],
                true
            );
        }
        if stage >= Stage::InTrip {
            let started = self
                .people
                .driver
                .ride_step(b, "/api/start_trip", &id, &[("pin", &pin)])
                .await;
            assert_eq!(started.status, StatusCode::OK, "{}", started.body);
        }
        if stage == Stage::Completed {
            let completed = self
                .people
                .driver
                .ride_step(a, "/api/complete", &id, &[])
                .await;
            assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
        }
        Ride {
            id,
            pin,
            pickup_name,
        }
    }

    /// Ends the ride however far it got, so everyone is free for the next row.
    async fn finish(&mut self, ride: &Ride) {
        let a = &self.cluster.a;
        let status = self.people.rider.ride(a, &ride.id).await.json()["status"].clone();
        match status.as_str() {
            Some("in_progress") => {
                let done = self
                    .people
                    .driver
                    .ride_step(a, "/api/complete", &ride.id, &[])
                    .await;
                assert_eq!(done.status, StatusCode::OK, "{}", done.body);
            }
            Some("completed" | "cancelled") => {}
            _ => {
                let cancelled = self
                    .people
                    .rider
                    .ride_step(a, "/api/cancel_ride", &ride.id, &[])
                    .await;
                assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
            }
        }
        for party in [Party::Rider, Party::Driver, Party::Offered] {
            self.people
                .browser(party)
                .wait_for_current(a, 5, |c| {
                    c.is_null() || c["status"] == "completed" || c["status"] == "cancelled"
                })
                .await;
        }
    }

    /// The ride's seq, as its rider sees it.
    async fn seq(&mut self, ride: &Ride) -> u64 {
        let a = &self.cluster.a;
        let seen = self.people.rider.ride(a, &ride.id).await;
        assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);
        seen.json()["seq"].as_u64().expect("a seq")
    }
}

/// What one try answered, in a form two tries can be compared by.
#[derive(Debug, PartialEq)]
enum Tried {
    Http(StatusCode, String),
    Upgrade(StatusCode),
    Live(ServerMessage),
    /// A position: nothing comes back when it is taken.
    Silent,
}

/// What stands for what in a row's fields: `("{pin}", "1234")`.
type Fill<'a> = &'a [(&'a str, &'a str)];

async fn try_http(
    browser: &mut Browser,
    app: &TestApp,
    action: Action,
    id: Option<&str>,
    fill: Fill<'_>,
) -> Tried {
    let answer = match action {
        Action::Get(path) => {
            let path = match id {
                Some(id) => format!("{path}?id={id}"),
                None => path.to_owned(),
            };
            browser.get(app, &path).await
        }
        Action::Read(path) => browser.get(app, path).await,
        Action::Post(path, fields) => {
            let mut form: Vec<(&str, &str)> = id.map(|id| ("id", id)).into_iter().collect();
            form.extend(fields.iter().map(|&(name, value)| {
                let filled = fill.iter().find(|(stand_in, _)| *stand_in == value);
                (name, filled.map_or(value, |(_, real)| *real))
            }));
            browser.send(Method::POST, app.url(path), &form, &[]).await
        }
        _ => unreachable!("not an HTTP action"),
    };
    Tried::Http(answer.status, answer.body)
}

async fn try_live(browser: &Browser, app: &TestApp, message: Option<ClientMessage>) -> Tried {
    let origin = format!("http://{}", app.addr);
    let mut live = match Live::try_open(app, browser.cookie.as_deref(), Some(&origin)).await {
        Ok(live) => live,
        Err(status) => return Tried::Upgrade(status),
    };
    let welcome = live.next().await;
    assert!(
        matches!(welcome, ServerMessage::Welcome { .. }),
        "{welcome:?}"
    );
    let Some(message) = message else {
        return Tried::Live(welcome);
    };
    let is_position = matches!(message, ClientMessage::Position { .. });
    live.send(&message).await;
    if is_position {
        // Taken positions are not answered: what follows an unsubscribe tells whether one was.
        let probe = RideId::parse(&"0".repeat(RideId::LEN)).unwrap();
        live.send(&ClientMessage::Unsubscribe { ride_id: probe })
            .await;
        return match reply(&mut live).await {
            ServerMessage::Unsubscribed { .. } => Tried::Silent,
            other => Tried::Live(other),
        };
    }
    Tried::Live(reply(&mut live).await)
}

/// The answer to what was sent, past any push (an offer, a status) that comes first.
async fn reply(live: &mut Live) -> ServerMessage {
    loop {
        match live.next_or_close(Duration::from_secs(10)).await {
            Ok(
                ServerMessage::Offer { .. }
                | ServerMessage::OfferWithdrawn { .. }
                | ServerMessage::Status { .. }
                | ServerMessage::Position { .. }
                | ServerMessage::Nearby { .. }
                | ServerMessage::NearbyGone { .. },
            ) => continue,
            Ok(answer) => return answer,
            Err(Ended::Closed(frame)) => panic!("the socket closed: {frame:?}"),
            Err(Ended::Silent) => panic!("no answer"),
        }
    }
}

fn live_message(message: LiveMessage, id: &str) -> ClientMessage {
    let ride_id = RideId::parse(id).unwrap();
    match message {
        LiveMessage::Subscribe => ClientMessage::Subscribe { ride_id },
        LiveMessage::Unsubscribe => ClientMessage::Unsubscribe { ride_id },
        LiveMessage::Position => ClientMessage::Position {
            at: GeoPoint::parse(LAT, LNG).unwrap(),
        },
        LiveMessage::Watch => ClientMessage::Watch {
            cells: vec![hail::domain::cells::Cell::parse("r2c2").unwrap()],
        },
    }
}

async fn try_action(
    browser: &mut Browser,
    app: &TestApp,
    action: Action,
    id: Option<&str>,
    fill: Fill<'_>,
) -> Tried {
    match action {
        Action::Get(_) | Action::Read(_) | Action::Post(..) => {
            try_http(browser, app, action, id, fill).await
        }
        Action::Upgrade => try_live(browser, app, None).await,
        Action::Send(message) => {
            let id = id.map_or_else(|| "f".repeat(RideId::LEN), str::to_owned);
            try_live(browser, app, Some(live_message(message, &id))).await
        }
    }
}

/// Checks a try against the table; `what` names the cell in a failure.
fn check(what: &str, expected: Outcome, tried: &Tried) {
    match (expected, tried) {
        (Outcome::Allowed, Tried::Http(status, body)) => {
            assert_eq!(*status, StatusCode::OK, "{what}: {body}")
        }
        (Outcome::Allowed, Tried::Live(message)) => assert!(
            matches!(
                message,
                ServerMessage::Snapshot { .. }
                    | ServerMessage::Unsubscribed { .. }
                    | ServerMessage::Watching { .. }
                    | ServerMessage::Welcome { .. }
            ),
            "{what}: {message:?}"
        ),
        (Outcome::Allowed, Tried::Silent) => {}
        (Outcome::Shown | Outcome::Hidden, Tried::Http(status, body)) => {
            assert_eq!(*status, StatusCode::OK, "{what}: {body}")
        }
        (Outcome::Status(expected), Tried::Http(status, body)) => {
            assert_eq!(status.as_u16(), expected, "{what}: {body}");
            let json: Value = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
            assert!(
                json["kind"].is_string() && json["message"].is_string(),
                "{what}: {body}"
            );
        }
        (Outcome::Status(expected), Tried::Upgrade(status)) => {
            assert_eq!(status.as_u16(), expected, "{what}")
        }
        (Outcome::Code(code), Tried::Live(ServerMessage::Error { code: got, message })) => {
            assert_eq!(got.to_string(), code, "{what}: {message}")
        }
        (expected, tried) => panic!("{what}: expected {expected:?}, got {tried:?}"),
    }
}

/// A refusal holds nothing of the ride, nor of anyone.
fn holds_nothing_of(what: &str, tried: &Tried, ride: &Ride) {
    let text = answer_text(tried);
    for secret in [
        ride.id.as_str(),
        &ride.pickup_name,
        "Riverside Park",
        "Rita",
        "Dan",
        "Oona",
    ] {
        assert!(!text.contains(secret), "{what} tells {secret:?}: {text}");
    }
}

/// An answer about other things (the asker's own rides, say) holds nothing of this ride.
fn holds_nothing_of_this(what: &str, tried: &Tried, ride: &Ride) {
    let text = answer_text(tried);
    for secret in [ride.id.as_str(), &ride.pickup_name] {
        assert!(!text.contains(secret), "{what} tells {secret:?}: {text}");
    }
}

fn answer_text(tried: &Tried) -> String {
    match tried {
        Tried::Http(_, body) => body.clone(),
        Tried::Live(message) => format!("{message:?}"),
        Tried::Upgrade(_) | Tried::Silent => String::new(),
    }
}

/// Drivers never see the PIN.
fn no_pin_for_drivers(what: &str, party: Party, tried: &Tried) {
    let json = match tried {
        Tried::Http(StatusCode::OK, body) => serde_json::from_str::<Value>(body).unwrap(),
        Tried::Live(ServerMessage::Snapshot { ride }) => serde_json::to_value(ride).unwrap(),
        _ => return,
    };
    /// A PIN anywhere in the answer: a ride, a list of rides, the driver's screen.
    fn has_pin(json: &Value) -> bool {
        match json {
            Value::Object(fields) => fields
                .iter()
                .any(|(name, value)| (name == "pin" && !value.is_null()) || has_pin(value)),
            Value::Array(items) => items.iter().any(has_pin),
            _ => false,
        }
    }
    if matches!(party, Party::Driver | Party::Offered | Party::OtherDriver) {
        assert!(!has_pin(&json), "{what}: a driver sees the PIN: {json}");
    }
}

#[tokio::test]
async fn every_party_gets_what_the_ride_table_says_and_nothing_more() {
    let mut cast = Cast::assemble().await;
    let mut n = 0;
    for row in RIDE_ROWS {
        let ride = cast.ride_at(row.stage).await;
        let before = cast.seq(&ride).await;
        // Refusals first: they must leave the ride as it was for those allowed after them.
        let mut order: Vec<(Party, Outcome)> = PARTIES.into_iter().zip(row.outcomes).collect();
        order.sort_by_key(|(_, outcome)| *outcome == Outcome::Allowed);
        for (party, expected) in order {
            let what = format!(
                "{} ({}) by {}",
                row.action.label(),
                row.stage.label(),
                party.heading()
            );
            n += 1;
            let app = if n % 2 == 0 {
                &cast.cluster.a
            } else {
                &cast.cluster.b
            };
            let browser = cast.people.browser(party);
            let fill = [("{pin}", ride.pin.as_str())];
            let tried = try_action(browser, app, row.action, Some(&ride.id), &fill).await;
            check(&what, expected, &tried);
            no_pin_for_drivers(&what, party, &tried);
            match (expected, &tried) {
                (Outcome::Allowed, _) => continue,
                (Outcome::Shown, Tried::Http(_, body)) => {
                    assert!(body.contains(&ride.id), "{what} does not show it: {body}");
                    continue;
                }
                (Outcome::Hidden, _) => {
                    holds_nothing_of_this(&what, &tried, &ride);
                    continue;
                }
                _ => {}
            }
            holds_nothing_of(&what, &tried, &ride);
            if let (GONE, Tried::Http(_, body)) = (expected, &tried) {
                let json: Value = serde_json::from_str(body).unwrap();
                assert_eq!(
                    json["message"], "this offer is no longer available",
                    "{what}"
                );
            }
            if expected == NO || expected == NOT_YOURS {
                let unknown = "9".repeat(RideId::LEN);
                let stranger = try_action(browser, app, row.action, Some(&unknown), &fill).await;
                assert_eq!(tried, stranger, "{what}: unlike a ride that does not exist");
            }
            if row.action.changes_the_ride() {
                assert_eq!(cast.seq(&ride).await, before, "{what} changed the ride");
            }
        }
        cast.finish(&ride).await;
    }
}

#[tokio::test]
async fn every_party_gets_what_the_account_table_says() {
    let cluster = Cluster::start_with(teleporting_drivers).await;
    let mut rider = Browser::rider(&cluster.a, "Rita").await;
    let mut driver = Browser::driver_online(&cluster.b, "Dan", PICKUP).await;
    let mut anonymous = Browser::new();
    let emails = ACCOUNTS.map(|account| unique_email(&format!("{account:?}").to_lowercase()));
    for (r, row) in ACCOUNT_ROWS.iter().enumerate() {
        for (i, account) in ACCOUNTS.into_iter().enumerate() {
            let what = format!("{} by {account:?}", row.action.label());
            let app = if (r + i) % 2 == 0 {
                &cluster.a
            } else {
                &cluster.b
            };
            let browser = match account {
                Account::Anonymous => &mut anonymous,
                Account::Rider => &mut rider,
                Account::Driver => &mut driver,
            };
            let fill = [("{email}", emails[i].as_str())];
            let tried = try_action(browser, app, row.action, None, &fill).await;
            check(&what, row.outcomes[i], &tried);
        }
    }
    // Logged out everywhere: the next request is anonymous.
    assert_eq!(rider.me(&cluster.b).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(driver.me(&cluster.a).await.status, StatusCode::UNAUTHORIZED);
}

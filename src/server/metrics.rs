//! What an instance is doing, for Prometheus: `GET /metrics` on each instance (never through
//! the balancer), in the OpenMetrics text format. Every instance has its own registry, so tests
//! can run several in one process; nothing is global.
//!
//! The hot paths (a message sent, a position received) touch a pre-made counter: the label
//! values are fixed words, looked up once per message in a small map behind a read lock.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::AppState;

/// One label: its name and a fixed value.
type Label = [(&'static str, &'static str); 1];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

/// The route label of a request that matched no route (static files, 404s): one value, so a
/// scan of random paths cannot grow the metrics without bound.
const UNMATCHED: &str = "unmatched";

/// How an offer ended, or that it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    Made,
    Accepted,
    Declined,
    Lapsed,
}

impl Offer {
    fn as_str(self) -> &'static str {
        match self {
            Self::Made => "made",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Lapsed => "lapsed",
        }
    }
}

/// The instance's metrics. Cloning is cheap (each metric is an `Arc`), but the state holds one.
pub struct Metrics {
    registry: Registry,
    pub sockets_open: Gauge,
    pub sockets_opened: Counter,
    sockets_closed: Family<CloseLabels, Counter>,
    received: Family<Label, Counter>,
    sent: Family<Label, Counter>,
    refused: Family<Label, Counter>,
    pub channels_subscribed: Gauge,
    pub resyncs_sent: Counter,
    pub sockets_lagged: Counter,
    pub bus_reconnects: Counter,
    pub redis_errors: Counter,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub dispatch_ticks: Counter,
    offers: Family<Label, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hail");
        let metrics = Self {
            sockets_open: Gauge::default(),
            sockets_opened: Counter::default(),
            sockets_closed: Family::default(),
            received: Family::default(),
            sent: Family::default(),
            refused: Family::default(),
            channels_subscribed: Gauge::default(),
            resyncs_sent: Counter::default(),
            sockets_lagged: Counter::default(),
            bus_reconnects: Counter::default(),
            redis_errors: Counter::default(),
            requests: Family::default(),
            durations: Family::new_with_constructor(request_histogram),
            dispatch_ticks: Counter::default(),
            offers: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "sockets_open",
            "Live WebSockets open now",
            metrics.sockets_open.clone(),
        );
        r.register(
            "sockets_opened",
            "Live WebSockets opened",
            metrics.sockets_opened.clone(),
        );
        r.register(
            "sockets_closed",
            "Live WebSockets closed, by close code (1000 normal, 1001 going away, 1005 no code, \
             1006 dropped without a close, 1008 policy, 4001 session ended)",
            metrics.sockets_closed.clone(),
        );
        r.register(
            "messages_received",
            "Messages received on live sockets, by type (unreadable ones are `invalid`)",
            metrics.received.clone(),
        );
        r.register(
            "messages_sent",
            "Messages sent on live sockets, by type",
            metrics.sent.clone(),
        );
        r.register(
            "messages_refused",
            "Messages answered with an error, by error code",
            metrics.refused.clone(),
        );
        r.register(
            "channels_subscribed",
            "Redis pub/sub channels this instance is subscribed to",
            metrics.channels_subscribed.clone(),
        );
        r.register(
            "resyncs_sent",
            "Resync messages sent to live sockets (the bus reconnected, or a socket fell behind)",
            metrics.resyncs_sent.clone(),
        );
        r.register(
            "sockets_lagged",
            "Times a live socket fell behind its feed and skipped events",
            metrics.sockets_lagged.clone(),
        );
        r.register(
            "bus_reconnects",
            "Times the pub/sub connection was lost and made again",
            metrics.bus_reconnects.clone(),
        );
        r.register(
            "redis_errors",
            "Redis commands that failed (no answer, refused, or an error reply)",
            metrics.redis_errors.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            metrics.requests.clone(),
        );
        r.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request (to its headers), by route",
            prometheus_client::registry::Unit::Seconds,
            metrics.durations.clone(),
        );
        r.register(
            "dispatch_ticks",
            "Dispatcher ticks run by this instance (each handles the deadlines due)",
            metrics.dispatch_ticks.clone(),
        );
        r.register(
            "offers",
            "Ride offers made, accepted, declined and lapsed through this instance",
            metrics.offers.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    pub fn socket_closed(&self, code: u16) {
        self.sockets_open.dec();
        self.sockets_closed
            .get_or_create(&CloseLabels { code })
            .inc();
    }

    pub fn received(&self, kind: &'static str) {
        self.received.get_or_create(&[("type", kind)]).inc();
    }

    pub fn sent(&self, kind: &'static str) {
        self.sent.get_or_create(&[("type", kind)]).inc();
    }

    pub fn refused(&self, code: &'static str) {
        self.refused.get_or_create(&[("code", code)]).inc();
    }

    pub fn offers(&self, outcome: Offer, n: u64) {
        if n > 0 {
            self.offers
                .get_or_create(&[("outcome", outcome.as_str())])
                .inc_by(n);
        }
    }

    fn request(&self, route: String, status: StatusCode, secs: f64) {
        self.durations
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(secs);
        self.requests
            .get_or_create(&RequestLabels {
                route,
                status: status.as_u16(),
            })
            .inc();
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// 0.5 ms to about 8 s, doubling.
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// `GET /metrics`.
pub async fn serve(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// Counts every request by the route it matched and times it to its response's headers.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .request(route, response.status(), started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_text_under_hail_names() {
        let metrics = Metrics::new();
        metrics.sockets_opened.inc();
        metrics.sockets_open.inc();
        metrics.received("position");
        metrics.received("position");
        metrics.sent("snapshot");
        metrics.refused("rate_limited");
        metrics.socket_closed(1001);
        metrics.offers(Offer::Made, 2);
        metrics.offers(Offer::Lapsed, 0);
        metrics.request("/api/me".into(), StatusCode::OK, 0.002);
        let text = metrics.encode();
        for line in [
            "hail_sockets_open 0",
            "hail_sockets_opened_total 1",
            "hail_sockets_closed_total{code=\"1001\"} 1",
            "hail_messages_received_total{type=\"position\"} 2",
            "hail_messages_sent_total{type=\"snapshot\"} 1",
            "hail_messages_refused_total{code=\"rate_limited\"} 1",
            "hail_offers_total{outcome=\"made\"} 2",
            "hail_http_requests_total{route=\"/api/me\",status=\"200\"} 1",
            "hail_http_request_duration_seconds_count{route=\"/api/me\"} 1",
            "hail_redis_errors_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // An outcome never counted has no line (no zero-valued label sets to guess at).
        assert!(!text.contains("outcome=\"lapsed\""));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn two_instances_in_one_process_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.sockets_opened.inc();
        assert!(a.encode().contains("hail_sockets_opened_total 1"));
        assert!(b.encode().contains("hail_sockets_opened_total 0"));
    }
}

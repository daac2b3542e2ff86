//! The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
//! untrusted address in X-Forwarded-For. A client cannot spoof its way past the login limits.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;

/// The address a request came from, put into the request's extensions by `layer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The address of the request a server function is answering.
    pub async fn of_request() -> Result<IpAddr, crate::domain::AppError> {
        leptos_axum::extract::<axum::Extension<ClientIp>>()
            .await
            .map(|axum::Extension(ClientIp(ip))| ip)
            .map_err(|_| {
                tracing::error!("the client address was not resolved before this server function");
                crate::domain::AppError::internal()
            })
    }
}

/// Middleware that resolves the client's address once per request.
pub async fn resolve(trusted: Arc<Vec<IpAddr>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let ip = client_ip(peer, &forwarded, &trusted);
        req.extensions_mut().insert(ClientIp(ip));
    }
    next.run(req).await
}

/// Walks X-Forwarded-For from the right (the hop nearest to us) while the hop is trusted.
fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',') {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            // A malformed hop: stop at the last address we could believe.
            break;
        };
        client = ip;
        if !trusted.contains(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let got = client_ip(ip("203.0.113.9"), "1.2.3.4", &[ip("127.0.0.1")]);
        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_forwards_the_client_address() {
        let got = client_ip(ip("127.0.0.1"), "198.51.100.7", &[ip("127.0.0.1")]);
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn spoofed_hops_left_of_the_first_untrusted_one_are_ignored() {
        let trusted = [ip("127.0.0.1"), ip("10.0.0.2")];
        let got = client_ip(ip("127.0.0.1"), "6.6.6.6, 198.51.100.7, 10.0.0.2", &trusted);
        assert_eq!(got, ip("198.51.100.7"));
    }

    #[test]
    fn a_malformed_header_falls_back_to_the_last_believable_hop() {
        let got = client_ip(ip("127.0.0.1"), "not-an-ip", &[ip("127.0.0.1")]);
        assert_eq!(got, ip("127.0.0.1"));
    }
}

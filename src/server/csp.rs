//! The Content-Security-Policy: on every page, one that lets the hydrated app run and nothing
//! else; on every other answer (JSON, the small refusal pages), one that allows nothing.
//!
//! A page's scripts run only by the nonce Leptos puts on the scripts it writes itself (the
//! hydration module, resources' data, the reload script of `cargo leptos watch`), and what
//! those load (`'strict-dynamic'`: the app's JavaScript, and its WebAssembly by
//! `'wasm-unsafe-eval'`). Styles come from Hail's own stylesheet, plus inline style attributes:
//! the map's markers carry their position as one (`style="transform: ..."`, server-rendered so
//! that a page without JavaScript draws them too, and what the browser animates). Attributes
//! cannot load anything or run script; `<style>` elements stay refused.

use leptos::prelude::*;

/// The policy of every answer that is not a page.
pub const NOT_A_PAGE: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// What a page's policy allows beyond Hail itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSources {
    /// The origin of the configured map tiles, for `img-src`.
    pub tiles: Option<String>,
    /// `cargo leptos watch`'s reload socket, for `connect-src`: its port.
    pub reload_port: Option<u32>,
}

impl PageSources {
    /// From the configured tile template and, under `cargo leptos watch` (`LEPTOS_WATCH`), the
    /// reload port.
    pub fn new(tile_template: Option<&str>, reload_port: Option<u32>) -> Self {
        Self {
            tiles: tile_template.and_then(origin_of),
            reload_port,
        }
    }

    /// The policy of a page whose scripts carry `nonce`.
    pub fn policy(&self, nonce: &str) -> String {
        let tiles = self
            .tiles
            .as_deref()
            .map(|origin| format!(" {origin}"))
            .unwrap_or_default();
        let reload = self
            .reload_port
            .map(|port| format!(" ws://*:{port} wss://*:{port}"))
            .unwrap_or_default();
        format!(
            "default-src 'none'; \
             script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
             style-src 'self'; style-src-attr 'unsafe-inline'; \
             img-src 'self'{tiles}; \
             connect-src 'self'{reload}; \
             manifest-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
    }

    /// Sets the page's policy, with this render's nonce, on the response being rendered. Called
    /// in every page render's context (after leptos_axum has made the nonce); a render without
    /// a nonce (a server function) is not a page, and keeps `NOT_A_PAGE`.
    pub fn announce(&self) {
        let (Some(nonce), Some(response)) = (
            leptos::nonce::use_nonce(),
            use_context::<leptos_axum::ResponseOptions>(),
        ) else {
            return;
        };
        match axum::http::HeaderValue::from_str(&self.policy(&nonce)) {
            Ok(value) => response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, value),
            Err(_) => tracing::error!("the page's content security policy is not a header value"),
        }
    }
}

/// `scheme://host[:port]` of an http(s) URL template, if it has a plain one.
fn origin_of(template: &str) -> Option<String> {
    let (scheme, rest) = template.split_once("://")?;
    let authority = rest.split('/').next()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    (matches!(scheme, "http" | "https") && !authority.is_empty() && authority.chars().all(plain))
        .then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_runs_only_its_nonced_scripts_and_what_they_load() {
        let policy = PageSources::default().policy("abc123");
        for directive in [
            "default-src 'none'",
            "script-src 'nonce-abc123' 'strict-dynamic' 'wasm-unsafe-eval'",
            "style-src 'self'",
            "img-src 'self';",
            "connect-src 'self';",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(policy.contains(directive), "{directive} in {policy}");
        }
        // Inline code never: the one 'unsafe-inline' is for style attributes.
        assert_eq!(policy.matches("'unsafe-inline'").count(), 1);
        assert!(policy.contains("style-src-attr 'unsafe-inline'"));
        assert!(!policy.contains(" 'unsafe-eval'"));
        assert!(!policy.contains('*'));
    }

    #[test]
    fn configured_tiles_and_the_reload_socket_are_allowed_and_nothing_else() {
        let sources = PageSources::new(
            Some("https://Tiles.Example:8443/{z}/{x}/{y}.png"),
            Some(3001),
        );
        let policy = sources.policy("n");
        assert!(policy.contains("img-src 'self' https://tiles.example:8443;"));
        assert!(policy.contains("connect-src 'self' ws://*:3001 wss://*:3001;"));
    }

    #[test]
    fn only_a_plain_origin_is_taken_from_a_tile_template() {
        assert_eq!(
            origin_of("https://t.example/{z}/{x}/{y}.png").as_deref(),
            Some("https://t.example")
        );
        assert_eq!(origin_of("https://t.example; script-src *"), None);
        assert_eq!(origin_of("ftp://t.example/{z}"), None);
        assert_eq!(origin_of("https:///{z}"), None);
    }
}

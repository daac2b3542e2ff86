//! Integration tests: a real redis-server and real Hail instances (two where it matters), talked
//! to over HTTP as a browser or an API client would. Run with `cargo test --features ssr`.

#![allow(dead_code)]

mod harness;

mod accounts;
mod authz;
mod cluster;
mod demo;
mod edges;
mod faults;
mod http_fuzz;
mod live;
mod loadgen;
mod location;
mod machine;
mod nearby;
mod pages;
mod publisher;
mod resilience;
mod rides;

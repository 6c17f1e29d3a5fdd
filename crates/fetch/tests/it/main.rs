//! Integration tests for `fetch`, one binary (one link step) with a module per feature. All
//! offline: the only network is a test HTTP server on 127.0.0.1, and every cache is a fresh
//! temporary folder.

mod fetching;
mod interrupted;
mod real_data;
mod repo_checks;
mod server;
mod sources;
mod support;
mod unpacking;

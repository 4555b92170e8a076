//! linkd's integration tests, one binary with a module per area, all on `common`: linkd's
//! `run()` in-process (or the real binaries), a fake MediaMTX, real HTTP over loopback.
//! `tests/load.rs` is its own binary: it counts this process's descriptors and times
//! requests among thousands of connections, which other tests in the process would disturb.

mod common;

mod api;
mod api_lifecycle;
mod audit;
mod cli;
mod creds;
mod faults;
mod faults_storage;
mod gate;
mod gate_upstream;
mod gates;
mod hostile;
mod keepalive;
mod limits;
mod logs;
mod media;
mod migrate;
mod postgres;
mod proxy;
mod revoke;
mod sharing;

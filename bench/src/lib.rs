//! tempstream's benchmark tools as a library: the fake LL-HLS stream the `llorigin` binary
//! serves ([`stream`]), the playlist reader the `llviewers` binary plays with ([`playlist`]),
//! and the clocks and percentiles both use ([`measure`]). `bench/run.sh` drives both binaries.

pub mod measure;
pub mod playlist;
pub mod stream;

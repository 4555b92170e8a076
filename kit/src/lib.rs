//! What linkd and botd share as daemons: the configuration table and its loader
//! (`config`), the settings' value syntax (`env`), the README and `env.example` checks
//! (`docs`), logging, the shutdown signal, the `--config`/`--check-config` arguments (`cli`),
//! the clock (`clock`), poison-tolerant locking (`sync`) and the error-chain walker. The wire contract is `proto`'s, not this
//! crate's.

pub mod cli;
pub mod clock;
pub mod config;
pub mod docs;
pub mod env;
pub mod logging;
pub mod sync;

/// An error and its sources as one line: `outer: inner: innermost`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Resolves on the first SIGTERM or SIGINT. The handlers are installed when this is called,
/// so a signal that comes before the future is polled is not lost.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static>
{
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

#[cfg(test)]
mod tests {
    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("cannot connect")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_chain_is_one_line() {
        let e = Outer(std::io::Error::other("refused"));
        assert_eq!(super::error_chain(&e), "cannot connect: refused");
    }
}

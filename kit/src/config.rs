//! The configuration table and its loader, the same for both daemons.
//!
//! A daemon declares each variable once as a [`Var`] (name, default, parser, printer, secret
//! or not, doc line) and lists them in a table of [`Spec`]s. [`Loader`] reads them from
//! figment (a TOML file under the environment), lists every problem at once and records the
//! effective values for `--check-config`; the README's table and `env.example` are checked
//! against the same table ([`crate::docs`]).

use figment::providers::{Env, Format, Toml};
use figment::value::Value;
use figment::Figment;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A variable's value when it is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unset {
    /// This text, parsed like a value that was set.
    Value(&'static str),
    /// No default: a missing value is a problem; the example is shown with it.
    Required {
        /// What a valid value looks like.
        example: &'static str,
    },
}

/// One configuration variable, parsed into `T`.
pub struct Var<T> {
    /// The environment variable; in lower case it is the TOML key.
    pub name: &'static str,
    /// Its default.
    pub default: Unset,
    /// Turns the text into the value, or says what is wrong and what would be valid.
    pub parse: fn(&str) -> Result<T, String>,
    /// The value as `--check-config` prints it; a secret's printer masks it.
    pub show: fn(&T) -> String,
    /// A secret is never echoed in a problem, and printed only through `show`.
    pub secret: bool,
    /// A list's problems name the bad item themselves, so the whole value is not echoed.
    pub list: bool,
    /// One line for the README's table.
    pub doc: &'static str,
}

impl<T> Var<T> {
    /// A plain variable with a default: echoed in problems, printed by `show`.
    pub const fn new(
        name: &'static str,
        default: &'static str,
        parse: fn(&str) -> Result<T, String>,
        show: fn(&T) -> String,
        doc: &'static str,
    ) -> Var<T> {
        Var {
            name,
            default: Unset::Value(default),
            parse,
            show,
            secret: false,
            list: false,
            doc,
        }
    }

    /// Without a default: a missing value is a problem that shows `example`.
    pub const fn required(mut self, example: &'static str) -> Var<T> {
        self.default = Unset::Required { example };
        self
    }

    /// A secret: never echoed; `show` must mask it.
    pub const fn secret(mut self) -> Var<T> {
        self.secret = true;
        self
    }

    /// A list, whose parser names the bad items itself.
    pub const fn list(mut self) -> Var<T> {
        self.list = true;
        self
    }
}

/// What the table knows of a variable, whatever its type.
pub trait Spec: Sync {
    /// See [`Var::name`].
    fn name(&self) -> &'static str;
    /// See [`Var::default`].
    fn default(&self) -> Unset;
    /// See [`Var::secret`].
    fn secret(&self) -> bool;
    /// See [`Var::doc`].
    fn doc(&self) -> &'static str;
}

impl<T> Spec for Var<T> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn default(&self) -> Unset {
        self.default
    }
    fn secret(&self) -> bool {
        self.secret
    }
    fn doc(&self) -> &'static str {
        self.doc
    }
}

/// One bad variable (or `--config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The variable's name.
    pub variable: &'static str,
    /// `=value: why` for a plain value, `: why` for a missing one, a list or a secret.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.variable, self.message)
    }
}

/// Every problem of a configuration, in the order of the table; `main` exits 64 on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems.
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// The problems as lines, e.g. `DEFAULT_LINK_TTL=bogus: not a duration, ...`.
    pub fn lines(&self) -> Vec<String> {
        self.problems.iter().map(Problem::to_string).collect()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problems):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The effective configuration as `--check-config` prints it: `NAME=value` lines in the
/// order of the table, secrets masked by their printers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective(Vec<(&'static str, String)>, Vec<String>);

impl Effective {
    /// Adds a warning: a setting that works but is unsafe (`--check-config` prints it on
    /// stderr).
    pub fn warn(&mut self, warning: String) {
        self.1.push(warning);
    }

    /// The warnings.
    pub fn warnings(&self) -> &[String] {
        &self.1
    }
}

impl fmt::Display for Effective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in &self.0 {
            writeln!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

/// A configuration and its effective values, or every problem.
pub type Load<C> = Result<(C, Effective), ConfigError>;

/// The sources, lowest priority first: the TOML file (if any; it must exist), then the
/// environment, of the variables in `table` only.
pub fn figment(file: Option<&Path>, table: &[&dyn Spec]) -> Result<Figment, ConfigError> {
    let mut fig = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(ConfigError {
                problems: vec![Problem {
                    variable: "--config",
                    message: format!(" {}: no such file", path.display()),
                }],
            });
        }
        fig = fig.merge(Toml::file_exact(path));
    }
    let names: Vec<&str> = table.iter().map(|v| v.name()).collect();
    Ok(fig.merge(Env::raw().only(&names)))
}

/// Reads variables one by one, collecting every problem and the effective values.
pub struct Loader {
    raw: BTreeMap<String, Value>,
    problems: Vec<Problem>,
    effective: Effective,
}

impl Loader {
    /// The values figment merged, not yet checked.
    pub fn new(fig: &Figment) -> Result<Loader, ConfigError> {
        let raw = fig.extract().map_err(|e| ConfigError {
            problems: e
                .into_iter()
                .map(|e| Problem {
                    variable: "--config",
                    message: format!(": {e}"),
                })
                .collect(),
        })?;
        Ok(Loader {
            raw,
            problems: Vec::new(),
            effective: Effective::default(),
        })
    }

    /// The value of `var`, parsed; `None` after recording what is wrong with it.
    pub fn get<T>(&mut self, var: &Var<T>) -> Option<T> {
        let text = match self.raw.get(&var.name.to_ascii_lowercase()) {
            Some(v) => match text(v) {
                Some(t) => t,
                None => {
                    self.problem(var.name, "must be a string, a number or a list");
                    return None;
                }
            },
            None => match var.default {
                Unset::Value(d) => d.to_string(),
                Unset::Required { example } => {
                    self.problem(var.name, &format!("required, e.g. {example}"));
                    return None;
                }
            },
        };
        match (var.parse)(text.trim()) {
            Ok(v) => {
                self.effective.0.push((var.name, (var.show)(&v)));
                Some(v)
            }
            Err(why) if var.secret || var.list => {
                self.problem(var.name, &why);
                None
            }
            Err(why) => {
                self.problems.push(Problem {
                    variable: var.name,
                    message: format!("={text}: {why}"),
                });
                None
            }
        }
    }

    /// Records a problem that involves more than one value, e.g. two that go together.
    pub fn problem(&mut self, variable: &'static str, why: &str) {
        self.problems.push(Problem {
            variable,
            message: format!(": {why}"),
        });
    }

    /// The configuration built from the values read, and the effective values; every
    /// problem instead if there was one. `build` gives `None` only when a `get` failed.
    pub fn finish<C>(self, build: Option<C>) -> Load<C> {
        match build {
            Some(c) if self.problems.is_empty() => Ok((c, self.effective)),
            _ => Err(ConfigError {
                problems: self.problems,
            }),
        }
    }
}

/// A figment value as the text a person would write in the environment: strings without
/// their quotes, numbers and booleans as written, lists joined with commas; `None` for a
/// table.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(_, s) => Some(crate::env::unquote(s).to_string()),
        Value::Char(_, c) => Some(c.to_string()),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(_, n) => n
            .to_i128()
            .map(|i| i.to_string())
            .or_else(|| n.to_u128().map(|u| u.to_string()))
            .or_else(|| n.to_f64().map(|f| f.to_string())),
        Value::Array(_, items) => {
            let parts: Option<Vec<String>> = items.iter().map(text).collect();
            parts.map(|p| p.join(","))
        }
        Value::Empty(..) => Some(String::new()),
        Value::Dict(..) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::value::{Num, Tag};

    const PORT: Var<u16> = Var {
        name: "PORT",
        default: Unset::Value("80"),
        parse: |v| v.parse().map_err(|_| "not a port, e.g. 8080".into()),
        show: |p| p.to_string(),
        secret: false,
        list: false,
        doc: "the port",
    };
    const KEY: Var<String> = Var {
        name: "KEY",
        default: Unset::Required { example: "k-123" },
        parse: |v| match v.starts_with("k-") {
            true => Ok(v.to_string()),
            false => Err("not a key, it starts with k-".into()),
        },
        show: |_| "***".into(),
        secret: true,
        list: false,
        doc: "the key",
    };

    fn load(toml: &str) -> Result<((u16, String), Effective), ConfigError> {
        let mut l = Loader::new(&Figment::from(Toml::string(toml))).unwrap();
        let port = l.get(&PORT);
        let key = l.get(&KEY);
        l.finish((|| Some((port?, key?)))())
    }

    #[test]
    fn every_problem_is_listed_and_a_secret_never_echoed() {
        let err = load("port = \"x\"\nkey = \"hunter2\"").unwrap_err();
        assert_eq!(
            err.lines(),
            [
                "PORT=x: not a port, e.g. 8080",
                "KEY: not a key, it starts with k-"
            ]
        );
        assert!(!err.to_string().contains("hunter2"));
        let err = load("").unwrap_err();
        assert_eq!(err.lines(), ["KEY: required, e.g. k-123"]);
    }

    #[test]
    fn defaults_apply_and_effective_values_are_masked() {
        let ((port, key), eff) = load("key = \"k-secret\"").unwrap();
        assert_eq!((port, key.as_str()), (80, "k-secret"));
        assert_eq!(eff.to_string(), "PORT=80\nKEY=***\n");
    }

    #[test]
    fn values_read_as_written() {
        let cases = [
            (Value::Num(Tag::Default, Num::U8(1)), Some("1")),
            (Value::Num(Tag::Default, Num::I64(-100)), Some("-100")),
            (
                Value::Num(Tag::Default, Num::U64(u64::MAX)),
                Some("18446744073709551615"),
            ),
            (Value::Bool(Tag::Default, false), Some("false")),
            (Value::from("\"quoted\""), Some("quoted")),
            (Value::from(vec![1, 2]), Some("1,2")),
            (Value::from(BTreeMap::<String, u8>::new()), None),
        ];
        for (v, want) in cases {
            assert_eq!(text(&v).as_deref(), want, "{v:?}");
        }
    }
}

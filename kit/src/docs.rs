//! Checks that the README's configuration table and `env.example` say what a daemon's
//! table says: every variable documented, with the daemon among its users and its default.

use crate::config::{Spec, Unset};

/// The README's row of each variable: `| `NAME` | used by | default | meaning |`.
fn readme_row<'a>(readme: &'a str, name: &str) -> Option<Vec<&'a str>> {
    readme.lines().find_map(|line| {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let names = cells.get(1)?;
        names
            .split(',')
            .any(|n| n.trim() == format!("`{name}`"))
            .then_some(cells)
    })
}

/// Where the README's table and `env.example` disagree with `table`, one line each.
pub fn disagreements(
    daemon: &str,
    table: &[&dyn Spec],
    readme: &str,
    env_example: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for var in table {
        let name = var.name();
        match readme_row(readme, name) {
            None => out.push(format!("README: no row for {name}")),
            Some(cells) => {
                let users = cells.get(2).copied().unwrap_or("");
                if !users.split(',').any(|u| u.trim() == daemon) {
                    out.push(format!("README: {name} is not marked as used by {daemon}"));
                }
                let default = cells.get(3).copied().unwrap_or("");
                let expected_ok = match var.default() {
                    Unset::Required { .. } => default == "required",
                    Unset::Value("") => default == "none",
                    Unset::Value(d) => default == format!("`{d}`") || !default.starts_with('`'),
                };
                if !expected_ok {
                    out.push(format!("README: {name}'s default is {default}"));
                }
            }
        }
        let in_example = env_example.lines().any(|l| {
            let l = l.trim_start_matches('#').trim_start();
            l.strip_prefix(name).is_some_and(|r| r.starts_with('='))
        });
        if !in_example {
            out.push(format!("env.example: no line for {name}"));
        }
    }
    out
}

/// Panics with every disagreement between `table` and the README and `env.example` of the
/// workspace whose member crate lives in `manifest_dir`; for the daemons' tests.
pub fn assert_documented(daemon: &str, table: &[&dyn Spec], manifest_dir: &str) {
    let read = |f: &str| {
        let path = std::path::Path::new(manifest_dir).join("..").join(f);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let wrong = disagreements(daemon, table, &read("README.md"), &read("env.example"));
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Var;

    const A: Var<String> = Var {
        name: "A_VAR",
        default: Unset::Value("5s"),
        parse: |v| Ok(v.to_string()),
        show: |v| v.clone(),
        secret: false,
        list: false,
        doc: "a",
    };

    #[test]
    fn a_wrong_default_or_missing_line_is_found() {
        let table: &[&dyn Spec] = &[&A];
        let readme = "| `A_VAR` | linkd, botd | `5s` | a |\n";
        assert!(disagreements("botd", table, readme, "A_VAR=\n").is_empty());
        assert_eq!(
            disagreements("botd", table, "| `A_VAR` | linkd | `6s` | a |", "# B=1"),
            [
                "README: A_VAR is not marked as used by botd",
                "README: A_VAR's default is `6s`",
                "env.example: no line for A_VAR"
            ]
        );
    }
}

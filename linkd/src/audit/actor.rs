//! Who is on the other end of linkd's socket: the local user, from the socket's peer
//! credentials (`SO_PEERCRED`), named from the system's user database.

use proto::Actor;

/// The local user who connected `stream`.
pub fn peer(stream: &tokio::net::UnixStream) -> Actor {
    let name = match stream.peer_cred() {
        Ok(cred) => user_name(cred.uid()),
        Err(e) => {
            tracing::debug!(error = %e, "no peer credentials on the socket");
            "unknown".into()
        }
    };
    Actor::User { name }
}

/// The name of user `uid` in `/etc/passwd`, else `uid N`.
pub fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    name_in(&passwd, uid).unwrap_or_else(|| format!("uid {uid}"))
}

/// The name of `uid` in a passwd file's text.
fn name_in(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?;
        (id.parse() == Ok(uid)).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_passwd_text() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\ntempstream:x:998:998::/var/lib/tempstream:/usr/sbin/nologin\n";
        assert_eq!(name_in(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_in(passwd, 998).as_deref(), Some("tempstream"));
        assert_eq!(name_in(passwd, 1000), None);
        assert_eq!(user_name(u32::MAX - 7), format!("uid {}", u32::MAX - 7));
    }
}

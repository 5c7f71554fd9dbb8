//! Passwords that are not written in the connection string, found as libpq finds them.
//!
//! Precedence (first wins): the connection string, `--password-file FILE` (its first line),
//! `PGPASSWORD`, then the password file `~/.pgpass` (or `PGPASSFILE`): lines
//! `hostname:port:database:username:password`, `*` matching anything in the first four fields,
//! `\:` and `\\` escaping, `#` comments, the first matching line winning. A socket connection
//! matches `localhost`. Like libpq, a `.pgpass` readable by group or others is ignored with a
//! warning. No function here logs or returns a password in an error.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where a connection's password came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordOrigin {
    /// None given yet: `.pgpass` is consulted at connect time.
    None,
    /// Written in the connection string.
    ConnString,
    /// `--password-file`.
    File,
    /// `PGPASSWORD`.
    Env,
}

/// Reads the password from the first line of `path` (`--password-file`).
pub fn read_password_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --password-file `{shown}`: {e}"))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(format!(
            "--password-file `{shown}` is empty: its first line must hold the password"
        ));
    }
    if let Some(mode) = loose_mode(path) {
        tracing::warn!(
            file = %shown,
            mode = format!("{mode:o}"),
            "the password file is readable by group or others; permissions should be u=rw (0600) or less"
        );
    }
    Ok(line.to_string())
}

/// The `.pgpass` file in force: `PGPASSFILE`, else `~/.pgpass`.
pub fn pgpass_path() -> Option<PathBuf> {
    std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))
}

/// What a connection is matched on in `.pgpass`.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The password `.pgpass` at `path` gives for `target`, if the file exists, is private enough
/// and has a matching line.
pub fn pgpass_password(path: &Path, target: Target<'_>) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let shown = path.display();
    if !meta.is_file() {
        tracing::warn!(file = %shown, "the password file is not a plain file; ignored");
        return None;
    }
    if let Some(mode) = loose_mode(path) {
        if first_warning(path) {
            tracing::warn!(
                file = %shown,
                mode = format!("{mode:o}"),
                "the password file has group or world access; permissions should be u=rw \
                 (0600) or less; ignored"
            );
        }
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    pgpass_lookup(&text, target)
}

/// True the first time a file is warned about (each connection reads `.pgpass` again).
fn first_warning(path: &Path) -> bool {
    static WARNED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
    WARNED
        .lock()
        .map(|mut w| w.insert(path.to_path_buf()))
        .unwrap_or(true)
}

/// Group or world permission bits of a file, when it has any (Unix only).
fn loose_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The first line of a `.pgpass` text matching `target`, its password de-escaped.
pub fn pgpass_lookup(text: &str, target: Target<'_>) -> Option<String> {
    let port = target.port.to_string();
    let wanted = [target.host, port.as_str(), target.database, target.user];
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        let matched = wanted.iter().all(|want| match field_matches(rest, want) {
            Some(after) => {
                rest = after;
                true
            }
            None => false,
        });
        if matched {
            return Some(unescape_field(rest));
        }
    }
    None
}

/// If the field at the start of `line` matches `want` (`*` matches anything), what follows its
/// `:` separator.
fn field_matches<'a>(line: &'a str, want: &str) -> Option<&'a str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut want = want.chars();
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        let c = match c {
            ':' => return want.next().is_none().then(|| &line[i + 1..]),
            '\\' => match chars.next() {
                Some((_, escaped)) => escaped,
                None => return None,
            },
            c => c,
        };
        if want.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password field: up to an unescaped `:` or the end, backslash escapes removed.
fn unescape_field(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => match chars.next() {
                Some(e) => out.push(e),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(host: &'a str, port: u16, database: &'a str, user: &'a str) -> Target<'a> {
        Target {
            host,
            port,
            database,
            user,
        }
    }

    const FILE: &str = "\
# comment:*:*:*:nope
db.example:5432:crm:alice:a-crm
db.example:5432:*:alice:a-any
*:6543:*:*:wild-port
localhost:*:*:bob:b\\:colon\\\\back:ignored-field
h\\:colon:5432:*:carol:c-escaped-host
";

    #[test]
    fn the_first_matching_line_wins() {
        let lookup = |t| pgpass_lookup(FILE, t);
        assert_eq!(
            lookup(target("db.example", 5432, "crm", "alice")).as_deref(),
            Some("a-crm")
        );
        assert_eq!(
            lookup(target("db.example", 5432, "hr", "alice")).as_deref(),
            Some("a-any")
        );
        assert_eq!(
            lookup(target("other", 6543, "x", "zed")).as_deref(),
            Some("wild-port")
        );
        assert_eq!(lookup(target("db.example", 5433, "crm", "alice")), None);
        assert_eq!(lookup(target("db.example", 5432, "crm", "alic")), None);
        assert_eq!(lookup(target("db.example", 5432, "crm", "alicex")), None);
    }

    #[test]
    fn escapes_are_honoured_in_fields_and_password() {
        let lookup = |t| pgpass_lookup(FILE, t);
        assert_eq!(
            lookup(target("localhost", 1, "d", "bob")).as_deref(),
            Some("b:colon\\back")
        );
        assert_eq!(
            lookup(target("h:colon", 5432, "d", "carol")).as_deref(),
            Some("c-escaped-host")
        );
    }

    #[test]
    fn comments_blank_lines_short_lines_and_crlf() {
        let text = "\r\n#*:*:*:*:commented\nshort:line\n*:*:*:*:pw\r\n";
        assert_eq!(
            pgpass_lookup(text, target("h", 5432, "d", "u")).as_deref(),
            Some("pw")
        );
        assert_eq!(pgpass_lookup("*:*:*:u", target("h", 5432, "d", "u")), None);
        assert_eq!(
            pgpass_lookup("*:*:*:u:", target("h", 5432, "d", "u")).as_deref(),
            Some("")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_pgpass_readable_by_others_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:pw\n").unwrap();
        let t = target("h", 5432, "d", "u");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(pgpass_password(&path, t).as_deref(), Some("pw"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(pgpass_password(&path, t), None);
        assert_eq!(pgpass_password(&dir.path().join("missing"), t), None);
    }

    #[test]
    fn password_files_give_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\r\nsecond line\n").unwrap();
        assert_eq!(read_password_file(&path).unwrap(), "s3cret");
        std::fs::write(&path, "\nafter an empty first line\n").unwrap();
        let err = read_password_file(&path).unwrap_err();
        assert!(err.contains("is empty") && !err.contains("after"), "{err}");
        let err = read_password_file(&dir.path().join("none")).unwrap_err();
        assert!(err.contains("cannot read --password-file"), "{err}");
    }
}

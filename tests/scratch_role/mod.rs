//! A scratch login role for the end-to-end tests: uniquely named (roles are cluster-wide),
//! created on the test server, dropped when the value is dropped. Declare it before the
//! databases it is granted on, so they are dropped first (their grants go with them).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::{psql_ok, server_url};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A login role, dropped (with what it owns in the maintenance database) on drop.
pub struct ScratchRole {
    pub name: String,
    /// The role's password, when it has one.
    pub password: Option<String>,
}

impl ScratchRole {
    /// `CREATE ROLE … LOGIN [PASSWORD '…']` plus any extra options (e.g. `CREATEDB`).
    pub fn new(tag: &str, password: Option<&str>, options: &str) -> ScratchRole {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "ct_{tag}_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let pw = password
            .map(|p| format!(" PASSWORD '{}'", p.replace('\'', "''")))
            .unwrap_or_default();
        psql_ok(
            &server_url(),
            &format!("CREATE ROLE {name} LOGIN{pw} {options}"),
        );
        ScratchRole {
            name,
            password: password.map(str::to_string),
        }
    }

    /// URL of database `db` on the test server, logging in as this role; with the password in
    /// the URL when `with_password`.
    pub fn url(&self, db: &str, with_password: bool) -> String {
        let base = crate::common::db_url(db);
        let scheme_end = base.find("://").expect("URL with a scheme") + 3;
        let rest = &base[scheme_end..];
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let host = match rest[..auth_end].rfind('@') {
            Some(at) => &rest[at + 1..],
            None => rest,
        };
        let user = match (&self.password, with_password) {
            (Some(p), true) => format!("{}:{p}", self.name),
            _ => self.name.clone(),
        };
        format!("{}{user}@{host}", &base[..scheme_end])
    }
}

impl Drop for ScratchRole {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .arg(server_url())
            .args(["-X", "-q", "-c"])
            .arg(format!(
                "DROP OWNED BY {0}; DROP ROLE IF EXISTS {0}",
                self.name
            ))
            .output();
    }
}

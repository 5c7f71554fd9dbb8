//! Shared by the integration tests: a throwaway database per test (dropped by a guard, also
//! when the test fails), raw binary values from queries, and COPY in/out helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{pin_mut, SinkExt, TryStreamExt};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Config, NoTls};

/// The server the tests use: `CUTOVER_TEST_PG`, else a local trust-auth PostgreSQL.
pub fn base_config() -> Config {
    let url = std::env::var("CUTOVER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    url.parse()
        .expect("CUTOVER_TEST_PG must be a postgres:// URL or a key=value connection string")
}

async fn connect(config: &Config) -> Client {
    let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|e| {
        panic!(
            "cannot connect to the test PostgreSQL ({e}); start one on 127.0.0.1:5432 or set \
             CUTOVER_TEST_PG"
        )
    });
    tokio::spawn(connection);
    client
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A database created for one test and dropped when this guard goes out of scope.
pub struct TestDb {
    pub name: String,
    /// Connected to the test database, with TimeZone UTC and DateStyle ISO.
    pub client: Client,
    admin: Config,
}

impl TestDb {
    /// Creates `<prefix>_<pid>_<nanos>_<n>` and connects to it.
    pub async fn create(prefix: &str) -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .subsec_nanos();
        let name = format!(
            "{prefix}_{}_{nanos}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let admin = base_config();
        connect(&admin)
            .await
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await
            .expect("create the test database");
        let mut config = admin.clone();
        config.dbname(&name);
        let client = connect(&config).await;
        client
            .batch_execute(
                "SET TIME ZONE 'UTC'; SET datestyle = 'ISO, MDY'; SET extra_float_digits = 1; \
                 SET bytea_output = 'hex'; SET lc_monetary = 'C';",
            )
            .await
            .expect("session settings");
        TestDb {
            name,
            client,
            admin,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, so the DROP gets a thread and runtime of its own.
        let admin = self.admin.clone();
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        );
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for the database drop");
            rt.block_on(async move {
                let (client, connection) = admin.connect(NoTls).await.map_err(|e| e.to_string())?;
                tokio::spawn(connection);
                client.batch_execute(&sql).await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_string()) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// A column's binary bytes as the server sent them, whatever its type (`None` for NULL).
pub struct RawValue(pub Vec<u8>);

impl<'a> FromSql<'a> for RawValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawValue(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The whole output of a `COPY … TO STDOUT`, as the server's chunks.
pub async fn copy_out(client: &Client, sql: &str) -> Vec<Bytes> {
    let stream = client.copy_out(sql).await.expect("start COPY TO STDOUT");
    pin_mut!(stream);
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.try_next().await.expect("read COPY data") {
        chunks.push(chunk);
    }
    chunks
}

/// Runs a `COPY … FROM STDIN` with `data`; returns the row count.
pub async fn copy_in(client: &Client, sql: &str, data: Bytes) -> u64 {
    let sink = client
        .copy_in::<_, Bytes>(sql)
        .await
        .expect("start COPY FROM STDIN");
    pin_mut!(sink);
    sink.send(data).await.expect("send COPY data");
    sink.finish().await.expect("finish COPY FROM STDIN")
}

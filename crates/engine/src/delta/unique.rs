//! Unique indexes set aside while a cycle merges, when rows of its window exchange values of a
//! unique column.
//!
//! The merge is one `UPDATE` per table, and PostgreSQL checks a non-deferrable unique index row
//! by row, not at the end of the statement: when two rows swap their e-mail addresses (which the
//! source did in three statements, through a temporary value), no order of the merge's rows
//! avoids a transient duplicate, and the whole run fails on every retry. So a run that fails on
//! a unique index of the table it is merging is run again from the start with that index taken
//! off the table, in the run's own transaction, before the merge, and built again after every
//! merge and delete, before the commit. Real duplicates are rejected before the merge (see
//! `Rebuild::delta_duplicates`); one that still reaches that build (an equality the search
//! does not see the index's way) fails it: the run fails with the index and the key named,
//! and the target is left as it was. The rebuild reads the whole table, so it costs like an index build; runs
//! without such an exchange pay nothing.
use std::sync::Mutex;

use cutover_core::catalog::{quote_ident, quote_literal};
use cutover_core::program::TableProgram;
use cutover_postgres::PgError;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::error::{EngineError, Result};

/// How many unique indexes one run may set aside, one per attempt.
pub const MAX_SET_ASIDE: usize = 8;

/// A unique index taken off its table for the merge, and how to put it back.
struct Dropped {
    table: String,
    index: String,
    statements: Vec<String>,
}

/// The cycle's unique indexes to set aside, and those this attempt dropped.
#[derive(Default)]
pub struct SetAside {
    /// (target table, index) pairs to take off before merging that table.
    wanted: Mutex<Vec<(String, String)>>,
    /// Taken off in this attempt's transaction, to restore before its commit.
    dropped: Mutex<Vec<Dropped>>,
    /// The index whose transient duplicate failed this attempt.
    clash: Mutex<Option<(String, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SetAside {
    /// The error of a failed merge statement of `p`'s table. A unique violation on one of the
    /// table's indexes not yet set aside is noted, for [`SetAside::next_attempt`].
    pub fn merge_failed(&self, p: &TableProgram, e: tokio_postgres::Error) -> EngineError {
        let db = e.as_db_error();
        let index = db
            .filter(|d| d.code() == &SqlState::UNIQUE_VIOLATION)
            .filter(|d| d.table() == Some(p.target.name.as_str()))
            .and_then(|d| d.constraint());
        if let Some(index) = index {
            let pair = (p.target.name.clone(), index.to_string());
            if !lock(&self.wanted).contains(&pair) {
                *lock(&self.clash) = Some(pair);
            }
        }
        PgError::db("cannot merge the staged rows into the target", e).into()
    }

    /// After a failed attempt (rolled back): the (table, index) whose transient duplicate
    /// failed it, now set aside for the next attempt; `None` when the failure was anything else
    /// or the limit is reached.
    pub fn next_attempt(&self) -> Option<(String, String)> {
        lock(&self.dropped).clear();
        let clash = lock(&self.clash).take()?;
        let mut wanted = lock(&self.wanted);
        if wanted.len() >= MAX_SET_ASIDE {
            return None;
        }
        wanted.push(clash.clone());
        Some(clash)
    }

    /// Takes off `p`'s table the unique indexes set aside for it (in the run's transaction).
    pub async fn before_merge(&self, target: &Client, p: &TableProgram) -> Result<()> {
        let names: Vec<String> = lock(&self.wanted)
            .iter()
            .filter(|(t, _)| *t == p.target.name)
            .map(|(_, i)| i.clone())
            .collect();
        for index in names {
            let dropped = drop_index(target, p, &index).await?;
            lock(&self.dropped).push(dropped);
        }
        Ok(())
    }

    /// Builds again every index this attempt took off; a duplicate still in the target is a
    /// clear error (and the run's transaction rolls back).
    pub async fn restore(&self, target: &Client) -> Result<()> {
        let dropped = std::mem::take(&mut *lock(&self.dropped));
        for d in dropped {
            for sql in &d.statements {
                target.batch_execute(sql).await.map_err(|e| {
                    EngineError::from(PgError::db(
                        format!(
                            "table `{}`: rows of this run exchange values of the unique index `{}`, \
                             so it was set aside for the merge, and it cannot be built again \
                             (the target now holds a real duplicate; nothing was changed)",
                            d.table, d.index
                        ),
                        e,
                    ))
                })?;
            }
        }
        Ok(())
    }
}

/// Drops `index` of `p`'s table (the constraint, when it is one) and returns how to restore it.
async fn drop_index(target: &Client, p: &TableProgram, index: &str) -> Result<Dropped> {
    let t = p.target.qualified();
    let fail = |e| PgError::db(format!("cannot set aside the unique index `{index}`"), e);
    let row = target
        .query_opt(
            "SELECT pg_catalog.pg_get_indexdef(i.indexrelid), i.indisprimary,
                    pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(ic.relname),
                    c.conname::text, c.condeferrable, c.condeferred,
                    pg_catalog.obj_description(i.indexrelid, 'pg_class'),
                    pg_catalog.obj_description(c.oid, 'pg_constraint'),
                    (SELECT string_agg(f.conname::text || ' on ' || f.conrelid::regclass::text, ', ')
                     FROM pg_catalog.pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
             FROM pg_catalog.pg_index i
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
             JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace
             LEFT JOIN pg_catalog.pg_constraint c
                    ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u')
             WHERE i.indrelid = $1::text::regclass AND ic.relname = $2",
            &[&t, &index],
        )
        .await
        .map_err(fail)?
        .ok_or_else(|| {
            EngineError::runtime(format!(
                "table `{}`: no unique index `{index}` to set aside",
                p.target.name
            ))
        })?;
    let create: String = row.get(0);
    let primary: bool = row.get(1);
    let qualified_index: String = row.get(2);
    let constraint: Option<String> = row.get(3);
    let referenced: Option<String> = row.get(8);
    let refuse = |why: String| {
        EngineError::runtime(format!(
            "table `{}`: rows of this run exchange values of the unique index `{index}`, which \
             cannot be done in one statement, and the index cannot be set aside for the merge: {why}",
            p.target.name
        ))
    };
    if primary {
        return Err(refuse("it is the primary key".into()));
    }
    if let Some(fks) = referenced {
        return Err(refuse(format!("foreign keys reference it ({fks})")));
    }
    let mut statements = vec![create];
    match &constraint {
        Some(name) => {
            let mut add = format!(
                "ALTER TABLE {t} ADD CONSTRAINT {} UNIQUE USING INDEX {}",
                quote_ident(name),
                quote_ident(index)
            );
            if row.get::<_, Option<bool>>(4) == Some(true) {
                add.push_str(" DEFERRABLE");
                if row.get::<_, Option<bool>>(5) == Some(true) {
                    add.push_str(" INITIALLY DEFERRED");
                }
            }
            statements.push(add);
            if let Some(comment) = row.get::<_, Option<String>>(7) {
                statements.push(format!(
                    "COMMENT ON CONSTRAINT {} ON {t} IS {}",
                    quote_ident(name),
                    quote_literal(&comment)
                ));
            }
        }
        None => {
            if let Some(comment) = row.get::<_, Option<String>>(6) {
                statements.push(format!(
                    "COMMENT ON INDEX {qualified_index} IS {}",
                    quote_literal(&comment)
                ));
            }
        }
    }
    let drop = match &constraint {
        Some(name) => format!("ALTER TABLE {t} DROP CONSTRAINT {}", quote_ident(name)),
        None => format!("DROP INDEX {qualified_index}"),
    };
    target.batch_execute(&drop).await.map_err(fail)?;
    Ok(Dropped {
        table: p.target.name.clone(),
        index: index.to_string(),
        statements,
    })
}

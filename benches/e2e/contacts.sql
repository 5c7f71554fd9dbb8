-- Copied from ../shared/bench/contacts.sql (the benchmark table of ../shared/BENCHMARKS.md) so the
-- repository is self-contained; run.sh prefers ../shared/bench/contacts.sql when it exists.
-- Benchmark table: psql -v rows=5000000 -f contacts.sql  (about 1 GB at 5M rows)
drop table if exists contacts;
create table contacts(
  id bigint primary key,
  account_id bigint not null,
  first_name text not null,
  last_name text not null,
  email text,
  phone text,
  status smallint not null,
  score numeric(12,2),
  notes text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
insert into contacts
select g,
  (g % 50000) + 1,
  'First' || (g % 9973),
  'Last' || (g % 7919),
  'user' || g || '@Example.COM',
  '(555) ' || lpad((g % 1000)::text,3,'0') || '-' || lpad((g % 10000)::text,4,'0'),
  (g % 5)::smallint,
  ((g % 100000) / 7.0)::numeric(12,2),
  case when g % 3 = 0 then null else repeat('note ', (g % 20)) end,
  timestamptz '2020-01-01' + (g || ' seconds')::interval,
  timestamptz '2024-01-01' + ((g*7 % 31536000) || ' seconds')::interval
from generate_series(1, :rows) g;
create index on contacts(updated_at);
analyze contacts;

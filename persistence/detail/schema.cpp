#include "taskrt/persistence/detail/schema.hpp"

#include "taskrt/runtime/version.hpp"

#include <iterator>
#include <stdexcept>
#include <string>

namespace taskrt::detail {

namespace {

/// Any constant unique to taskrt: serialises concurrent migrate() calls.
constexpr const char* migration_lock = "SELECT pg_advisory_xact_lock(7262727201)";

struct migration {
  int version;
  const char* sql;
};

// Append only; never edit a migration that has shipped.
const migration migrations[] = {
  {1, R"sql(
CREATE TABLE tasks (
  id           bigserial PRIMARY KEY,
  name         text NOT NULL,
  args         jsonb NOT NULL DEFAULT '{}',
  queue        text NOT NULL,
  priority     integer NOT NULL DEFAULT 0,
  lock         text,
  state        text NOT NULL CHECK (state IN
                 ('QUEUED','RUNNING','SUCCEEDED','FAILED','CANCELLED','LOST')),
  attempt      integer NOT NULL DEFAULT 0,
  retry_base   integer NOT NULL DEFAULT 0,
  lease_epoch  bigint NOT NULL DEFAULT 0,
  policy       jsonb,
  run_at       timestamptz NOT NULL,
  time_limit_s double precision NOT NULL DEFAULT 0,
  node         text,
  result       jsonb,
  last_error   jsonb,
  parent_id    bigint,
  origin       text,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL
);
CREATE INDEX tasks_state_idx ON tasks (state);
CREATE INDEX tasks_name_idx ON tasks (name);
CREATE INDEX tasks_queue_idx ON tasks (queue);
CREATE INDEX tasks_lock_idx ON tasks (lock) WHERE lock IS NOT NULL;
CREATE INDEX tasks_created_idx ON tasks (created_at);

CREATE TABLE task_events (
  id         bigserial PRIMARY KEY,
  task_id    bigint NOT NULL,
  attempt    integer NOT NULL,
  kind       text NOT NULL,
  from_state text,
  to_state   text,
  at         timestamptz NOT NULL,
  node       text,
  detail     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX task_events_task_idx ON task_events (task_id, id);

CREATE TABLE checkpoints (
  id      bigserial PRIMARY KEY,
  task_id bigint NOT NULL,
  attempt integer NOT NULL,
  data    text NOT NULL,
  at      timestamptz NOT NULL
);
CREATE INDEX checkpoints_task_idx ON checkpoints (task_id, id);

CREATE TABLE nodes (
  id             text PRIMARY KEY,
  address        text NOT NULL,
  slots          integer NOT NULL,
  running        integer NOT NULL,
  state          text NOT NULL CHECK (state IN ('ALIVE','SUSPECT','DEAD','DRAINING')),
  last_heartbeat timestamptz NOT NULL,
  started        timestamptz NOT NULL
);
)sql"},
  // A worker node that drained and left cleanly is LEFT, not DEAD.
  {2, R"sql(
ALTER TABLE nodes DROP CONSTRAINT nodes_state_check;
ALTER TABLE nodes ADD CONSTRAINT nodes_state_check
  CHECK (state IN ('ALIVE','SUSPECT','DEAD','DRAINING','LEFT'));
)sql"},
  // Attempts handed back before they began (prefetched behind a long one, on
  // a node that died, ...): journaled as attempts, not counted as tries.
  {3, R"sql(
ALTER TABLE tasks ADD COLUMN unstarted integer NOT NULL DEFAULT 0;
)sql"},
  // Issue 10: idempotency keys (a second submit with the same key creates
  // nothing), cancel requests that survive a head restart, a head generation
  // that makes leases unique across head lifetimes, and the commit log that
  // tells whether a commit of unknown outcome (connection lost during COMMIT)
  // went through: each group commit writes its id and its result there in
  // the same transaction.
  {4, R"sql(
ALTER TABLE tasks ADD COLUMN key text;
CREATE UNIQUE INDEX tasks_key_idx ON tasks (key) WHERE key IS NOT NULL;
ALTER TABLE tasks ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;
-- A committed (hence fsynced) row, not a sequence: nextval alone is not
-- flushed and may hand out a number twice after a Postgres crash.
CREATE TABLE head_generation (
  one   boolean PRIMARY KEY DEFAULT true CHECK (one),
  value bigint NOT NULL
);
INSERT INTO head_generation VALUES (true, 0);
CREATE TABLE commit_log (
  id     text PRIMARY KEY,
  at     timestamptz NOT NULL DEFAULT now(),
  result jsonb
);
CREATE INDEX commit_log_at_idx ON commit_log (at);
CREATE INDEX tasks_ready_idx ON tasks (run_at) WHERE state = 'QUEUED';
)sql"},
  // Issue 12 (scale).
  //
  // HOT updates on tasks. Postgres updates a row in place (HOT: no new entry
  // in any index) only when no column that an index uses, as key, INCLUDE or
  // in its WHERE, changes. tasks_state_idx and tasks_ready_idx (WHERE state
  // = 'QUEUED') used `state`, which every transition changes: 0 HOT updates.
  // Now no index mentions state, updated_at, attempt, lease_epoch, node,
  // result or last_error. Live tasks are found through `live`, a generated
  // column that changes only when a task enters or leaves QUEUED/RUNNING: a
  // start (QUEUED -> RUNNING) and a hand-back (RUNNING -> QUEUED) can be HOT;
  // the end of an attempt (RUNNING -> final) cannot, as it must leave the
  // index of live tasks. Queries on live tasks say `live AND state = ...`.
  // A HOT update also needs room on the row's page for the new version:
  // the head submits and starts tasks in batches, so a page filled by one
  // submit batch sees all its rows started at once. Measured with the head
  // and 20,000 tasks (docs/performance.md): fillfactor 100 gave 0.8% HOT
  // updates, 80 gave 14%, 70 gave 23%, 50 gave 50% (every start). 50 it is:
  // the table takes more pages (34 against 25 MB there).
  // tasks_created_idx gets the id as a tie-breaker for the batched deletes
  // of retention (keyset on created_at, id).
  //
  // task_events is partitioned by range of `at`, one partition a day (UTC):
  // retention drops whole days (a 30-day retention keeps 30 to 31 days),
  // a day is small enough to drop in a moment and 30-odd partitions keep
  // planning cheap. The head creates the partitions a week ahead (store
  // method ensure_partitions, at start and at each maintenance tick); a
  // DEFAULT partition takes whatever has no partition (a clock far off,
  // journals from long ago in tests), so an insert never fails and the hot
  // path never runs DDL. The rows already there stay where they are: the old
  // table becomes the partition task_events_legacy for every time up to the
  // end of the day of its newest row (no copy; one scan to check the range
  // and build the new indexes), or is dropped when empty. The id sequence
  // moves to the new table (owned by the old one, it would go with it). No
  // primary key: one would have to include `at`; ids come from the
  // sequence, and reads go by (task_id, id). A BRIN index on `at` serves the
  // "last minute/hour" reads of `taskrt status`; a small partial index holds
  // only the rare kinds (fail, lose, retry, manual_retry) for status and
  // recovery.
  {5, R"sql(
ALTER TABLE tasks SET (fillfactor = 50);
ALTER TABLE tasks ADD COLUMN live boolean
  GENERATED ALWAYS AS (state IN ('QUEUED', 'RUNNING')) STORED;
DROP INDEX tasks_state_idx;
DROP INDEX tasks_ready_idx;
CREATE INDEX tasks_live_idx ON tasks (queue, priority DESC, run_at, id) WHERE live;
DROP INDEX tasks_created_idx;
CREATE INDEX tasks_created_idx ON tasks (created_at, id);

ALTER TABLE task_events RENAME TO task_events_legacy;
ALTER TABLE task_events_legacy RENAME CONSTRAINT task_events_pkey TO task_events_legacy_pkey;
ALTER INDEX task_events_task_idx RENAME TO task_events_legacy_task_idx;
CREATE TABLE task_events (
  id         bigint NOT NULL DEFAULT nextval('task_events_id_seq'),
  task_id    bigint NOT NULL,
  attempt    integer NOT NULL,
  kind       text NOT NULL,
  from_state text,
  to_state   text,
  at         timestamptz NOT NULL,
  node       text,
  detail     jsonb NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (at);
ALTER SEQUENCE task_events_id_seq OWNED BY task_events.id;
ALTER TABLE task_events_legacy ALTER COLUMN id DROP DEFAULT;
CREATE INDEX task_events_task_idx ON task_events (task_id, id);
CREATE INDEX task_events_at_idx ON task_events USING brin (at) WITH (autosummarize = on);
CREATE INDEX task_events_rare_idx ON task_events (at)
  WHERE kind IN ('fail', 'lose', 'retry', 'manual_retry');
CREATE TABLE task_events_default PARTITION OF task_events DEFAULT;
DO $$
DECLARE
  upto timestamptz;
BEGIN
  IF EXISTS (SELECT 1 FROM task_events_legacy) THEN
    upto := date_trunc('day', greatest(now(), (SELECT max(at) FROM task_events_legacy)), 'UTC')
            + interval '1 day';
    EXECUTE format('ALTER TABLE task_events ATTACH PARTITION task_events_legacy'
                   ' FOR VALUES FROM (MINVALUE) TO (%L)', upto);
  ELSE
    DROP TABLE task_events_legacy;
  END IF;
END $$;
)sql"},
  // Issue 12 (bounded memory for scheduled tasks). The head holds QUEUED
  // tasks scheduled up to a horizon ahead (`--schedule-horizon`) and reads
  // the next ones by time as the horizon moves: an index of live tasks by
  // run_at. A start (QUEUED -> RUNNING) changes neither run_at nor live, so
  // it stays a HOT update.
  {6, R"sql(
CREATE INDEX tasks_live_run_at_idx ON tasks (run_at) WHERE live;
)sql"},
  // Issue 25 (workflows): a task submitted with parents is WAITING until its
  // trigger rule is met by their final states (sched/trigger.hpp). The
  // edges are kept (describe and graph read them); the graph writer finds
  // a parent's children through task_edges_parent_idx in the transaction
  // that ends the parent. WAITING is not live (no head holds a WAITING task
  // in memory, and no index mentions state, so updates stay HOT). Edges go
  // with their tasks (purge, retention).
  {7, R"sql(
ALTER TABLE tasks DROP CONSTRAINT tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check CHECK (state IN
  ('QUEUED','RUNNING','SUCCEEDED','FAILED','CANCELLED','LOST','WAITING'));
ALTER TABLE tasks ADD COLUMN trigger_rule text
  CHECK (trigger_rule IN ('all_success','all_done','any_success'));
-- The parents as they were when the task was released: {id, name, state,
-- result} each, for ctx.parents() (written with the release).
ALTER TABLE tasks ADD COLUMN parents jsonb;
CREATE TABLE task_edges (
  child_id  bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  parent_id bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX task_edges_parent_idx ON task_edges (parent_id, child_id);
)sql"},
  // Issue 24 (periodic schedules, persistence/schedule_store.hpp). A
  // schedule's row keeps its rule and its state: next_tick (the first tick
  // not yet fired or skipped), paused, the last tick fired and its tasks.
  // schedule_events journals every tick decided (fired, caught_up, skipped
  // with its reason, triggered): one row per tick, so two heads racing
  // write one answer. Ticks are tasks with the key schedule:NAME:TICK.
  {8, R"sql(
CREATE TABLE schedules (
  name             text PRIMARY KEY,
  task             text NOT NULL,
  args             jsonb NOT NULL DEFAULT '{}',
  cron             text NOT NULL DEFAULT '',
  every_s          bigint NOT NULL DEFAULT 0,
  tz               text NOT NULL DEFAULT 'UTC',
  missed           text NOT NULL DEFAULT 'skip' CHECK (missed IN ('skip','latest','all')),
  catchup_window_s bigint NOT NULL DEFAULT 0,
  overlap          text NOT NULL DEFAULT 'allow'
                     CHECK (overlap IN ('allow','skip','buffer-one')),
  jitter_s         bigint NOT NULL DEFAULT 0,
  queue            text NOT NULL DEFAULT '',
  priority         integer NOT NULL DEFAULT 0,
  policy           text NOT NULL DEFAULT '',
  time_limit_s     double precision NOT NULL DEFAULT 0,
  lock             text NOT NULL DEFAULT '',
  declared         boolean NOT NULL DEFAULT false,
  paused           boolean NOT NULL DEFAULT false,
  next_tick        timestamptz,
  last_tick        timestamptz,
  recent_task_ids  bigint[] NOT NULL DEFAULT '{}',
  trigger_at       timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE schedule_events (
  id       bigserial PRIMARY KEY,
  schedule text NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
  tick     timestamptz NOT NULL,
  kind     text NOT NULL CHECK (kind IN ('fired','caught_up','skipped','triggered')),
  reason   text NOT NULL DEFAULT '',
  task_id  bigint,
  at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (schedule, tick)
);
)sql"},
  // Issue 24 (rate and concurrency limits). A task's limit keys (a JSON
  // array of text, NULL for none) and the limits per key, which the active
  // head loads at start and reloads on NOTIFY taskrt_limits.
  {9, R"sql(
ALTER TABLE tasks ADD COLUMN limit_keys jsonb;
CREATE TABLE limits (
  key          text PRIMARY KEY,
  rate_per_s   float8 CHECK (rate_per_s IS NULL OR rate_per_s > 0),
  burst        float8 NOT NULL DEFAULT 1 CHECK (burst >= 1),
  concurrency  integer CHECK (concurrency IS NULL OR concurrency > 0),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CHECK (rate_per_s IS NOT NULL OR concurrency IS NOT NULL)
);
)sql"},
  // The HTTP API's access (persistence/access_store.hpp): tokens by the
  // SHA-256 of their secret (a standby head reads the same rows), one-time
  // login links and browser sessions (hashes too), the idempotency keys of
  // POST /api/v1/tasks with the hash of the body that used them first, and
  // an audit row for every write through the API.
  {10, R"sql(
CREATE TABLE api_tokens (
  name        text PRIMARY KEY,
  role        text NOT NULL CHECK (role IN ('viewer', 'operator')),
  hash        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text,
  revoked_at  timestamptz
);
CREATE TABLE api_logins (
  hash          text PRIMARY KEY,
  name          text NOT NULL,
  role          text NOT NULL CHECK (role IN ('viewer', 'operator')),
  expires_at    timestamptz NOT NULL,
  session_ttl_s double precision NOT NULL
);
CREATE TABLE api_sessions (
  hash        text PRIMARY KEY,
  name        text NOT NULL,
  role        text NOT NULL CHECK (role IN ('viewer', 'operator')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE TABLE api_idempotency (
  key         text PRIMARY KEY,
  body_hash   text NOT NULL,
  task_id     bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE api_audit (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  who         text NOT NULL,
  role        text NOT NULL,
  method      text NOT NULL,
  path        text NOT NULL,
  status      integer NOT NULL,
  detail      jsonb
);
)sql"},
  // Issue 22: enums end to end. Every state and kind column refuses text
  // that is not one of its enum's names (runtime/task_state.hpp,
  // runtime/note_kind.hpp) instead of a reader turning it into QUEUED.
  // WAITING (issue 25) is allowed here too so that the order in which
  // migration 7 and this one land does not matter.
  {11, R"sql(
ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_state_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_state_check CHECK (state IN
  ('QUEUED','RUNNING','SUCCEEDED','FAILED','CANCELLED','LOST','WAITING'));
ALTER TABLE task_events ADD CONSTRAINT task_events_from_state_check CHECK (from_state IN
  ('QUEUED','RUNNING','SUCCEEDED','FAILED','CANCELLED','LOST','WAITING'));
ALTER TABLE task_events ADD CONSTRAINT task_events_to_state_check CHECK (to_state IN
  ('QUEUED','RUNNING','SUCCEEDED','FAILED','CANCELLED','LOST','WAITING'));
ALTER TABLE task_events ADD CONSTRAINT task_events_kind_check CHECK (kind IN
  ('submit','start','succeed','fail','cancel','lose','retry','manual_retry','requeue',
   'release','rewait','rejected','cancel_requested','retry_decision','stale_result','checkpoint',
   'progress','adopted','fenced_attempt','waiting'));
)sql"},
  // The event feed (GET /api/v1/events) LISTENs instead of polling: every
  // statement that inserts journal events notifies channel taskrt_events at
  // commit. Per statement, not per row, and with one payload: Postgres
  // delivers identical notifications of a transaction once, so a group
  // commit of many events costs one notification.
  {13, R"sql(
CREATE FUNCTION taskrt_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('taskrt_events', '');
  RETURN NULL;
END
$$;
CREATE TRIGGER task_events_notify AFTER INSERT ON task_events
  FOR EACH STATEMENT EXECUTE FUNCTION taskrt_notify_events();
)sql"},
  // Retention of the API's tables (access_store::purge_expired, run by the
  // head's maintenance tick): idempotency keys and audit rows are deleted
  // oldest first by age, through these indexes instead of a scan.
  {14, R"sql(
CREATE INDEX api_idempotency_created_idx ON api_idempotency (created_at);
CREATE INDEX api_audit_at_idx ON api_audit (at);
)sql"},
  // The latest progress of a task's attempt, {"attempt", "at_us", "value"}
  // (ctx.progress), which the head writes at most once a second per task
  // (issue 23): no event per report, one row update a second at most.
  {15, R"sql(
ALTER TABLE tasks ADD COLUMN progress jsonb;
)sql"},
  // tasks.parents is written once, with the release, and only read back
  // whole: json keeps the text the graph writer built, where jsonb parsed
  // it into a tree first (65-70 ms of a fan-in's release commit for 10,000
  // parents, 2 ms as json; docs/performance.md, Workflows). Rewrites tasks.
  {16, R"sql(
ALTER TABLE tasks ALTER COLUMN parents TYPE json USING parents::json;
)sql"},
  // A fan-in's tasks.parents (about 1 MB of JSON for 10,000 parents) is
  // compressed by lz4 rather than pglz: its release's row update took 10-15
  // ms with pglz, 3-5 ms with lz4 (docs/performance.md, Workflows). Only
  // new values; a Postgres built without lz4 keeps pglz.
  {17, R"sql(
DO $$ BEGIN
  EXECUTE 'ALTER TABLE tasks ALTER COLUMN parents SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END $$;
)sql"},
};

} // namespace

int latest_schema_version() {
  return std::end(migrations)[-1].version;
}

std::vector<int> schema_versions() {
  std::vector<int> out;
  for (const auto& m : migrations)
    out.push_back(m.version);
  return out;
}

void apply_migrations(pqxx::connection_base& c, int up_to) {
  pqxx::work tx{c, "migrate"};
  tx.exec("SET LOCAL statement_timeout = 0"); // big tables take their time
  tx.exec(migration_lock);
  // taskrt_version: which release applied each migration, so a refusal can
  // name it (journals from before it have NULL there).
  tx.exec0("CREATE TABLE IF NOT EXISTS schema_version ("
           " version integer PRIMARY KEY,"
           " applied_at timestamptz NOT NULL DEFAULT now(),"
           " taskrt_version text)");
  tx.exec0("ALTER TABLE schema_version ADD COLUMN IF NOT EXISTS taskrt_version text");
  const auto newest = tx.exec1("SELECT coalesce(max(version), 0),"
                               " (SELECT taskrt_version FROM schema_version"
                               "  ORDER BY version DESC LIMIT 1)"
                               " FROM schema_version");
  const int have = newest[0].as<int>();
  if (have > latest_schema_version()) {
    const std::string by = newest[1].is_null() ? "a newer taskrt" : "taskrt " + newest[1].as<std::string>();
    throw std::runtime_error(
      "the journal's schema is at version " + std::to_string(have) + ", migrated by " + by
      + "; this taskrt " + version() + " knows schema versions up to "
      + std::to_string(latest_schema_version())
      + ": run the newer taskrt (a journal is never migrated down)");
  }
  for (const auto& m : migrations) {
    if (m.version <= have || m.version > up_to)
      continue;
    tx.exec(m.sql);
    tx.exec0("INSERT INTO schema_version (version, taskrt_version) VALUES ("
             + std::to_string(m.version) + ", " + tx.quote(version()) + ")");
  }
  tx.commit();
}

int current_schema_version(pqxx::connection_base& c) {
  pqxx::read_transaction tx{c};
  if (tx.exec1("SELECT to_regclass('schema_version') IS NULL")[0].as<bool>())
    return 0;
  return tx.exec1("SELECT coalesce(max(version), 0) FROM schema_version")[0].as<int>();
}

} // namespace taskrt::detail

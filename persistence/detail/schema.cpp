#include "persistence/detail/schema.hpp"

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
};

} // namespace

void apply_migrations(pqxx::connection_base& c) {
  pqxx::work tx{c, "migrate"};
  tx.exec("SET LOCAL statement_timeout = 0"); // big tables take their time
  tx.exec(migration_lock);
  tx.exec0("CREATE TABLE IF NOT EXISTS schema_version ("
           " version integer PRIMARY KEY,"
           " applied_at timestamptz NOT NULL DEFAULT now())");
  const int have = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_version")[0]
                     .as<int>();
  for (const auto& m : migrations) {
    if (m.version <= have)
      continue;
    tx.exec(m.sql);
    tx.exec0("INSERT INTO schema_version (version) VALUES ("
             + std::to_string(m.version) + ")");
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

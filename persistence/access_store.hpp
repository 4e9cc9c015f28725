#pragma once
/// Access to the HTTP API, kept in Postgres (migration 10) so that a standby
/// head knows the same tokens: API tokens, one-time login links and browser
/// sessions (each stored as the SHA-256 of its secret, never the secret),
/// the idempotency keys of POST /api/v1/tasks with the hash of the body that
/// used them first, an audit row per write, and the journal read of the
/// event feed (GET /api/v1/events).
///
/// Tables: api_tokens(name, role, hash, created_at, created_by, revoked_at),
/// api_logins(hash, name, role, expires_at, session_ttl_s),
/// api_sessions(hash, name, role, created_at, expires_at),
/// api_idempotency(key, body_hash, task_id), api_audit(id, at, who, role,
/// method, path, status, detail). The feed's LISTEN: wait_events.
/// Single-threaded like journal_store: one
/// owner at a time. Every method throws store_error.

#include "taskrt/persistence/event_row.hpp"
#include "taskrt/persistence/journal_options.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// What a caller of the API may do.
enum class api_role : uint8_t {
  viewer = 1,   ///< GET only
  operator_ = 2, ///< also submit, cancel, retry
};

/// "viewer", "operator".
const char* to_string(api_role r);

/// The role named `text`, if any.
std::optional<api_role> parse_api_role(const std::string& text);

/// Who a request came from: a token's name (or "dashboard:..." for a
/// session) and its role.
struct api_principal {
  std::string name;
  api_role role = api_role::viewer;
};

/// One row of `taskrt tokens list`.
struct api_token_row {
  std::string name;
  api_role role = api_role::viewer;
  int64_t created_us = 0;
  std::string created_by;
  int64_t revoked_us = 0; ///< 0: valid
};

/// A journal event with the name of its task (empty when the task is gone).
struct feed_event {
  event_row event;
  std::string name;
};

/// Where the feed may read up to: every event id at most `last_id` is
/// committed or will never be once the transactions in `running` have
/// ended.
struct feed_barrier {
  int64_t last_id = 0;  ///< the event id sequence's value when taken
  std::string running;  ///< virtual transaction ids (a text[] literal) that had
                        ///< drawn event ids and were running then
  int64_t taken_us = 0;
};

/// Tokens, logins, sessions, idempotency keys, audit and feed reads.
class access_store {
public:
  /// Connects lazily to `dsn` with the timeouts of `opts`.
  explicit access_store(const std::string& dsn, journal_options opts = {});
  ~access_store();
  access_store(const access_store&) = delete;
  access_store& operator=(const access_store&) = delete;

  /// A new random secret: "trt_" and 43 URL-safe base64 characters (256 bits).
  static std::string new_secret();

  /// The hex SHA-256 of `text`.
  static std::string sha256_hex(const std::string& text);

  // -- tokens -------------------------------------------------------------------

  /// Creates token `name` with `role`; returns its secret (shown once).
  /// Throws store_error (data class) when the name is taken.
  std::string add_token(const std::string& name, api_role role, const std::string& created_by);

  /// Every token, revoked ones too, by name.
  std::vector<api_token_row> tokens();

  /// Revokes `name`; false when no such valid token exists.
  bool revoke_token(const std::string& name);

  /// The valid token whose secret is `secret`.
  std::optional<api_principal> find_token(const std::string& secret);

  // -- login links and sessions ---------------------------------------------------

  /// A one-time login secret for `name`/`role`, usable for `valid_s`; the
  /// session it opens lasts `session_ttl_s`.
  std::string add_login(const std::string& name, api_role role, double valid_s,
                        double session_ttl_s);

  /// Uses up the login `secret` (once) and opens a session: its secret and
  /// principal, its lifetime in seconds; nothing when the login is unknown,
  /// used or expired.
  struct opened_session {
    std::string secret;
    api_principal who;
    double ttl_s = 0;
  };
  std::optional<opened_session> open_session(const std::string& login_secret);

  /// The principal of the unexpired session `secret`.
  std::optional<api_principal> find_session(const std::string& secret);

  /// Ends the session `secret` (logout).
  void end_session(const std::string& secret);

  // -- idempotency keys and audit ----------------------------------------------------

  /// The (body hash, task id) recorded for `key`.
  struct key_use {
    std::string body_hash;
    int64_t task_id = 0;
  };
  std::optional<key_use> find_key(const std::string& key);

  /// Records `key` -> (body_hash, task_id) unless recorded already; returns
  /// the record that holds afterwards (the first one).
  key_use record_key(const std::string& key, const std::string& body_hash, int64_t task_id);

  /// The id of the task submitted with idempotency key `key`, if any.
  std::optional<int64_t> task_for_key(const std::string& key);

  /// An audit row for a write through the API.
  void audit(const api_principal& who, const std::string& method, const std::string& path,
             int status, const std::string& detail_json);

  // -- retention ---------------------------------------------------------------------

  /// What purge_expired deleted.
  struct purge_result {
    int64_t keys = 0;     ///< idempotency keys recorded before the key cutoff
    int64_t audit = 0;    ///< audit rows written before the audit cutoff
    int64_t logins = 0;   ///< expired login links
    int64_t sessions = 0; ///< expired sessions
  };

  /// Retention of the access tables (the head's maintenance tick): deletes
  /// the idempotency keys recorded before `keys_before_us` (after that a
  /// replay is deduplicated only by the task's own key, without the body
  /// check, while the journal keeps the task), the audit rows written
  /// before `audit_before_us` (0: keep every audit row), and the login
  /// links and sessions that have expired. Keys and audit rows go in
  /// transactions of at most `batch` rows; tokens are never deleted.
  purge_result purge_expired(int64_t keys_before_us, int64_t audit_before_us, int batch = 1000);

  // -- the event feed --------------------------------------------------------------

  /// The current feed barrier (see feed_barrier).
  feed_barrier take_barrier();

  /// True when every transaction in b.running has ended: then no event id
  /// at most b.last_id can still appear (no statement when none was).
  bool barrier_settled(const feed_barrier& b);

  /// Up to `limit` events with after_id < id <= up_to_id, in journal order,
  /// with their tasks' names.
  std::vector<feed_event> events_between(int64_t after_id, int64_t up_to_id, int limit);

  /// The highest event id (0: none).
  int64_t last_event_id();

  /// The channel that every statement inserting into task_events notifies
  /// when its transaction commits (a statement-level trigger, migration
  /// 13; Postgres folds the identical notifications of one transaction
  /// into one, so a group commit of many events is one notification).
  static constexpr const char* events_channel = "taskrt_events";

  /// Waits, without a query, for a commit that inserted journal events.
  /// The first call on a connection (the first, or after a reconnect)
  /// LISTENs on events_channel and returns true at once: what committed
  /// before was announced to no one, so the caller reads from its cursor.
  /// Else it blocks on the connection's socket until a notification
  /// arrives (true), `wake_fd` (>= 0) becomes readable, or `timeout`
  /// passes (false). A lost connection throws store_error (outage); the
  /// next call reconnects and LISTENs again.
  bool wait_events(int wake_fd, std::chrono::milliseconds timeout);

  /// Statements (transactions and LISTENs) this store has sent; waiting in
  /// wait_events sends none. For tests: an idle feed sends nothing.
  uint64_t statements() const;

  // -- queues -----------------------------------------------------------------------

  /// One queue as GET /api/v1/queues shows it.
  struct queue_stat {
    std::string queue;
    int64_t ready = 0;      ///< QUEUED and due
    int64_t scheduled = 0;  ///< QUEUED, run_at later
    int64_t running = 0;
    int64_t oldest_ready_us = 0; ///< since when the longest-waiting ready task is ready; 0: none
    int64_t finished = 0;   ///< tasks that reached a final state in the last `window_s`
  };

  /// The live tasks per queue (the index of live tasks) and how many tasks
  /// of each queue ended within the last `window_s` (journal events of that
  /// time, through the BRIN index on `at`).
  std::vector<queue_stat> queue_stats(double window_s);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace taskrt

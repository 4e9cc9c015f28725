#pragma once
/// A small blocking client of the head for plain programs and the CLI.
/// Actors should instead hold a head_actor handle and use request/then.
///
///   taskrt::client c{"127.0.0.1", 7400};
///   auto id = c.submit(spec);          // after QUEUED is committed
///   auto ids = c.submit_many(specs);   // N tasks, one commit, ids in order
///   auto out = c.await(*id);           // the final outcome
///
/// With a TLS directory (`taskrt certs generate`) the client speaks mutual
/// TLS as the identity "client" (or tls.name, or the directory's only one).
///
///   taskrt::client c{"10.0.0.5:7400,10.0.0.6:7400"}; // follows a takeover
///   taskrt::client c{taskrt::local_head{}};          // the head this machine's
///                                                    // `start --head` runs
///
///   auto outs = c.await_many(*ids);
///   nlohmann::json r = taskrt::result_of(outs->at(0));
///   if (auto e = taskrt::error_of(outs->at(1))) std::cerr << e->kind << ": " << e->message;

#include "taskrt/cluster/tls.hpp"
#include "taskrt/runtime/protocol.hpp"
#include "taskrt/runtime/task_error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace taskrt {

/// Where `client{local_head{}}` finds a head: the state file a head started
/// on this machine writes (DATA_DIR/head.json, as the CLI reads it).
struct local_head {
  std::string data_dir; ///< empty: $TASKRT_DATA_DIR, else ~/.local/share/taskrt
};

/// The result of a SUCCEEDED outcome as JSON (null otherwise, or when the
/// text does not parse).
nlohmann::json result_of(const task_outcome& out);

/// The error that ended a FAILED or LOST outcome: kind, ancestors, message
/// and (for a crashed worker) backtrace; nothing for other states.
std::optional<error_info> error_of(const task_outcome& out);

/// One task of a graph for client::submit_graph: its local name, what it
/// runs (spec.trigger is its trigger rule; spec.after is ignored), and its
/// parents by local name, or "#ID" for a task that exists already.
struct graph_task {
  std::string name;
  task_spec spec;
  std::vector<std::string> after;
};

/// A connection to a head (its own actor system with the middleman).
class client {
public:
  /// Connects to the head at host:port, in plaintext or, when tls.dir is
  /// set, over mutual TLS; connected() tells whether it worked.
  client(const std::string& host, uint16_t port, const tls_options& tls = {});

  /// Connects to the first of `addresses` ("HOST:PORT[,HOST:PORT...]": the
  /// active head and its standbys) that answers, trying each once in order;
  /// when none does, connect_error() names every address with its reason.
  /// When the head is lost
  /// mid-call, the client tries the addresses again for up to 30 s and
  /// repeats the call once on the head that answers: a submit that was
  /// committed just before the old head died may then run twice unless the
  /// spec carries an idempotency key (task_spec.key).
  client(const std::string& addresses, const tls_options& tls = {});

  /// Connects to the head started on this machine, at the address (and with
  /// the TLS directory) of its state file; connect_error() says when there
  /// is none.
  explicit client(const local_head& where);
  ~client();

  /// True when the head was reached.
  bool connected() const;

  /// "HOST:PORT" of the head it talks to (empty when not connected).
  std::string address() const;

  /// Why the connection failed (empty when connected).
  const std::string& connect_error() const;

  /// The typed handle of the head (for spawning actors on this system).
  head_actor head() const;

  /// The client's actor system.
  caf::actor_system& system();

  /// Submits a task; its id once QUEUED is committed. A spec that breaks
  /// the process limits (runtime/limits.hpp) is refused here with
  /// errc::bad_request and a message naming the problem; nothing is sent.
  caf::expected<int64_t> submit(const task_spec& spec);

  /// Submits every spec in one journal commit; their ids, in the order of
  /// `specs`, once all are QUEUED. All or nothing: a bad spec refuses the
  /// whole batch with an error naming its index ("task 3 of the batch: ...").
  /// A spec whose idempotency key names an existing task gets that task's id.
  caf::expected<std::vector<int64_t>> submit_many(const std::vector<task_spec>& specs);

  /// Submits a whole graph in one journal commit (parents first, whatever
  /// the order given); the id of each task by its local name. Tasks with
  /// parents are WAITING until their trigger is met. A duplicate name, an
  /// unknown parent or a cycle is refused with errc::bad_request before
  /// anything is sent (client_graph.cpp).
  caf::expected<std::map<std::string, int64_t>> submit_graph(const std::vector<graph_task>& tasks);

  /// Waits until the task is final (or `timeout` passes).
  caf::expected<task_outcome> await(int64_t id,
                                    std::chrono::seconds timeout = std::chrono::hours(24));

  /// Waits until every task is final (or `timeout` passes, for all of them
  /// together); the outcomes in the order of `ids`, or the first error.
  caf::expected<std::vector<task_outcome>>
  await_many(const std::vector<int64_t>& ids,
             std::chrono::seconds timeout = std::chrono::hours(24));

  /// Cancels; the state after the call. `origin` is journaled with it.
  caf::expected<task_state> cancel(int64_t id, const std::string& origin = "client");

  /// Manual retry; the task id.
  caf::expected<int64_t> retry(const manual_retry_msg& msg);

  /// A summary of the head.
  caf::expected<head_status> status();

  /// Asks the head to drain and exit.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace taskrt

#pragma once
/// An in-memory journal: the fake of journal_store for unit tests (Ray's
/// in_memory_store_client). It implements the same four interfaces with the
/// same semantics where a test can see them (guards, illegal transitions as
/// "rejected" notes, idempotency keys, the commit log, head-generation
/// fencing, recovery loads and windows, node rows, reads, purges, daily
/// partitions and retention); tests/contract/journal_contract.hpp is the one
/// suite both pass. What it does not model: SQL, statistics, timeouts,
/// concurrency between transactions (calls are serialized by one mutex),
/// dependencies (a submit with parents is refused as bad data).
///
/// Failures are scripted: fail_next() makes the next calls throw a
/// store_error (an outage, a data error, a commit in doubt that did or did
/// not go through), reject_if() refuses batches as Postgres refuses bad data.

#include "taskrt/persistence/journal_ports.hpp"
#include "taskrt/persistence/store_error.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

namespace taskrt {

/// The in-memory journal. Copies made with connect() share one database
/// (like two connections to one Postgres) but fence on their own generation.
class memory_journal : public transition_store_interface,
                       public node_store_interface,
                       public task_reads_interface,
                       public retention_store_interface {
public:
  /// What the next call does instead of its work.
  struct fault {
    store_error error;
    /// For commit(): apply the batch first, then throw (a commit in doubt
    /// that went through).
    bool after_commit = false;
  };

  /// A new, empty journal.
  memory_journal();

  /// Another connection to the same database.
  std::shared_ptr<memory_journal> connect() const;

  /// Makes the next call of any method throw `f.error` (queued: one fault
  /// per call, in order).
  void fail_next(fault f);

  /// Commits for which `pred` holds throw a data-class store_error and
  /// write nothing; empty: none.
  void reject_if(std::function<bool(const batch&)> pred);

  /// Calls of commit() that reached the database (whether they wrote).
  int64_t commits() const;

  /// Scripted faults not consumed yet.
  size_t faults_left() const;

  // transition_store_interface
  batch_result commit(const batch& b, const std::string& commit_id = {}) override;
  int64_t next_head_generation() override;
  int64_t fence_generation() const override;
  void fence_on(int64_t generation) override;
  std::vector<task_record> load_unfinished() override;
  windowed_load load_windowed(int64_t now_us, size_t window, int64_t horizon_us) override;
  std::vector<task_record> queued_between(int64_t after_us, int64_t until_us) override;
  std::vector<task_record> queued_after(const std::string& queue,
                                        const std::optional<queue_position>& after,
                                        int64_t now_us, size_t limit) override;
  std::optional<std::string> latest_checkpoint(int64_t task_id) override;
  std::map<int64_t, std::string> latest_checkpoints(const std::vector<int64_t>& task_ids) override;
  double ping_ms() override;

  // node_store_interface
  void upsert_node(const node_row& n) override;
  void upsert_nodes(const std::vector<node_row>& ns) override;
  int64_t prune_nodes(int64_t older_than_us) override;
  std::vector<node_row> nodes() override;

  // task_reads_interface
  std::vector<task_record> list_tasks(const task_filter& f) override;
  std::optional<task_record> get_task(int64_t id) override;
  std::vector<event_row> events(int64_t task_id) override;
  std::vector<event_row> events_after(int64_t task_id, int64_t after_id) override;
  std::vector<checkpoint_row> checkpoints(int64_t task_id) override;
  std::optional<progress_row> progress(int64_t task_id) override;
  std::vector<name_state_count> count_by_name_state(const task_filter& f) override;
  std::vector<error_kind_count> failures_by_kind(const task_filter& f) override;
  std::vector<lost_cause_count> lost_by_cause(const task_filter& f) override;
  std::vector<event_kind_count>
  event_counts_since(int64_t since_us, const std::vector<event_kind>& kinds = {}) override;
  state_counts count_by_state() override;
  queue_age queued_age(int64_t now_us) override;

  // retention_store_interface
  int64_t purge(const task_filter& f, const progress_fn& progress = {},
                int batch = 1000) override;
  std::vector<std::string> ensure_partitions(int64_t now_us, int days_ahead = 7) override;
  std::vector<partition_info> partitions() override;
  retention_result apply_retention(int64_t cutoff_us, const retention_options& o = {}) override;

  /// The database behind one or more connections.
  struct database;

private:
  explicit memory_journal(std::shared_ptr<database> db);
  void enter(std::unique_lock<std::mutex>& lock); // takes the lock, throws a scripted fault
  void check_fence();

  std::shared_ptr<database> db_;
  int64_t generation_ = 0;
};

} // namespace taskrt

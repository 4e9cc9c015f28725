#pragma once
/// The record `taskrt up` keeps of the cluster it started, in
/// DATA_DIR/cluster.json (0600), and the shutdown `taskrt down` (and a failed
/// `up`) performs from it.
///
///   {"address": "127.0.0.1:7400", "started_at": "...",
///    "processes": [{"role": "head", "id": "head", "pid": 4711,
///                   "start_ticks": 123456, "log": "DIR/head.log"},
///                  {"role": "node", "id": "node-1", ...}]}

#include "taskrt/cli/processes.hpp"

#include <optional>
#include <string>
#include <vector>

namespace taskrt::cli {

/// One process of a cluster started by `taskrt up`.
struct cluster_process {
  std::string role; ///< "head" or "node"
  std::string id;   ///< node id ("head" for the head)
  process_ref proc;
  std::string log;
};

/// What `taskrt up` started in one data dir.
struct cluster_record {
  std::string address; ///< the head's HOST:PORT ("" until it listens)
  std::string started_at;
  std::vector<cluster_process> processes;
};

/// DATA_DIR/cluster.json
std::string cluster_record_path(const std::string& data_dir);

/// Reads the record; nothing when absent or unreadable.
std::optional<cluster_record> read_cluster_record(const std::string& data_dir);

/// Writes the record atomically (temp file + rename), mode 0600.
void write_cluster_record(const std::string& data_dir, const cluster_record& r);

/// Removes the record (no error when absent).
void remove_cluster_record(const std::string& data_dir);

/// The recorded processes that still run.
std::vector<cluster_process> alive_processes(const cluster_record& r);

/// Stops the recorded processes: SIGTERM to every worker node (they drain:
/// running attempts finish or are handed back, then they leave), wait; then
/// SIGTERM to the head (the drain `taskrt stop` asks for), wait. Each of the
/// two waits lasts at most `timeout_s`; whatever still runs then gets SIGKILL
/// and a message saying so. Progress goes to stderr, each line prefixed with
/// `who` ("down"). True when nothing recorded runs any more.
bool stop_cluster(const cluster_record& r, double timeout_s, const std::string& who);

} // namespace taskrt::cli

#pragma once
/// The JSON shapes the CLI prints for tasks (field names are stable; see
/// docs/cli.md).

#include "taskrt/persistence/checkpoint_row.hpp"
#include "taskrt/persistence/event_row.hpp"
#include "taskrt/persistence/progress_row.hpp"
#include "taskrt/runtime/task.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

namespace taskrt::cli {

/// One task of `tasks list`: id, name, state, attempt, queue, priority, lock,
/// node, run_at, created_at, updated_at, error_kind.
nlohmann::json task_summary_json(const task_record& t);

/// `tasks describe`: the summary plus args, policy, result, last_error,
/// events, attempts, checkpoints and the latest progress ({attempt, at,
/// value} or null).
nlohmann::json task_detail_json(const task_record& t,
                                const std::vector<event_row>& events,
                                const std::vector<checkpoint_row>& checkpoints,
                                const std::optional<progress_row>& progress);

/// One journal event: id, task_id, at, attempt, kind, from, to, node, detail.
nlohmann::json event_json(const event_row& e);

/// One attempt per start event, with how it ended and the retry decision.
nlohmann::json attempts_json(const std::vector<event_row>& events);

} // namespace taskrt::cli

#pragma once
/// SQL literal and row helpers (private to taskrt_persistence).

#include "taskrt/persistence/checkpoint_row.hpp"
#include "taskrt/persistence/detail/pqxx.hpp"
#include "taskrt/persistence/event_row.hpp"
#include "taskrt/persistence/node_row.hpp"
#include "taskrt/persistence/task_filter.hpp"
#include "taskrt/runtime/task.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace taskrt::detail {

/// A timestamptz literal for `us` µs since the epoch (exact, no float math).
std::string ts_lit(int64_t us);

/// The state named `text` (read from `column`); throws a data-class
/// store_error for a name this taskrt does not know (never a default).
task_state state_of(const std::string& text, const char* column);

/// The event kind named `text` (task_events.kind); throws a data-class
/// store_error for a name this taskrt does not know (never a default).
event_kind event_kind_of(const std::string& text);

/// `us` as RFC 3339 text, which Postgres parses into a timestamptz exactly.
std::string ts_text(int64_t us);

/// SQL expression turning timestamptz `column` into µs since the epoch.
std::string us_of(const std::string& column);

/// A quoted text literal with an explicit cast.
std::string text_lit(pqxx::transaction_base& tx, const std::string& s);

/// A text literal, or NULL::text for an empty string.
std::string text_or_null(pqxx::transaction_base& tx, const std::string& s);

/// A jsonb literal, or NULL::jsonb for an empty string.
std::string json_or_null(pqxx::transaction_base& tx, const std::string& json);

/// An integer literal, or NULL::integer.
std::string int_or_null(const std::optional<int32_t>& v);

/// The select list matching task_from_row(); without `with_parents` the
/// parents column reads as NULL (a caller that has them already).
const std::string& task_columns(bool with_parents = true);

/// Reads a row selected with task_columns().
task_record task_from_row(const pqxx::row& r);

/// The select list matching event_from_row().
const std::string& event_columns();

/// Reads a row selected with event_columns().
event_row event_from_row(const pqxx::row& r);

/// The select list matching checkpoint_from_row().
const std::string& checkpoint_columns();

/// Reads a row selected with checkpoint_columns().
checkpoint_row checkpoint_from_row(const pqxx::row& r);

/// The select list matching node_from_row().
const std::string& node_columns();

/// Reads a row selected with node_columns().
node_row node_from_row(const pqxx::row& r);

/// "WHERE ..." (or empty) for the conditions of `f` on table tasks.
std::string where_clause(pqxx::transaction_base& tx, const task_filter& f);

/// "ORDER BY ..." for `o`.
std::string order_clause(task_order o);

/// SQL condition: the FAILED/LOST task `table` (an alias or table name of
/// tasks) has an end without its retry decision: its newest fail/lose event
/// has no "decision" and no retry_decision note after it gave up (journals
/// of older versions). Index lookups by task id only.
std::string half_done(const std::string& table);

} // namespace taskrt::detail

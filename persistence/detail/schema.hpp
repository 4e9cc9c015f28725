#pragma once
/// Schema migrations (private to taskrt_persistence).

#include "taskrt/persistence/detail/pqxx.hpp"

#include <vector>

namespace taskrt::detail {

/// The schema version this build migrates to (its newest migration).
int latest_schema_version();

/// The version of every migration of this build, oldest first (numbers
/// may skip: each change was given its own).
std::vector<int> schema_versions();

/// Applies every migration newer than the recorded schema version, up to
/// `up_to` (tests of a migration or of an upgrade start from an earlier
/// version), all in one transaction under an advisory lock, recording the
/// taskrt version that applied each. Throws, changing nothing, when the
/// journal is at a version newer than this build knows (migrated by a newer
/// taskrt): the message names both versions.
void apply_migrations(pqxx::connection_base& c, int up_to = 1 << 30);

/// The recorded schema version; 0 when the schema_version table is absent.
int current_schema_version(pqxx::connection_base& c);

} // namespace taskrt::detail

#pragma once
/// Schema migrations (private to taskrt_persistence).

#include "persistence/detail/pqxx.hpp"

namespace taskrt::detail {

/// Applies every migration newer than the recorded schema version, up to
/// `up_to` (tests of a migration start from the version before it), all in
/// one transaction under an advisory lock.
void apply_migrations(pqxx::connection_base& c, int up_to = 1 << 30);

/// The recorded schema version; 0 when the schema_version table is absent.
int current_schema_version(pqxx::connection_base& c);

} // namespace taskrt::detail

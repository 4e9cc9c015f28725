#pragma once
/// A seeded journal for the CLI tests: fixed timestamps so that the JSON the
/// CLI prints can be compared with expected values.

#include "taskrt/persistence/journal_store.hpp"

#include <cstdint>
#include <string>

namespace taskrt::test {

/// 2023-11-14T22:13:20Z, the submit time of every seeded task.
constexpr int64_t seed_t0 = 1'700'000'000'000'000;

/// The ids of the seeded tasks.
struct seeded {
  int64_t flaky = 0;    ///< "flaky": LOST (SIGSEGV), FAILED (std::runtime_error), SUCCEEDED
  int64_t charge1 = 0;  ///< "charge" in queue payments: FAILED, payments.PermanentError
  int64_t charge2 = 0;  ///< same as charge1
  int64_t mail = 0;     ///< "mail" in queue mail, lock inbox-7, priority 5: QUEUED
};

/// Writes the seeded journal into `store` (migrated, empty).
seeded seed_journal(journal_store& store);

} // namespace taskrt::test

// The journal contract suite against journal_store on a real Postgres
// (TASKRT_TEST_DSN, else a private cluster); each case on a fresh schema.
#define CONTRACT_TAG "[pg]"
#include "taskrt/persistence/journal_store.hpp"
#include "tests/contract/journal_contract.hpp"
#include "tests/pg/pg_fixture.hpp"

namespace taskrt::test {

contract_journal make_contract_journal(const std::string& name) {
  const auto dsn = fresh_schema_dsn(name);
  auto store = std::make_shared<journal_store>(dsn);
  store->migrate();
  return {journal_ports::of(store),
          [dsn] { return journal_ports::of(std::make_shared<journal_store>(dsn)); }};
}

} // namespace taskrt::test

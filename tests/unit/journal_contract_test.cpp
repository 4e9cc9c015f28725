// The journal contract suite against memory_journal: no Postgres.
#define CONTRACT_TAG "[memory]"
#include "taskrt/persistence/memory_journal.hpp"
#include "tests/contract/journal_contract.hpp"

namespace taskrt::test {

contract_journal make_contract_journal(const std::string&) {
  auto store = std::make_shared<memory_journal>();
  return {journal_ports::of(store), [store] { return journal_ports::of(store->connect()); }};
}

} // namespace taskrt::test

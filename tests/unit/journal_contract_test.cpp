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

TEST_CASE("memory_journal refuses a submit with parents as bad data: it does not model them",
          "[memory][unit]") {
  taskrt::memory_journal j;
  taskrt::transition_store_interface::batch b;
  taskrt::transition_store_interface::submit_item first, child;
  first.spec.name = "a";
  child.spec.name = "b";
  child.spec.after = {-1};
  b.submits = {first, child};
  CHECK_THROWS_WITH(j.commit(b), Catch::Contains("dependencies"));
  CHECK(j.list_tasks({}).empty()); // nothing of the batch was written
}

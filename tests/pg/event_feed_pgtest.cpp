// The event feed behind GET /api/v1/events against a real Postgres (a
// private cluster: no other test's commits wake it): with an open stream
// and an idle journal it sends no statement (the feed's counter and, seen
// from the server, its backend's pg_stat_activity.state_change stand still;
// the 100 ms poll before changed both ten times a second); a commit reaches
// the stream through the notification; and after its connection is killed
// (pg_terminate_backend) the events committed while it was gone, whose
// notifications nobody received, arrive once each.

#include "taskrt/http/event_feed.hpp"
#include "tests/pg/pg_fixture.hpp"
#include "tests/pg/store_helpers.hpp"

#include <pqxx/pqxx>

#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <thread>

using namespace taskrt;
using namespace taskrt::test;
using clock_type = std::chrono::steady_clock;

namespace {

/// What a stream_channel received, read as a client would.
struct reader {
  std::shared_ptr<http::stream_channel> ch = std::make_shared<http::stream_channel>();
  std::string text;

  /// True once an event of task `id` arrived (within `timeout`).
  bool wait_for_task(int64_t id, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = clock_type::now() + timeout;
    const std::string needle = "\"task_id\":" + std::to_string(id) + ",";
    while (text.find(needle) == std::string::npos) {
      if (clock_type::now() > deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      text += ch->take();
    }
    return true;
  }

  /// The SSE ids received, in order.
  std::vector<int64_t> ids() const {
    std::vector<int64_t> out;
    static const std::regex id_line{"\nid: ([0-9]+)\n"};
    for (std::sregex_iterator it{text.begin(), text.end(), id_line}, end; it != end; ++it)
      out.push_back(std::stoll((*it)[1]));
    return out;
  }
};

/// The feed's backend as the server sees it: pid and state_change (text).
std::pair<int, std::string> feed_backend(pqxx::connection& c) {
  pqxx::nontransaction tx{c};
  auto r = tx.exec("SELECT pid, state_change::text FROM pg_stat_activity"
                   " WHERE application_name = 'taskrt-event-feed'");
  if (r.empty())
    return {0, {}};
  return {r[0][0].as<int>(), r[0][1].as<std::string>()};
}

} // namespace

TEST_CASE("event feed: idle sends no statement, notified commits arrive, a killed "
          "connection loses nothing",
          "[pg][feed]") {
  private_postgres pg;
  journal_store s{pg.dsn()};
  s.migrate();
  pqxx::connection admin{pg.dsn()};

  http::event_feed feed{pg.dsn()};
  reader r;
  feed.subscribe(r.ch, {}, 0); // from the journal's start
  const auto a = submit_all(s, {"a"}).at(0);
  REQUIRE(r.wait_for_task(a));

  // Idle: one open stream, nothing commits. Let a pending barrier settle
  // first (its re-checks are bounded by 200 ms), then watch for 3 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto before = feed.statements();
  const auto backend = feed_backend(admin);
  REQUIRE(backend.first != 0);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto after = feed.statements();
  const auto backend_after = feed_backend(admin);
  INFO("feed statements " << before << " -> " << after << "; backend state_change "
                          << backend.second << " -> " << backend_after.second);
  CHECK(after == before);
  CHECK(backend_after == backend);

  // A commit wakes it: the event arrives through the notification.
  const auto t0 = clock_type::now();
  const auto b = submit_all(s, {"b"}).at(0);
  REQUIRE(r.wait_for_task(b));
  const auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
  WARN("commit -> event on the stream: " << ms << " ms; statements for it: "
                                         << feed.statements() - after);
  CHECK(ms < 2000); // sanity bound, not a target

  // Kill the feed's connection; commit while it is gone (it reconnects after
  // 1 s): those notifications reach no one, the read after reconnecting does.
  {
    pqxx::nontransaction tx{admin};
    REQUIRE(tx.exec1("SELECT pg_terminate_backend(" + std::to_string(backend.first) + ", 5000)")[0]
              .as<bool>());
  }
  const auto ids = submit_all(s, {"c", "d"});
  const bool feed_was_gone = feed_backend(admin).first == 0;
  CHECK(feed_was_gone); // the commits fell into the window without a LISTEN
  REQUIRE(r.wait_for_task(ids.at(0)));
  REQUIRE(r.wait_for_task(ids.at(1)));
  const auto again = feed_backend(admin);
  CHECK(again.first != 0);
  CHECK(again.first != backend.first);

  // Each event once, in the journal's order.
  const auto got = r.ids();
  REQUIRE(got.size() == 4); // a, b, c, d: one submit event each
  for (size_t i = 1; i < got.size(); ++i)
    CHECK(got[i] > got[i - 1]);
}

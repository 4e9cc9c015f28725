#include "taskrt/runtime/worker_wire.hpp"

#include <catch2/catch.hpp>

using namespace taskrt;
using namespace taskrt::wire;
using json = nlohmann::json;

namespace {

/// Encodes `msg`, checks it is one line, decodes it back.
template <class Msg>
from_process round_trip_from(const Msg& msg) {
  const auto line = encode(from_process{msg});
  REQUIRE(line.back() == '\n');
  REQUIRE(line.find('\n') == line.size() - 1);
  auto back = decode_from_process(std::string_view{line}.substr(0, line.size() - 1));
  INFO((back ? std::string{} : error_message(back.error())));
  REQUIRE(back);
  return *back;
}

template <class Msg>
to_process round_trip_to(const Msg& msg) {
  const auto line = encode(to_process{msg});
  REQUIRE(line.find('\n') == line.size() - 1);
  auto back = decode_to_process(std::string_view{line}.substr(0, line.size() - 1));
  INFO((back ? std::string{} : error_message(back.error())));
  REQUIRE(back);
  return *back;
}

} // namespace

TEST_CASE("worker wire: every command to the process survives encode and decode") {
  run_cmd r{42, 3, 2, (int64_t{7} << 32) | 9, "user.hello", R"({"a":"x\ny"})", R"({"step":1})",
            true};
  auto back = std::get<run_cmd>(round_trip_to(r));
  CHECK(back.task_id == 42);
  CHECK(back.attempt == 3);
  CHECK(back.task_attempt == 2);
  CHECK(back.lease_epoch == r.lease_epoch);
  CHECK(back.name == "user.hello");
  CHECK(back.args == r.args);
  CHECK(back.checkpoint == r.checkpoint);
  CHECK(back.last_attempt);
  CHECK(std::get<cancel_cmd>(round_trip_to(cancel_cmd{42})).task_id == 42);
  auto ok = std::get<submit_reply>(round_trip_to(submit_reply{5, true, 99, {}}));
  CHECK((ok.ok && ok.req == 5 && ok.id == 99));
  auto refused = std::get<submit_reply>(round_trip_to(submit_reply{6, false, 0, "no such task"}));
  CHECK((!refused.ok && refused.req == 6 && refused.error == "no such task"));
}

TEST_CASE("worker wire: every event from the process survives encode and decode") {
  CHECK(std::get<ready_evt>(round_trip_from(ready_evt{1234})).pid == 1234);
  auto note = std::get<attempt_note>(
    round_trip_from(attempt_note{true, 42, 3, 77, json{{"step", 2}}}));
  CHECK((note.checkpoint && note.task_id == 42 && note.attempt == 3 && note.lease_epoch == 77));
  CHECK(note.data == json{{"step", 2}});
  CHECK_FALSE(std::get<attempt_note>(round_trip_from(attempt_note{false, 1, 1, 1, 5})).checkpoint);
  submit_req s;
  s.req = 8;
  s.spec.name = "child";
  s.spec.args = R"({"n":1})";
  s.spec.queue = "q";
  s.spec.priority = -3;
  s.spec.lock = "l";
  s.spec.run_at_us = 123456789;
  s.spec.policy = R"({"retries":2})";
  s.spec.time_limit_s = 1.5;
  s.spec.parent_id = 42;
  auto sb = std::get<submit_req>(round_trip_from(s));
  CHECK(sb.req == 8);
  CHECK(sb.spec.name == "child");
  CHECK(sb.spec.args == s.spec.args);
  CHECK(sb.spec.queue == "q");
  CHECK(sb.spec.priority == -3);
  CHECK(sb.spec.lock == "l");
  CHECK(sb.spec.run_at_us == 123456789);
  CHECK(sb.spec.policy == s.spec.policy);
  CHECK(sb.spec.time_limit_s == 1.5);
  CHECK(sb.spec.parent_id == 42);
  done_evt d{42, 3, 77, "succeeded", json{{"started_us", 5}}, json{}};
  auto db = std::get<done_evt>(round_trip_from(d));
  CHECK((db.task_id == 42 && db.attempt == 3 && db.lease_epoch == 77));
  CHECK(db.outcome == "succeeded");
  CHECK(db.result == d.result);
  CHECK(db.error.is_null());
  done_evt f{1, 1, 1, "failed", json{}, json{{"kind", "k"}, {"ancestors", json::array()},
                                              {"message", "m"}}};
  auto fb = std::get<done_evt>(round_trip_from(f));
  CHECK(fb.result.is_null());
  CHECK(fb.error == f.error);
}

TEST_CASE("worker wire: a line of the wrong shape is refused with a reason, never thrown") {
  // The refusal's message, or "" when the line decoded.
  auto why = [](const auto& r) { return r ? std::string{} : error_message(r.error()); };
  auto code = [](const auto& r) { return r ? 0 : taskrt_code(r.error()); };
  CHECK(why(decode_from_process("not json")) == "not a JSON object");
  CHECK(code(decode_from_process("not json")) == static_cast<uint8_t>(errc::bad_request));
  CHECK(why(decode_from_process(R"({"task_id":1})")) == "no \"op\"");
  CHECK(why(decode_from_process(R"({"op":"explode"})")).find("explode") != std::string::npos);
  CHECK_FALSE(why(decode_from_process(R"({"op":"done","task_id":"one"})")).empty());
  CHECK_FALSE(why(decode_from_process(R"({"op":"submit","req":1})")).empty()); // no spec
  CHECK_FALSE(why(decode_to_process(R"({"op":"run","attempt":1})")).empty()); // no task_id
  CHECK_FALSE(why(decode_to_process(R"({"op":"submitted","req":1})")).empty()); // no id
  CHECK_FALSE(why(decode_to_process("[1,2]")).empty());
}

TEST_CASE("worker wire: the splitter returns whole lines across reads, several per read") {
  line_splitter s;
  std::string line;
  const auto two = encode(from_process{done_evt{1, 1, 1, "succeeded", 1, {}}})
                   + encode(from_process{ready_evt{9}});
  s.feed(two.data(), 10);
  CHECK_FALSE(s.next(line));
  s.feed(two.data() + 10, two.size() - 10);
  REQUIRE(s.next(line));
  CHECK(std::holds_alternative<done_evt>(*decode_from_process(line)));
  REQUIRE(s.next(line));
  CHECK(std::get<ready_evt>(*decode_from_process(line)).pid == 9);
  CHECK_FALSE(s.next(line));
  s.feed("{\"op\":\"ready\"}\n{\"op\"", 20);
  REQUIRE(s.next(line));
  CHECK(line == "{\"op\":\"ready\"}");
  CHECK_FALSE(s.next(line));
  s.feed(":\"ready\"}\n", 10);
  REQUIRE(s.next(line));
  CHECK(line == "{\"op\":\"ready\"}");
}

#include "actors/worker_process.hpp"

#include "runtime/limits.hpp"
#include "runtime/task_error.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <sys/prctl.h>
#include <unistd.h>

namespace taskrt {

namespace {

using json = nlohmann::json;

/// Writes whole lines to the event fd; safe from any thread.
class line_writer {
public:
  void write(const json& j) {
    auto line = j.dump() + "\n";
    std::lock_guard<std::mutex> guard{mtx_};
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
      auto n = ::write(worker_out_fd, p, left);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        _exit(0); // the node is gone
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }

private:
  std::mutex mtx_;
};

/// Shared between the reader thread and the task thread.
struct shared_state {
  line_writer out;
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<json> runs;
  std::atomic<int64_t> current_task{0};
  std::atomic<bool> cancel{false};
  /// Why a progress or checkpoint value of the current attempt was refused
  /// (the attempt then ends FAILED with taskrt.bad_result); guarded by mtx.
  std::string bad_value;
  int64_t next_req = 1;
  std::map<int64_t, std::promise<json>> pending_submits;
};

class context_impl : public task_context {
public:
  context_impl(shared_state& st, const json& run) : st_(st), run_(run) {
    auto cp = run.value("checkpoint", std::string{});
    if (!cp.empty())
      checkpoint_ = json::parse(cp, nullptr, false);
  }

  int64_t task_id() const override { return run_.at("task_id").get<int64_t>(); }

  int32_t attempt() const override {
    return run_.value("task_attempt", lease_attempt());
  }

  bool is_last_attempt() const override {
    return run_.value("last_attempt", false);
  }

  bool cancelled() const override { return st_.cancel.load(); }

  void progress(const json& info) override {
    refuse_if_bad(info, "progress");
    st_.out.write(envelope("progress", info));
  }

  void save_checkpoint(const json& data) override {
    refuse_if_bad(data, "checkpoint");
    checkpoint_ = data;
    st_.out.write(envelope("checkpoint", data));
  }

  std::optional<json> load_checkpoint() const override {
    if (checkpoint_.is_discarded() || checkpoint_.is_null())
      return std::nullopt;
    return checkpoint_;
  }

  int64_t submit(const task_spec& child) override {
    if (auto e = check_task_spec(child))
      throw task_error{"taskrt.bad_request", "child task: " + *e};
    std::future<json> reply;
    int64_t req;
    {
      std::lock_guard<std::mutex> guard{st_.mtx};
      req = st_.next_req++;
      reply = st_.pending_submits[req].get_future();
    }
    json spec = {{"name", child.name},         {"args", child.args},
                 {"queue", child.queue},       {"priority", child.priority},
                 {"lock", child.lock},         {"run_at_us", child.run_at_us},
                 {"policy", child.policy},     {"time_limit_s", child.time_limit_s},
                 {"parent_id", task_id()}};
    st_.out.write({{"op", "submit"}, {"req", req}, {"spec", spec}});
    if (reply.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
      throw task_error{"taskrt.submit_timeout",
                       "child task submit got no reply within 60 s"};
    auto r = reply.get();
    if (r.value("op", "") != "submitted")
      throw task_error{"taskrt.submit_failed", r.value("error", "submit failed")};
    return r.at("id").get<int64_t>();
  }

private:
  /// A value that breaks the limits ends the attempt FAILED
  /// (taskrt.bad_result), whatever the task does with the exception.
  void refuse_if_bad(const json& value, const char* what) {
    auto e = check_json_value(value, what);
    if (!e)
      return;
    {
      std::lock_guard<std::mutex> guard{st_.mtx};
      if (st_.bad_value.empty())
        st_.bad_value = *e;
    }
    throw task_error{bad_result_kind, *e};
  }

  /// The attempt number of the lease (what the worker actor matches on).
  int32_t lease_attempt() const { return run_.at("attempt").get<int32_t>(); }

  json envelope(const char* op, const json& data) const {
    return {{"op", op},
            {"task_id", task_id()},
            {"attempt", lease_attempt()},
            {"lease_epoch", run_.value("lease_epoch", int64_t{0})},
            {"data", data}};
  }

  shared_state& st_;
  const json& run_;
  json checkpoint_;
};

void reader_loop(shared_state& st) {
  std::string buf;
  char chunk[4096];
  for (;;) {
    auto n = ::read(worker_in_fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(0); // node closed the pipe: nothing more to do here
    buf.append(chunk, static_cast<size_t>(n));
    size_t pos;
    while ((pos = buf.find('\n')) != std::string::npos) {
      auto line = buf.substr(0, pos);
      buf.erase(0, pos + 1);
      auto msg = json::parse(line, nullptr, false);
      if (msg.is_discarded())
        continue;
      auto op = msg.value("op", "");
      if (op == "run") {
        std::lock_guard<std::mutex> guard{st.mtx};
        st.runs.push_back(std::move(msg));
        st.cv.notify_one();
      } else if (op == "cancel") {
        if (msg.value("task_id", int64_t{0}) == st.current_task.load())
          st.cancel = true;
      } else if (op == "submitted" || op == "submit_failed") {
        std::lock_guard<std::mutex> guard{st.mtx};
        auto i = st.pending_submits.find(msg.value("req", int64_t{0}));
        if (i != st.pending_submits.end()) {
          i->second.set_value(msg);
          st.pending_submits.erase(i);
        }
      }
    }
  }
}

/// `s` with invalid UTF-8 bytes and NULs replaced, so an error message
/// (which may quote binary data) can always be sent and journaled.
std::string storable(const std::string& s) {
  if (valid_utf8(s) && s.find('\0') == std::string::npos)
    return s;
  std::string out;
  for (unsigned char c : s)
    out += (c == 0 || c >= 0x80) ? '?' : static_cast<char>(c);
  return out;
}

json run_one(shared_state& st, const task_registry& registry, const json& run) {
  json done = {{"op", "done"},
               {"task_id", run.at("task_id")},
               {"attempt", run.at("attempt")},
               {"lease_epoch", run.value("lease_epoch", int64_t{0})}};
  const auto name = run.value("name", "");
  const auto* def = registry.find(name);
  auto fail = [&](const error_info& e) {
    done["outcome"] = st.cancel ? "cancelled" : "failed";
    std::vector<std::string> ancestors;
    for (const auto& a : e.ancestors)
      ancestors.push_back(storable(a));
    done["error"] = {{"kind", storable(e.kind)},
                     {"ancestors", ancestors},
                     {"message", storable(e.message)}};
  };
  if (!def) {
    fail({bad_task_kind, {}, "task '" + name + "' is not registered on this worker", {}});
    return done;
  }
  auto args = json::parse(run.value("args", "{}"), nullptr, false);
  if (args.is_discarded()) {
    fail({bad_task_kind, {}, "task arguments are not valid JSON", {}});
    return done;
  }
  context_impl ctx{st, run};
  try {
    auto result = def->fn(ctx, args);
    if (auto e = check_json_value(result, "result")) {
      fail({bad_result_kind, {}, *e, {}});
    } else {
      done["outcome"] = st.cancel ? "cancelled" : "succeeded";
      done["result"] = std::move(result);
    }
  } catch (...) {
    fail(classify_exception(std::current_exception()));
  }
  std::lock_guard<std::mutex> guard{st.mtx};
  if (!st.bad_value.empty()) // refused progress/checkpoint: the task may have caught it
    fail({bad_result_kind, {}, st.bad_value, {}});
  st.bad_value.clear();
  return done;
}

} // namespace

int run_worker_process(const task_registry& registry) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL); // never outlive the node
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_IGN); // a terminal Ctrl-C is for the node, not us
  shared_state st;
  std::thread reader{[&st] { reader_loop(st); }};
  reader.detach();
  st.out.write({{"op", "ready"}, {"pid", static_cast<int64_t>(::getpid())}});
  for (;;) {
    json run;
    {
      std::unique_lock<std::mutex> guard{st.mtx};
      st.cv.wait(guard, [&] { return !st.runs.empty(); });
      run = std::move(st.runs.front());
      st.runs.pop_front();
    }
    st.cancel = false;
    st.current_task = run.value("task_id", int64_t{0});
    auto done = run_one(st, registry, run);
    st.current_task = 0;
    st.out.write(done);
    st.out.write({{"op", "ready"}, {"pid", static_cast<int64_t>(::getpid())}});
  }
}

} // namespace taskrt

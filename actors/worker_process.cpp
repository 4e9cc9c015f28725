#include "taskrt/actors/worker_process.hpp"

#include "taskrt/actors/crash_report.hpp"

#include "taskrt/runtime/lease.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/task_error.hpp"
#include "taskrt/runtime/worker_wire.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
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
  void write(const wire::from_process& msg) { write_raw(wire::encode(msg)); }

  /// Writes one or more whole lines with one write(2) (one wake-up of the
  /// reader on the other end).
  void write_raw(const std::string& line) {
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
  std::deque<wire::run_cmd> runs;
  std::atomic<int64_t> current_task{0};
  std::atomic<bool> cancel{false};
  /// Why a progress or checkpoint value of the current attempt was refused
  /// (the attempt then ends FAILED with taskrt.bad_result); guarded by mtx.
  std::string bad_value;
  int64_t next_req = 1;
  std::map<int64_t, std::promise<wire::submit_reply>> pending_submits;
  /// The lease this process runs under (renewals from the node), guarded by
  /// lease_mtx; lease_cv wakes the watchdog thread.
  std::mutex lease_mtx;
  std::condition_variable lease_cv;
  lease::watchdog dog;
};

/// The lease ran out: the task may not run on, whatever it is doing. Only
/// async-signal-safe calls (another thread runs user code).
[[noreturn]] void fence_self() {
  static const char msg[] = "taskrt worker-process: lease not renewed (node stopped, hung or "
                            "cut off from the head): exiting with the task\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  ::_exit(lease::fenced_exit_code);
}

/// The watchdog thread: on its own monotonic timer, whatever the node does
/// (it may be the thing that is stopped), it ends the process once the
/// running attempt's lease is over but for the margin.
void watchdog_loop(shared_state& st) {
  std::unique_lock<std::mutex> guard{st.lease_mtx};
  for (;;) {
    const auto d = st.dog.check(lease::mono_ns(), st.current_task.load() != 0);
    if (d.fence)
      fence_self();
    st.lease_cv.wait_for(guard, std::chrono::nanoseconds(d.wait_ns));
  }
}

class context_impl : public task_context {
public:
  context_impl(shared_state& st, const wire::run_cmd& run) : st_(st), run_(run) {
    if (!run.checkpoint.empty())
      checkpoint_ = json::parse(run.checkpoint, nullptr, false);
  }

  int64_t task_id() const override { return run_.task_id; }

  int32_t attempt() const override { return run_.task_attempt; }

  bool is_last_attempt() const override { return run_.last_attempt; }

  bool cancelled() const override { return st_.cancel.load(); }

  void progress(const json& info) override {
    refuse_if_bad(info, "progress");
    st_.out.write(note(false, info));
  }

  void save_checkpoint(const json& data) override {
    refuse_if_bad(data, "checkpoint");
    checkpoint_ = data;
    st_.out.write(note(true, data));
  }

  json parents() const override {
    if (run_.parents.empty())
      return json::array();
    auto j = json::parse(run_.parents, nullptr, false);
    return j.is_array() ? j : json::array();
  }

  std::optional<json> load_checkpoint() const override {
    if (checkpoint_.is_discarded() || checkpoint_.is_null())
      return std::nullopt;
    return checkpoint_;
  }

  int64_t submit(const task_spec& child) override {
    if (auto e = check_task_spec(child))
      throw task_error{"taskrt.bad_request", "child task: " + *e};
    std::future<wire::submit_reply> reply;
    int64_t req;
    {
      std::lock_guard<std::mutex> guard{st_.mtx};
      req = st_.next_req++;
      reply = st_.pending_submits[req].get_future();
    }
    wire::submit_req msg{req, child};
    msg.spec.parent_id = task_id();
    st_.out.write(msg);
    if (reply.wait_for(std::chrono::seconds(60)) != std::future_status::ready)
      throw task_error{"taskrt.submit_timeout",
                       "child task submit got no reply within 60 s"};
    auto r = reply.get();
    if (!r.ok)
      throw task_error{"taskrt.submit_failed", r.error};
    return r.id;
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

  wire::attempt_note note(bool checkpoint, const json& data) const {
    return {checkpoint, run_.task_id, run_.attempt, run_.lease_epoch, data};
  }

  shared_state& st_;
  const wire::run_cmd& run_;
  json checkpoint_;
};

void on_command(shared_state& st, wire::to_process& msg) {
  if (auto* run = std::get_if<wire::run_cmd>(&msg)) {
    std::lock_guard<std::mutex> guard{st.mtx};
    st.runs.push_back(std::move(*run));
    st.cv.notify_one();
  } else if (auto* c = std::get_if<wire::cancel_cmd>(&msg)) {
    if (c->task_id == st.current_task.load())
      st.cancel = true;
  } else if (auto* l = std::get_if<wire::lease_cmd>(&msg)) {
    std::lock_guard<std::mutex> guard{st.lease_mtx};
    st.dog.renew(l->end_ns, l->margin_ns);
    st.lease_cv.notify_one();
  } else if (auto* r = std::get_if<wire::submit_reply>(&msg)) {
    std::lock_guard<std::mutex> guard{st.mtx};
    auto i = st.pending_submits.find(r->req);
    if (i != st.pending_submits.end()) {
      i->second.set_value(std::move(*r));
      st.pending_submits.erase(i);
    }
  }
}

void reader_loop(shared_state& st) {
  wire::line_splitter lines;
  std::string line;
  char chunk[8192];
  for (;;) {
    auto n = ::read(worker_in_fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(0); // node closed the pipe: nothing more to do here
    lines.feed(chunk, static_cast<size_t>(n));
    while (lines.next(line))
      if (auto msg = wire::decode_to_process(line))
        on_command(st, *msg);
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

wire::done_evt run_one(shared_state& st, const task_registry& registry,
                       const wire::run_cmd& run) {
  wire::done_evt done;
  done.task_id = run.task_id;
  done.attempt = run.attempt;
  done.lease_epoch = run.lease_epoch;
  const auto& name = run.name;
  const auto* def = registry.find(name);
  auto fail = [&](const error_info& e) {
    done.outcome = st.cancel ? "cancelled" : "failed";
    done.result = json{};
    std::vector<std::string> ancestors;
    for (const auto& a : e.ancestors)
      ancestors.push_back(storable(a));
    done.error = {{"kind", storable(e.kind)},
                  {"ancestors", ancestors},
                  {"message", storable(e.message)}};
  };
  if (!def) {
    fail({bad_task_kind, {}, "task '" + name + "' is not registered on this worker", {}});
    return done;
  }
  auto args = json::parse(run.args, nullptr, false);
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
      done.outcome = st.cancel ? "cancelled" : "succeeded";
      done.result = std::move(result);
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
  install_crash_handlers(); // a crash leaves its stack for the node (fd 5)
  shared_state st;
  std::thread reader{[&st] { reader_loop(st); }};
  reader.detach();
  std::thread{[&st] { watchdog_loop(st); }}.detach();
  const wire::ready_evt ready{static_cast<int64_t>(::getpid())};
  st.out.write(ready);
  for (;;) {
    wire::run_cmd run;
    {
      std::unique_lock<std::mutex> guard{st.mtx};
      st.cv.wait(guard, [&] { return !st.runs.empty(); });
      run = std::move(st.runs.front());
      st.runs.pop_front();
    }
    st.cancel = false;
    {
      // No user code starts without a lease in force; the watchdog takes
      // over from here (woken, so it waits for this lease, not an old wait).
      std::lock_guard<std::mutex> guard{st.lease_mtx};
      if (st.dog.armed() && lease::mono_ns() >= st.dog.fence_at())
        fence_self();
      st.current_task = run.task_id;
      st.lease_cv.notify_one();
    }
    auto done = run_one(st, registry, run);
    st.current_task = 0;
    st.out.write_raw(wire::encode(done) + wire::encode(ready)); // one write, one wake-up
  }
}

} // namespace taskrt

#pragma once
/// The feed behind GET /api/v1/events: journal events as Server-Sent
/// Events, in the journal's order (event id), each once, resumable from
/// Last-Event-ID for as long as the journal keeps the event (retention).
///
/// One thread reads the journal for every subscriber, only while there are
/// subscribers; streams hold no thread (they are stream_channels the HTTP
/// front writes as each client takes them). The feed reads only events
/// whose ids are settled: ids come from a sequence and two lanes commit at
/// once, so id N+1 may commit before id N. A barrier (the sequence's value
/// and the snapshot's xmax) is settled once every transaction running when
/// it was taken has ended; events up to it can no longer appear, so a
/// client that resumes after id N never misses one. Delay: a poll and the
/// settling (100-200 ms) plus the commits in flight.
///
///   event: transition   (notes too with notes=1: event: note)
///   id: EVENT_ID
///   data: {"id", "task_id", "name", "at", "attempt", "kind", "from", "to", "node", "detail"}

#include "http/health_server.hpp"
#include "persistence/access_store.hpp"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace taskrt::http {

/// Which events a subscriber gets.
struct feed_filter {
  int64_t task_id = 0;          ///< 0: all tasks
  std::set<std::string> states; ///< the state a transition goes to; empty: all
  std::string name;             ///< the task's name; empty: all
  bool notes = false;           ///< also events without a state change
};

/// The journal feed of one head.
class event_feed {
public:
  /// Reads the journal at `dsn`; polls every `poll` while anyone listens.
  explicit event_feed(std::string dsn,
                      std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  ~event_feed();
  event_feed(const event_feed&) = delete;
  event_feed& operator=(const event_feed&) = delete;

  /// Sends the events after `after_id` (-1: from now on) matching `f` to
  /// `out` until it closes.
  void subscribe(std::shared_ptr<stream_channel> out, feed_filter f, int64_t after_id);

  /// Open streams.
  size_t subscribers() const;

  /// Stops the thread and closes every stream.
  void stop();

private:
  struct subscriber {
    std::shared_ptr<stream_channel> out;
    feed_filter filter;
    int64_t cursor = -1; ///< last event id sent (or skipped); -1: from the live end
  };

  void loop();
  /// Sends `events` past each subscriber's cursor that it wants.
  void deliver(subscriber& s, const std::vector<feed_event>& events, int64_t up_to);

  std::string dsn_;
  std::chrono::milliseconds poll_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<subscriber> incoming_; ///< subscribed since the last round
  size_t count_ = 0;
  std::thread thread_;
};

} // namespace taskrt::http

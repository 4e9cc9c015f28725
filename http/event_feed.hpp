#pragma once
/// The feed behind GET /api/v1/events: journal events as Server-Sent
/// Events, in the journal's order (event id), each once, resumable from
/// Last-Event-ID for as long as the journal keeps the event (retention).
///
/// One thread reads the journal for every subscriber, and holds a connection
/// (LISTENing) only while there are
/// subscribers; streams hold no thread (they are stream_channels the HTTP
/// front writes as each client takes them). Nothing polls: the thread
/// LISTENs on the channel that a statement-level trigger on task_events
/// notifies at each commit that inserted events (migration 13; a group
/// commit is one notification), and reads only when notified, when a
/// subscriber arrives, or after (re)connecting. Idle (no notification,
/// no barrier pending, every subscriber caught up), it blocks on the
/// connection's socket and sends no statement; it wakes at most every 15 s,
/// without a query, to write the keepalive comment and to see stop() (an
/// eventfd wakes it at once for stop() and new subscribers) and a lost
/// connection (TCP keepalives report a dead server).
///
/// The feed reads only events whose ids are settled: ids come from a
/// sequence and two lanes commit at once, so id N+1 may commit before id N.
/// A barrier is the sequence's value and the transactions that had drawn
/// ids from it and were still running (each holds a lock on the sequence
/// until it ends, xid or not: pg_locks); it is settled once they have all
/// ended. Events up to it can no longer appear, so a client that resumes
/// after id N never misses one. After a notification the thread takes a
/// barrier; with nothing in flight it is settled at once and the thread
/// reads. Else it waits for those known in-flight transactions: it
/// re-checks the barrier (one small query) after `recheck` (default 5 ms),
/// doubling up to 200 ms while the same barrier stays pending, or sooner
/// when a notification arrives. That timer runs only while a barrier is
/// pending; it never reads an idle journal. Delay of an event: its
/// notification, the barrier, the read (a few ms), plus any transaction
/// that had drawn an id and was in flight when it committed.
///
/// A lost connection: the thread reconnects (after 1 s, while it fails),
/// LISTENs again and reads from each subscriber's cursor, so events whose
/// notifications were lost while it was disconnected are sent all the same.
///
///   event: transition   (notes too with notes=1: event: note)
///   id: EVENT_ID
///   data: {"id", "task_id", "name", "at", "attempt", "kind", "from", "to", "node", "detail"}

#include "taskrt/http/health_server.hpp"
#include "taskrt/persistence/access_store.hpp"

#include <atomic>
#include <chrono>
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
  /// Reads the journal at `dsn` when it announces events; re-checks a
  /// pending barrier after `recheck` (doubling up to 200 ms).
  explicit event_feed(std::string dsn,
                      std::chrono::milliseconds recheck = std::chrono::milliseconds(5));
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

  /// Statements the feed has sent to Postgres so far (for tests: an idle
  /// feed sends none).
  uint64_t statements() const;

private:
  struct subscriber {
    std::shared_ptr<stream_channel> out;
    feed_filter filter;
    int64_t cursor = -1; ///< last event id sent (or skipped); -1: from the live end
  };

  void loop();
  /// Wakes the thread if it waits on the journal's socket.
  void wake();
  /// Sends `events` past each subscriber's cursor that it wants.
  void deliver(subscriber& s, const std::vector<feed_event>& events, int64_t up_to);

  std::string dsn_;
  std::chrono::milliseconds recheck_;
  int wake_fd_ = -1; ///< an eventfd: subscribe() and stop() write it
  std::atomic<uint64_t> statements_{0};
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<subscriber> incoming_; ///< subscribed since the last round
  size_t count_ = 0;
  std::thread thread_;
};

} // namespace taskrt::http

/// `taskrt limits set|list|describe|delete`: rate and concurrency limits per
/// key, kept in Postgres (persistence/limit_store); the active head is told
/// of every change by the commit's NOTIFY and applies it at once.

#include "taskrt/cli/commands.hpp"

#include "taskrt/cli/cli_store.hpp"
#include "taskrt/cli/output.hpp"
#include "taskrt/persistence/limit_store.hpp"
#include "taskrt/persistence/store_result.hpp"
#include "taskrt/runtime/limits.hpp"
#include "taskrt/runtime/time.hpp"
#include "taskrt/sched/limit_gate.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <memory>

namespace taskrt::cli {

namespace {

using json = nlohmann::json;

struct limit_args {
  common_opts o;
  std::string key, rate;
  double burst = 0;
  int32_t concurrency = 0;
};

json row_json(const limit_row& r) {
  json j = json::object();
  j["key"] = r.key;
  j["rate"] = r.rate_per_s > 0 ? json(sched::format_rate(r.rate_per_s)) : json(nullptr);
  j["rate_per_s"] = r.rate_per_s > 0 ? json(r.rate_per_s) : json(nullptr);
  const bool whole = std::floor(r.burst) == r.burst;
  j["burst"] = r.rate_per_s <= 0 ? json(nullptr)
               : whole           ? json(static_cast<int64_t>(r.burst))
                                 : json(r.burst);
  j["concurrency"] = r.concurrency > 0 ? json(r.concurrency) : json(nullptr);
  j["updated_at"] = to_rfc3339(from_micros(r.updated_us));
  return j;
}

/// Runs `f` with the store of the options' DSN; errors exit 1.
template <class F>
void with_store(const common_opts& o, cli_env& env, F&& f) {
  auto dsn = store_dsn(o, env.exit_code);
  if (dsn.empty())
    return;
  const auto done = store_call([&] { f(limit_store{dsn}); });
  if (!done) {
    if (store_table_missing(done.error()))
      env.exit_code = fail(failed, "the journal has no limits table yet: start a head of this "
                                   "version once (it migrates the journal)");
    else
      env.exit_code = fail(failed, store_message(done.error()));
  }
}

void add_key(CLI::App* cmd, limit_args& a) {
  cmd->add_option("KEY", a.key, "The limit key (as tasks carry it: --limit KEY)")->required();
}

} // namespace

void add_limits_command(CLI::App& app, cli_env& env) {
  auto* limits_cmd = app.add_subcommand("limits", "Rate and concurrency limits per key");
  limits_cmd->require_subcommand(1);
  limits_cmd->footer(R"(A task carries limit keys (submit --limit KEY, its registration's defaults,
templates such as tenant:{args.tenant}). The active head starts a task only
when every key it carries has a token (rate) and a free place (concurrency);
tasks over a limit stay QUEUED and never fail. Limits live in Postgres; a
change applies at once on the active head.
Examples:
  taskrt limits set api.github --rate 20/s --burst 5
  taskrt limits set tenant:acme --concurrency 3
  taskrt limits list
  taskrt limits describe api.github
  taskrt limits delete api.github)");

  auto s = std::make_shared<limit_args>();
  auto* set = limits_cmd->add_subcommand("set", "Set (or replace) the limit of a key");
  add_key(set, *s);
  set->add_option("--rate", s->rate, "Tokens per second, minute or hour: N/s, N/m, N/h");
  set->add_option("--burst", s->burst, "Tokens the bucket holds at most (default 1)");
  set->add_option("--concurrency", s->concurrency, "RUNNING tasks with the key at most");
  add_db_options(set, s->o);
  set->callback([&env, s] {
    limit_row r;
    r.key = s->key;
    if (auto e = check_name(r.key, "KEY", true)) {
      env.exit_code = fail(usage, *e);
      return;
    }
    if (s->rate.empty() && s->concurrency == 0) {
      env.exit_code = fail(usage, "give --rate, --concurrency or both");
      return;
    }
    if (!s->rate.empty()) {
      auto rate = sched::parse_rate(s->rate);
      if (!rate) {
        env.exit_code = fail(usage, "--rate '" + s->rate
                                      + "': expected N/s, N/m or N/h with N > 0 (e.g. 20/s)");
        return;
      }
      r.rate_per_s = *rate;
    }
    if (s->burst != 0 && s->rate.empty()) {
      env.exit_code = fail(usage, "--burst needs --rate");
      return;
    }
    if (s->burst != 0 && (!std::isfinite(s->burst) || s->burst < 1 || s->burst > 1e9)) {
      env.exit_code = fail(usage, "--burst must be between 1 and 1e9");
      return;
    }
    r.burst = s->burst != 0 ? s->burst : 1;
    if (s->concurrency < 0) {
      env.exit_code = fail(usage, "--concurrency must be at least 1");
      return;
    }
    r.concurrency = s->concurrency;
    with_store(s->o, env, [&](const limit_store& st) {
      st.set(r);
      std::printf("limit %s set:", r.key.c_str());
      if (r.rate_per_s > 0)
        std::printf(" rate %s burst %g", sched::format_rate(r.rate_per_s).c_str(), r.burst);
      if (r.concurrency > 0)
        std::printf(" concurrency %d", r.concurrency);
      std::printf("\n");
      env.exit_code = ok;
    });
  });

  auto l = std::make_shared<limit_args>();
  auto* list = limits_cmd->add_subcommand("list", "Every limit");
  add_output_option(list, l->o.output);
  add_db_options(list, l->o);
  list->callback([&env, l] {
    with_store(l->o, env, [&](const limit_store& st) {
      json rows = json::array();
      for (const auto& r : st.list())
        rows.push_back(row_json(r));
      static const std::vector<column> cols{{"KEY", "key"},
                                            {"RATE", "rate"},
                                            {"BURST", "burst"},
                                            {"CONCURRENCY", "concurrency"},
                                            {"UPDATED", "updated_at", true}};
      print_list(rows, cols, parse_output(l->o.output), "");
      env.exit_code = ok;
    });
  });

  auto d = std::make_shared<limit_args>();
  auto* describe = limits_cmd->add_subcommand("describe", "One limit and its tasks");
  add_key(describe, *d);
  add_output_option(describe, d->o.output);
  add_db_options(describe, d->o);
  describe->callback([&env, d] {
    with_store(d->o, env, [&](const limit_store& st) {
      auto r = st.get(d->key);
      const auto [queued, running] = st.tasks_of(d->key);
      json j = r ? row_json(*r) : json{{"key", d->key}, {"rate", nullptr},
                                       {"burst", nullptr}, {"concurrency", nullptr}};
      j["limited"] = r.has_value();
      j["queued"] = queued;
      j["running"] = running;
      if (d->o.output == "table" || d->o.output == "wide") {
        std::printf("limit %s\n", d->key.c_str());
        if (!r)
          std::printf("  no limit set (tasks with this key only take turns with other keys)\n");
        if (r && r->rate_per_s > 0)
          std::printf("  rate %s  burst %g\n", sched::format_rate(r->rate_per_s).c_str(),
                      r->burst);
        if (r && r->concurrency > 0)
          std::printf("  concurrency %d\n", r->concurrency);
        std::printf("  tasks: %lld QUEUED, %lld RUNNING\n", static_cast<long long>(queued),
                    static_cast<long long>(running));
        if (r)
          std::printf("  updated %s\n", j["updated_at"].get<std::string>().c_str());
      } else {
        print_doc(j, parse_output(d->o.output));
      }
      env.exit_code = ok;
    });
  });

  auto x = std::make_shared<limit_args>();
  auto* del = limits_cmd->add_subcommand("delete", "Delete the limit of a key");
  add_key(del, *x);
  add_db_options(del, x->o);
  del->callback([&env, x] {
    with_store(x->o, env, [&](const limit_store& st) {
      if (!st.remove(x->key)) {
        env.exit_code = fail(failed, "no limit is set for '" + x->key + "'");
        return;
      }
      std::printf("limit %s deleted\n", x->key.c_str());
      env.exit_code = ok;
    });
  });
}

} // namespace taskrt::cli

#include "taskrt/cli/commands.hpp"

#include "taskrt/cli/access_commands.hpp"
#include "taskrt/cli/cluster_commands.hpp"
#include "taskrt/cli/inspect_commands.hpp"
#include "taskrt/cli/runtime_commands.hpp"
#include "taskrt/cli/tasks_command.hpp"

namespace taskrt::cli {

void add_all_commands(CLI::App& app, cli_env& env) {
  add_start_command(app, env);
  add_stop_command(app, env);
  add_up_command(app, env);
  add_down_command(app, env);
  add_db_command(app, env);
  add_submit_command(app, env);
  add_status_command(app, env);
  add_nodes_command(app, env);
  add_tasks_command(app, env);
  add_summary_command(app, env);
  add_retry_plan_command(app, env);
  add_schedules_command(app, env);
  add_schedule_plan_command(app, env);
  add_limits_command(app, env);
  add_certs_command(app, env);
  add_tokens_command(app, env);
  add_dashboard_command(app, env);
  add_worker_process_command(app, env);
}

} // namespace taskrt::cli

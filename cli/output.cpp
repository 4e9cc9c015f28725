#include "taskrt/cli/output.hpp"

#include "taskrt/cli/table.hpp"
#include "taskrt/cli/yaml.hpp"

#include <cstdio>

namespace taskrt::cli {

using json = nlohmann::json;

CLI::Option* add_output_option(CLI::App* cmd, std::string& out) {
  return cmd
    ->add_option("-o,--output", out,
                 "table, wide (every column), json or yaml (json/yaml for scripts)")
    ->check(CLI::IsMember({"table", "wide", "json", "yaml"}))
    ->capture_default_str();
}

output_format parse_output(const std::string& name) {
  if (name == "wide")
    return output_format::wide;
  if (name == "json")
    return output_format::json;
  if (name == "yaml")
    return output_format::yaml;
  return output_format::table;
}

std::string cell(const json& v) {
  if (v.is_null())
    return "-";
  if (v.is_string())
    return v.get<std::string>();
  return v.dump();
}

void print_list(const json& rows, const std::vector<column>& cols, output_format f,
                const std::string& state_field) {
  if (f == output_format::json) {
    std::printf("%s\n", rows.dump(2).c_str());
    return;
  }
  if (f == output_format::yaml) {
    std::fputs(to_yaml(rows).c_str(), stdout);
    return;
  }
  table t;
  std::vector<const column*> shown;
  for (const auto& c : cols)
    if (!c.wide_only || f == output_format::wide) {
      if (c.field == state_field)
        t.state_column = static_cast<int>(shown.size());
      shown.push_back(&c);
      t.header.push_back(c.header);
    }
  for (const auto& r : rows) {
    std::vector<std::string> line;
    for (const auto* c : shown)
      line.push_back(r.contains(c->field) ? cell(r[c->field]) : "-");
    t.rows.push_back(std::move(line));
  }
  t.print(f == output_format::wide ? 0 : terminal_width(), use_colour());
}

void print_doc(const json& doc, output_format f) {
  if (f == output_format::yaml)
    std::fputs(to_yaml(doc).c_str(), stdout);
  else
    std::printf("%s\n", doc.dump(2).c_str());
}

} // namespace taskrt::cli

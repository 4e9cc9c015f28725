#pragma once
/// The shared output layer of list-like commands: commands fetch rows as JSON
/// objects (the stable, documented shape) and this layer formats them as a
/// table (-o table), a table with every column (-o wide), JSON or YAML.

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace taskrt::cli {

/// One output format of -o/--output.
enum class output_format { table, wide, json, yaml };

/// A table column: its header, the JSON field it shows, and whether only
/// `-o wide` shows it.
struct column {
  std::string header;
  std::string field;
  bool wide_only = false;
};

/// Adds "-o,--output table|wide|json|yaml" (default table) to `cmd`.
CLI::Option* add_output_option(CLI::App* cmd, std::string& out);

/// The format named `name` (one of the names add_output_option accepts).
output_format parse_output(const std::string& name);

/// A table cell for a JSON value: "-" for null, strings bare, the rest dumped.
std::string cell(const nlohmann::json& v);

/// Prints the array `rows` of objects: a table of `cols` (`-o table` skips
/// wide-only columns), a JSON array, or a YAML sequence. `state_field` names
/// the column coloured by task state on a TTY ("" for none).
void print_list(const nlohmann::json& rows, const std::vector<column>& cols,
                output_format f, const std::string& state_field = "state");

/// Prints `doc` as pretty JSON or YAML (for table/wide the caller prints
/// its own human view; this prints JSON then).
void print_doc(const nlohmann::json& doc, output_format f);

} // namespace taskrt::cli

#pragma once
/// The child processes of a process, from /proc (Linux), for fault tests that
/// signal a process tree (a node's worker processes, Postgres' backends).

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace taskrt::test {

/// The pids whose parent is `parent` right now.
inline std::vector<int> children_of(int parent) {
  std::vector<int> out;
  DIR* d = ::opendir("/proc");
  if (!d)
    return out;
  while (auto* e = ::readdir(d)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0)
      continue;
    std::ifstream f{std::string{"/proc/"} + e->d_name + "/stat"};
    std::string line;
    std::getline(f, line);
    const auto close = line.rfind(')'); // the name may hold spaces
    if (close == std::string::npos || close + 2 > line.size())
      continue;
    std::istringstream rest{line.substr(close + 2)};
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent)
      out.push_back(pid);
  }
  ::closedir(d);
  return out;
}

} // namespace taskrt::test

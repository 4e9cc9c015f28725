#include "taskrt/cluster/head_addresses.hpp"

#include "taskrt/cluster/tls.hpp"

namespace taskrt {

std::string head_address::str() const {
  return host + ":" + std::to_string(port);
}

caf::expected<std::vector<head_address>> parse_head_addresses(const std::string& list) {
  std::vector<head_address> out;
  size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    auto item = list.substr(start, comma == std::string::npos ? std::string::npos
                                                              : comma - start);
    start = comma == std::string::npos ? list.size() + 1 : comma + 1;
    auto b = item.find_first_not_of(' ');
    auto e = item.find_last_not_of(' ');
    item = b == std::string::npos ? std::string{} : item.substr(b, e - b + 1);
    head_address a;
    auto colon = item.rfind(':');
    bool ok = colon != std::string::npos && colon > 0;
    if (ok) {
      a.host = item.substr(0, colon);
      try {
        size_t used = 0;
        auto p = std::stoul(item.substr(colon + 1), &used);
        ok = used == item.size() - colon - 1 && p > 0 && p <= 65535;
        a.port = static_cast<uint16_t>(p);
      } catch (...) {
        ok = false;
      }
    }
    if (!ok)
      return make_error(errc::bad_request,
                        "expected HOST:PORT[,HOST:PORT...], got '" + item + "'");
    out.push_back(std::move(a));
  }
  return out;
}

caf::expected<head_address> parse_head_address(const std::string& text) {
  auto all = parse_head_addresses(text);
  if (!all)
    return std::move(all.error());
  if (all->size() != 1)
    return make_error(errc::bad_request,
                      "expected one HOST:PORT, got " + std::to_string(all->size()));
  return std::move(all->front());
}

std::string join_head_addresses(const std::vector<head_address>& addrs) {
  std::string out;
  for (const auto& a : addrs)
    out += (out.empty() ? "" : ",") + a.str();
  return out;
}

caf::expected<head_actor> connect_any_head(caf::actor_system& sys,
                                           const std::vector<head_address>& addrs,
                                           size_t& index) {
  if (addrs.empty())
    return make_error(errc::unavailable, "no head address given");
  caf::error last;
  std::string all;
  for (size_t i = 0; i < addrs.size(); ++i) {
    const auto k = (index + i) % addrs.size();
    auto h = connect_head(sys, addrs[k].host, addrs[k].port);
    if (h) {
      index = k;
      return h;
    }
    last = std::move(h.error());
    all += (all.empty() ? "" : "; ") + error_message(last); // each names its address
  }
  if (addrs.size() == 1)
    return last;
  return make_error(errc::unavailable, "none of the " + std::to_string(addrs.size())
                                         + " head addresses answered (each tried once, in "
                                           "order): "
                                         + all);
}

} // namespace taskrt

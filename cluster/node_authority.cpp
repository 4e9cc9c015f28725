#include "taskrt/cluster/node_authority.hpp"

#include "taskrt/cluster/tls_observer.hpp"
#include "taskrt/runtime/protocol.hpp"

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

namespace taskrt {

caf::actor spawn_node_authority(caf::actor_system& sys) {
  return sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
    return {
      [self](register_atom, const caf::node_id& peer,
             const std::string& node_id) -> caf::result<std::string> {
        auto rp = self->make_response_promise<std::string>();
        auto mm = self->home_system().middleman().actor_handle();
        self->request(mm, std::chrono::seconds(10), caf::get_atom::value, peer)
          .then(
            [rp, node_id](const caf::node_id&, const std::string& addr,
                          uint16_t port) mutable {
              if (addr.empty()) {
                rp.deliver(std::string{"no direct connection to the registering node"});
                return;
              }
              auto where = addr + ":" + std::to_string(port);
              auto id = incoming_tls_peer(addr, port);
              if (!id) {
                rp.deliver("no verified TLS connection from " + where);
                return;
              }
              if (node_id_allowed(id->node_patterns, node_id)) {
                rp.deliver(std::string{});
                return;
              }
              std::string allows;
              for (const auto& p : id->node_patterns)
                allows += (allows.empty() ? "" : ", ") + p;
              rp.deliver("the TLS certificate '" + id->cn + "' of " + where
                         + " does not allow node id '" + node_id + "' (it allows "
                         + (allows.empty() ? std::string{"no node id: a client certificate"}
                                           : allows)
                         + ")");
            },
            [rp](caf::error& e) mutable {
              rp.deliver("cannot find the registering connection: " + error_message(e));
            });
        return rp;
      },
    };
  });
}

} // namespace taskrt

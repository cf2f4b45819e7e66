#include "daemon/protocol.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>

#include "util/unique_fd.h"

namespace maptrail::daemon {

Result<nlohmann::json> ask(const std::string& socket_path, const nlohmann::json& request) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Error::from_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path))
    return Error{ENAMETOOLONG, "socket path too long: " + socket_path};
  std::strcpy(addr.sun_path, socket_path.c_str());
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED)
      return Error{err, fmt::format("no maptrail daemon is listening on {}: start one with "
                                    "`sudo maptrail daemon` (or pass --socket PATH)",
                                    socket_path)};
    return Error::from_errno("connecting to " + socket_path, err);
  }
  nlohmann::json full = request;
  full["v"] = kProtocolVersion;
  std::string line = full.dump() + "\n";
  for (size_t sent = 0; sent < line.size();) {
    ssize_t n = write(fd.get(), line.data() + sent, line.size() - sent);
    if (n <= 0) return Error::from_errno("sending the request");
    sent += n;
  }
  std::string answer;
  char buf[65536];
  while (answer.empty() || answer.back() != '\n') {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) return Error::from_errno("reading the answer");
    if (n == 0) break;
    answer.append(buf, n);
  }
  if (answer.empty()) return Error{EPROTO, "the daemon closed the connection without answering"};
  auto parsed = nlohmann::json::parse(answer, nullptr, false);
  if (parsed.is_discarded()) return Error{EPROTO, "the daemon's answer is not JSON"};
  if (!parsed.value("ok", false))
    return Error{EPERM, parsed.value("error", std::string("the daemon refused"))};
  return parsed;
}

}  // namespace maptrail::daemon

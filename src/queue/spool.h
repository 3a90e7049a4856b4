// The spool directory: <state_dir>/queue/{incoming,active,hold,corrupt}, mode 0700.
// A message is written to incoming/, fsynced, renamed into active/ and the directory is
// fsynced: only then may the client get its 250. Files left in incoming/ after a crash
// were never acknowledged and are removed at start. hold/ is the operator's; corrupt/
// keeps files that cannot be parsed (never deleted automatically).
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "queue/queue_file.h"

namespace mailseal::queue {

enum class Folder { active, hold, corrupt };

class Spool {
 public:
  explicit Spool(std::filesystem::path dir) : dir_(std::move(dir)) {}

  // Creates the folders (0700) and removes leftovers in incoming/.
  std::error_code prepare();
  const std::filesystem::path& dir() const { return dir_; }

  // Writes every message durably into active/, or none of them (all-or-nothing, so a
  // client is never told 4xx for a message that was partly queued).
  std::error_code enqueue(const std::vector<NewMessage>& messages);

  std::filesystem::path path(Folder folder, const std::string& id) const;
  std::vector<std::string> list(Folder folder) const;
  // Operator actions; false if the message is not in the source folder.
  bool move(const std::string& id, Folder from, Folder to);
  // durable = false skips the directory fsync: for a delivered message, whose removal
  // lost in a power failure only means a duplicate delivery, while waiting for the fsync
  // widens the window in which a crash causes one.
  bool remove(const std::string& id, Folder folder, bool durable = true);
  // The socket through which `mailseal queue` tells a running daemon to rescan.
  std::filesystem::path control_socket() const { return dir_ / "control"; }

  // Ids are queue file names: only these characters, so an operator's argument cannot
  // name a path outside the spool.
  static bool valid_id(const std::string& id);

 private:
  std::filesystem::path folder(Folder f) const;
  std::filesystem::path dir_;
};

}  // namespace mailseal::queue

#include "culturespa/core/error.h"
#include "culturespa/core/dir_replace.h"

#include <filesystem>

#include "culturespa/core/utf8.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace culturespa {

Error::Error(const std::string& what) : std::runtime_error(utf8_escape_invalid(what)) {}

FileError::FileError(Kind kind, std::string path, const std::string& what)
    : Error(what), kind_(kind), path_(std::move(path)) {}

void file_require_exists(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw FileError(FileError::Kind::not_found, path, what + " not found: " + path);
  }
}

std::string file_read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    const auto kind = err == ENOENT ? FileError::Kind::not_found : FileError::Kind::io;
    throw FileError(kind, path, "cannot open " + path + ": " + std::strerror(err));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw FileError(FileError::Kind::io, path, "cannot read " + path);
  return buffer.str();
}

void file_write_atomic(const std::string& path, const std::string& contents) {
  // The temporary sits beside the target so that rename() stays within one
  // file system and is atomic.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    throw FileError(FileError::Kind::io, path,
                    "cannot write " + path + ": " + std::strerror(errno));
  }
  const bool written = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  const bool flushed = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!written || !flushed || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw FileError(FileError::Kind::io, path, "cannot write " + path + ": " + std::strerror(err));
  }
}

void dir_replace_atomic(const std::string& staging, const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path old = target + ".old." + std::to_string(::getpid());
  std::error_code ec;
  const bool existed = fs::exists(target);
  if (existed) fs::rename(target, old, ec);
  if (!ec) fs::rename(staging, target, ec);
  if (ec) {
    std::error_code ignored;
    if (existed && !fs::exists(target)) fs::rename(old, target, ignored);
    throw FileError(FileError::Kind::io, target, "cannot replace " + target + " by " + staging + ": " + ec.message());
  }
  if (existed) fs::remove_all(old, ec);
}

}  // namespace culturespa

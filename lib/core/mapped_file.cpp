#include "culturespa/core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "culturespa/core/error.h"

namespace culturespa {

MappedFile::~MappedFile() {
  if (owned) std::free(data);
  else if (data && data != MAP_FAILED) ::munmap(data, size);
}

namespace {

// Reads the whole of `fd` (`size` bytes by fstat) into a new buffer.
void* read_all(int fd, std::size_t size, const std::string& path, const std::string& kind) {
  void* buffer = std::malloc(size > 0 ? size : 1);
  if (!buffer) throw FileError(FileError::Kind::io, path, "cannot allocate " + std::to_string(size) +
                                                            " bytes to read " + kind + " " + path);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, static_cast<char*>(buffer) + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : 0;
      std::free(buffer);
      throw FileError(FileError::Kind::io, path,
                      "cannot read " + kind + " " + path + ": " +
                          (err ? std::strerror(err) : "the file shrank while it was read (" +
                                                          std::to_string(done) + " of " +
                                                          std::to_string(size) + " bytes)"));
    }
    done += static_cast<std::size_t>(n);
  }
  return buffer;
}

}  // namespace

void MappedFile::map(const std::string& path, const std::string& kind, bool map) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw FileError(err == ENOENT ? FileError::Kind::not_found : FileError::Kind::io, path,
                    "cannot open " + kind + " " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw FileError(FileError::Kind::io, path, kind + " " + path + " is not a regular file");
  }
  size = static_cast<std::size_t>(st.st_size);
  if (!map) {
    try {
      data = read_all(fd, size, path, kind);
    } catch (...) {
      ::close(fd);
      throw;
    }
    owned = true;
    ::close(fd);
    return;
  }
  if (size > 0) data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (data == MAP_FAILED) {
    data = nullptr;
    throw FileError(FileError::Kind::io, path, "cannot map " + kind + " " + path + ": " + std::strerror(err));
  }
}

void MappedFile::release(uint64_t offset, uint64_t length) const {
  if (!data || owned || length == 0) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto start = reinterpret_cast<std::uintptr_t>(data) + offset;
  const std::uintptr_t first = (start + page - 1) / page * page;  // whole pages only
  const std::uintptr_t last = (start + length) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace culturespa

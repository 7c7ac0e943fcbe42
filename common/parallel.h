#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace tributary::common {

// One thread per core (at least one).
inline unsigned CoreCount() { return std::max(1u, std::thread::hardware_concurrency()); }

// Calls fn(i) for every i in [0, count) on up to `threads` threads, the caller's included,
// handing out indices one at a time in increasing order; returns when all calls have returned.
// fn must be safe to call concurrently for different i and must not throw.
template <typename Fn>
void ParallelFor(std::size_t count, unsigned threads, Fn&& fn) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) fn(i);
  };
  const auto extra = std::min<std::size_t>(std::max(threads, 1u), count) - (count > 0 ? 1 : 0);
  std::vector<std::thread> pool;
  pool.reserve(extra);
  for (std::size_t t = 0; t < extra; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& thread : pool) thread.join();
}

}  // namespace tributary::common

#include "services/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>

namespace tributary::services {
namespace {

// A task that throws is dropped and logged; the pool, its threads and the process go on.
TEST(WorkerPool, ATaskThatThrowsEndsNeitherThePoolNorTheProcess) {
  WorkerPool pool(1);
  pool.Submit([] { throw std::runtime_error("invalid byte sequence for encoding UTF8"); });
  pool.Submit([] { throw 42; });
  std::promise<int> after;
  pool.Submit([&after] { after.set_value(7); });
  std::future<int> ran = after.get_future();
  ASSERT_EQ(ran.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(ran.get(), 7);
  EXPECT_EQ(pool.failed_tasks(), 2u);
}

}  // namespace
}  // namespace tributary::services

export {
  defaultControllerRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  type RateLimiter,
  TokenBucketRateLimiter,
} from "./rate-limiter.ts";
export {
  promWorkQueueMetrics,
  WorkQueue,
  type WorkQueueMetrics,
  type WorkQueueOptions,
} from "./work-queue.ts";

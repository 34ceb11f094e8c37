// The operator's Prometheus metrics, under controller-runtime's exact names and labels so that
// existing dashboards and alerts for Go operators work unchanged.

import { Counter, Gauge, Histogram, Registry } from "prom-client";

// controller-runtime's reconcile_time_seconds buckets.
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/** Returns the metric already registered under `name`, or registers the one `make` builds. */
function getOrCreate<M>(registry: Registry, name: string, make: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? make();
}

export interface ControllerMetrics {
  reconcileTotal: Counter<"controller" | "result">;
  reconcileErrors: Counter<"controller">;
  terminalErrors: Counter<"controller">;
  panics: Counter<"controller">;
  reconcileTime: Histogram<"controller">;
  maxConcurrent: Gauge<"controller">;
  activeWorkers: Gauge<"controller">;
}

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const reg = [registry];
  return {
    reconcileTotal: getOrCreate(
      registry,
      "controller_runtime_reconcile_total",
      () =>
        new Counter({
          name: "controller_runtime_reconcile_total",
          help: "Total number of reconciliations per controller",
          labelNames: ["controller", "result"],
          registers: reg,
        }),
    ),
    reconcileErrors: getOrCreate(
      registry,
      "controller_runtime_reconcile_errors_total",
      () =>
        new Counter({
          name: "controller_runtime_reconcile_errors_total",
          help: "Total number of reconciliation errors per controller",
          labelNames: ["controller"],
          registers: reg,
        }),
    ),
    terminalErrors: getOrCreate(
      registry,
      "controller_runtime_terminal_reconcile_errors_total",
      () =>
        new Counter({
          name: "controller_runtime_terminal_reconcile_errors_total",
          help: "Total number of terminal reconciliation errors per controller",
          labelNames: ["controller"],
          registers: reg,
        }),
    ),
    panics: getOrCreate(
      registry,
      "controller_runtime_reconcile_panics_total",
      () =>
        new Counter({
          name: "controller_runtime_reconcile_panics_total",
          help: "Total number of reconciliation panics per controller",
          labelNames: ["controller"],
          registers: reg,
        }),
    ),
    reconcileTime: getOrCreate(
      registry,
      "controller_runtime_reconcile_time_seconds",
      () =>
        new Histogram({
          name: "controller_runtime_reconcile_time_seconds",
          help: "Length of time per reconciliation per controller",
          labelNames: ["controller"],
          buckets: RECONCILE_BUCKETS,
          registers: reg,
        }),
    ),
    maxConcurrent: getOrCreate(
      registry,
      "controller_runtime_max_concurrent_reconciles",
      () =>
        new Gauge({
          name: "controller_runtime_max_concurrent_reconciles",
          help: "Maximum number of concurrent reconciles per controller",
          labelNames: ["controller"],
          registers: reg,
        }),
    ),
    activeWorkers: getOrCreate(
      registry,
      "controller_runtime_active_workers",
      () =>
        new Gauge({
          name: "controller_runtime_active_workers",
          help: "Number of currently used workers per controller",
          labelNames: ["controller"],
          registers: reg,
        }),
    ),
  };
}

export function leaderElectionGauge(registry: Registry): Gauge<"name"> {
  return getOrCreate(
    registry,
    "leader_election_master_status",
    () =>
      new Gauge({
        name: "leader_election_master_status",
        help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
        labelNames: ["name"],
        registers: [registry],
      }),
  );
}

export function restClientRequests(registry: Registry): Counter<"code" | "method" | "host"> {
  return getOrCreate(
    registry,
    "rest_client_requests_total",
    () =>
      new Counter({
        name: "rest_client_requests_total",
        help: "Number of HTTP requests, partitioned by status code, method, and host.",
        labelNames: ["code", "method", "host"],
        registers: [registry],
      }),
  );
}

export { Registry };

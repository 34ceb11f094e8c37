// A fractional GPU replica's share, as the ai pillar writes it on the pod and the tenant
// ledger charges it: percent of one device's compute, and MiB of its memory.

export const GPU_MEMORY_ANNOTATION = "ai.centaurus.io/gpu-memory-mib";
export const GPU_COMPUTE_ANNOTATION = "ai.centaurus.io/gpu-compute-percent";

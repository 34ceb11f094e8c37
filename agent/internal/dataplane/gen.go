// Package dataplane loads the eBPF programs (agent/bpf/dataplane.c), pins their maps and
// attaches them. The generated objects are committed: building the agent needs no clang.
package dataplane

//go:generate go tool bpf2go -cc clang -target bpfel -type ep_key -type ep_val -type subnet_key -type subnet_val -type local_if -type agent_config -type pol_key -type pol_val -type ct_key -type ct_val -type ep_counters bpf ../../bpf/dataplane.c -- -O2 -g -Wall -I/usr/include/x86_64-linux-gnu

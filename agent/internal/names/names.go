// Package names holds what the CNI plugin and the agent must agree on without talking: the
// host-side interface name of a pod interface, the agent's socket, the MAC of the gateway.
package names

import (
	"crypto/sha1"
	"encoding/hex"
	"path/filepath"
)

// VethName is the host-side veth of one pod interface: derived from namespace, pod and
// interface name, so the agent finds it from the NodeProgram's localEndpoints alone.
func VethName(namespace, pod, iface string) string {
	sum := sha1.Sum([]byte(namespace + "/" + pod + "/" + iface))
	return "vc" + hex.EncodeToString(sum[:])[:11]
}

// GatewayMAC is the host-side veth's address; every pod's gateway neighbour entry names it,
// so pods never ARP.
const GatewayMAC = "ee:ee:ee:ee:ee:ee"

// RunDir holds the agent's socket for one node.
func RunDir(node string) string { return filepath.Join("/run/centaurus", node) }

// Socket is where the agent listens for the plugin's "endpoint added/removed" notes.
func Socket(node string) string { return filepath.Join(RunDir(node), "agent.sock") }

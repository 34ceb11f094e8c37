package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

const BPFFS = "/sys/fs/bpf"

// Dataplane is the loaded programs and their pinned maps for one node.
type Dataplane struct {
	objs   bpfObjects
	PinDir string
}

// EnsureBPFFS mounts bpffs at /sys/fs/bpf when nothing is mounted there.
func EnsureBPFFS() error {
	var st unix.Statfs_t
	if err := unix.Statfs(BPFFS, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := os.MkdirAll(BPFFS, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("bpf", BPFFS, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs at %s: %w", BPFFS, err)
	}
	return nil
}

// Open loads the programs, reusing the maps pinned under pinDir (creating them the first time).
func Open(pinDir string) (*Dataplane, error) {
	if err := EnsureBPFFS(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(pinDir, "links"), 0o700); err != nil {
		return nil, err
	}
	d := &Dataplane{PinDir: pinDir}
	opts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinDir}}
	err := loadBpfObjects(&d.objs, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// Pins of an agent with another map layout: start over (forwarding pauses until the
		// first reconcile, about a second).
		for _, m := range []string{"endpoints", "subnets", "local_ifs", "config", "counters", "policy", "conntrack", "ep_stats"} {
			_ = os.Remove(filepath.Join(pinDir, m))
		}
		err = loadBpfObjects(&d.objs, opts)
	}
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load programs: %+v", ve)
		}
		return nil, fmt.Errorf("load programs: %w", err)
	}
	return d, nil
}

func (d *Dataplane) Close() error { return d.objs.Close() }

// ip4 is an IPv4 address as the C side reads it: the four bytes in network order.
func ip4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:])
}

// EgressIP is a local pod interface's unique address towards the node's own stack (replies
// come back to it and to_pod restores the pod's address): 100.127.<ifindex/256>.<ifindex%256>,
// unique on the node whatever VPC the pod is in, so overlapping VPCs can share the node.
func EgressIP(ifindex int) netip.Addr {
	return netip.AddrFrom4([4]byte{100, 127, byte(ifindex >> 8), byte(ifindex)})
}

// EgressRange holds every EgressIP (the node masquerades it towards the outside).
const EgressRange = "100.127.0.0/16"

func fromIP4(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// htonl for the VNI in the trie key (the trie matches bytes from the left).
func htonl(v uint32) uint32 {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return bits.ReverseBytes32(v)
	}
	return v
}

// SetTunnel records the tunnel device's ifindex for the programs.
func (d *Dataplane) SetTunnel(ifindex int) error {
	return d.objs.Config.Put(uint32(0), bpfAgentConfig{TunnelIfindex: uint32(ifindex)})
}

// AttachFromPod / AttachFromTunnel attach to tcx ingress of ifindex and pin the link under
// name, replacing the program of a link already pinned for the same interface. The caller's
// thread must be in the interface's network namespace (the kernel resolves the ifindex there).
func (d *Dataplane) AttachFromPod(name string, ifindex int) error {
	return d.attach(name, ifindex, d.objs.FromPod, ebpf.AttachTCXIngress)
}

// AttachToPod attaches the egress de-NAT to tcx egress of a pod's host-side veth.
func (d *Dataplane) AttachToPod(name string, ifindex int) error {
	return d.attach(name, ifindex, d.objs.ToPod, ebpf.AttachTCXEgress)
}

func (d *Dataplane) AttachFromTunnel(name string, ifindex int) error {
	return d.attach(name, ifindex, d.objs.FromTunnel, ebpf.AttachTCXIngress)
}

func (d *Dataplane) linkPin(name string) string { return filepath.Join(d.PinDir, "links", name) }

func (d *Dataplane) attach(name string, ifindex int, prog *ebpf.Program, at ebpf.AttachType) error {
	pin := d.linkPin(name)
	if l, err := link.LoadPinnedLink(pin, nil); err == nil {
		info, ierr := l.Info()
		if ierr == nil && info.TCX() != nil && int(info.TCX().Ifindex) == ifindex {
			uerr := l.Update(prog)
			l.Close()
			if uerr == nil {
				return nil
			}
		}
		_ = l.Unpin()
		l.Close()
	}
	l, err := link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: prog, Attach: at})
	if err != nil {
		return fmt.Errorf("attach to %s (ifindex %d): %w", name, ifindex, err)
	}
	defer l.Close()
	return l.Pin(pin)
}

// Detach removes the pinned link of name (a pod interface that is gone).
func (d *Dataplane) Detach(name string) error {
	l, err := link.LoadPinnedLink(d.linkPin(name), nil)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return os.Remove(d.linkPin(name))
	}
	defer l.Close()
	_ = l.Unpin()
	return nil
}

// Links lists the names with a pinned link.
func (d *Dataplane) Links() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.PinDir, "links"))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// CounterNames name the per-CPU packet counters, in the order of the C side's C_* constants.
var CounterNames = []string{"local", "tunnel", "toBouncer", "toDivider", "bounced", "dropUnknown", "dropSpoof", "dropOther", "egress", "denyIngress", "denyEgress", "conntrackReply"}

// ParseMAC is net.ParseMAC for the 6-byte form only.
func ParseMAC(s string) ([6]byte, error) {
	var m [6]byte
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return m, fmt.Errorf("bad MAC %q", s)
	}
	copy(m[:], hw)
	return m, nil
}

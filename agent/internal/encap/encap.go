// Package encap creates the node's tunnel device in external (collect-metadata) mode: the
// tc programs choose VNI and remote host per packet with bpf_skb_set_tunnel_key, so one
// device serves every VPC. VXLAN everywhere; Geneve where the kernel has it.
package encap

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink"
)

type Encap interface {
	Name() string
	// Overhead is what the outer headers take from the underlay MTU (IPv4 underlay).
	Overhead() int
	// Ensure creates the device when it is missing, brings it up and returns its ifindex.
	Ensure(h *netlink.Handle) (int, error)
}

func New(kind string) (Encap, error) {
	switch kind {
	case "vxlan", "":
		return vxlan{}, nil
	case "geneve":
		return geneve{}, nil
	}
	return nil, fmt.Errorf("unknown encapsulation %q (vxlan or geneve)", kind)
}

const Port = 4789

type vxlan struct{}

func (vxlan) Name() string  { return "cvx0" }
func (vxlan) Overhead() int { return 50 }
func (v vxlan) Ensure(h *netlink.Handle) (int, error) {
	return ensure(h, v.Name(), func() netlink.Link {
		return &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name()}, FlowBased: true, Port: Port, Learning: false}
	})
}

type geneve struct{}

func (geneve) Name() string  { return "cgn0" }
func (geneve) Overhead() int { return 50 }
func (g geneve) Ensure(h *netlink.Handle) (int, error) {
	return ensure(h, g.Name(), func() netlink.Link {
		return &netlink.Geneve{LinkAttrs: netlink.LinkAttrs{Name: g.Name()}, FlowBased: true, Dport: 6081}
	})
}

func ensure(h *netlink.Handle, name string, mk func() netlink.Link) (int, error) {
	l, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return 0, err
		}
		if err := h.LinkAdd(mk()); err != nil && !errors.Is(err, syscall.EEXIST) {
			return 0, fmt.Errorf("create tunnel device %s: %w", name, err)
		}
		if l, err = h.LinkByName(name); err != nil {
			return 0, err
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

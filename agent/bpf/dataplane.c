// SPDX-License-Identifier: GPL-2.0
// Centaurus' data plane (Mizar's forwarding): tc programs on every pod's host-side veth and on
// the node's tunnel device. A node knows its own endpoints; an unknown destination in the
// sender's subnet goes over the tunnel to the subnet's bouncer (which knows every endpoint of
// the subnet), one in another subnet to the VPC's divider. Every key carries the VNI, so VPCs
// with the same addresses never meet. Maps are pinned by name, so a restarted agent finds them
// (and the attached programs keep forwarding while it is away).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define EP_LOCAL 1

/* Subnet flags: this node holds the role itself (never tunnel to yourself). */
#define SN_BOUNCER_SELF 1
#define SN_DIVIDER_SELF 2
/* The VPC's whole CIDR (less specific than its subnets): inside the VPC but in no subnet. */
#define SN_VPC_ONLY 4

/* Counters (index into the per-CPU array). */
#define C_LOCAL 0         /* delivered to a pod on this node */
#define C_TUNNEL 1        /* sent to a known remote host */
#define C_TO_BOUNCER 2    /* unknown destination sent to the subnet's bouncer */
#define C_TO_DIVIDER 3    /* other subnet sent to the VPC's divider */
#define C_BOUNCED 4       /* received over the tunnel and forwarded again (bouncer/divider) */
#define C_DROP_UNKNOWN 5  /* no endpoint, no subnet, or no role to ask */
#define C_DROP_SPOOF 6    /* source address is not the pod's own */
#define C_DROP_OTHER 7    /* not IPv4, unknown interface, TTL exhausted */
#define C_EGRESS 8        /* left the VPC through the node (source rewritten to the egress address) */
#define C_DENY_INGRESS 9  /* NetworkPolicy: no ingress rule of the destination pod allows it */
#define C_DENY_EGRESS 10  /* NetworkPolicy: no egress rule of the source pod allows it */
#define C_CT_REPLY 11     /* passed as the reply of a tracked connection */
#define C_MAX 12

/* The port ranges one policy entry holds (more: the agent reports the limit). */
#define POL_RANGES 16
/* Conntrack timeouts (ns): an open TCP connection, one that saw FIN/RST, UDP, anything else. */
#define CT_TCP_TIMEOUT (3600ULL * 1000000000ULL)
#define CT_CLOSING_TIMEOUT (10ULL * 1000000000ULL)
#define CT_UDP_TIMEOUT (120ULL * 1000000000ULL)
#define CT_OTHER_TIMEOUT (30ULL * 1000000000ULL)
#define CT_CLOSING 1

/* The gateway MAC every pod's neighbour entry names (the host-side veth has it). */
static const __u8 gw_mac[ETH_ALEN] = {0xee, 0xee, 0xee, 0xee, 0xee, 0xee};

struct ep_key {
	__u32 vni;
	__u32 ip; /* network order */
};

struct ep_val {
	__u32 flags;   /* EP_LOCAL: ifindex/mac valid; else host */
	__u32 ifindex; /* host-side veth of a local pod */
	__u32 host;    /* underlay address of a remote endpoint's node (network order) */
	__u8 mac[ETH_ALEN];
	__u8 pad[2];
};

struct subnet_key {
	__u32 prefixlen; /* 32 (the VNI) + the subnet's prefix length */
	__u32 vni;       /* network order, so that the trie matches it first */
	__u32 ip;        /* network order */
};

struct subnet_val {
	__u32 id;      /* unique per (VNI, subnet) on this node */
	__u32 bouncer; /* underlay address of the subnet's bouncer (network order) */
	__u32 divider; /* underlay address of the VPC's divider (network order) */
	__u32 flags;   /* SN_* */
};

/* A local pod interface, by the ifindex of its host-side veth. ingress_set / egress_set name
 * the endpoint's allow sets in `policy` (0: not isolated, everything passes). The agent writes
 * a changed policy under a new set id first and then flips both ids in one update of this
 * entry, so no packet ever sees a mix or a moment wider than the old and the new policy. */
struct local_if {
	__u32 vni;
	__u32 ip; /* network order */
	__u32 subnet_id;
	__u32 ingress_set;
	__u32 egress_set;
	__u32 egress_ip; /* the pod's unique host-side address for egress (network order), 0: none */
};

/* An allow set's entry: the peers in prefix may use these ports of proto (0: any protocol other
 * than TCP/UDP/SCTP, allowed by rules without ports). The agent folds every rule of the set into
 * the longest prefix that holds an address (ipBlock excepts get their own, narrower entries). */
struct pol_key {
	__u32 prefixlen; /* 64 + the peer prefix length */
	__u32 set;
	__u32 proto;
	__u32 ip; /* network order */
};

struct pol_val {
	__u32 count; /* ranges used; 0: the prefix is denied (an ipBlock except) */
	__u16 lo[POL_RANGES];
	__u16 hi[POL_RANGES];
};

/* Per local interface: packets its ingress and egress checks passed and dropped. */
#define EPC_INGRESS_ALLOWED 0
#define EPC_INGRESS_DENIED 1
#define EPC_EGRESS_ALLOWED 2
#define EPC_EGRESS_DENIED 3
struct ep_counters {
	__u64 c[4];
};

/* One direction of a connection, as its first packet went. */
struct ct_key {
	__u32 vni;
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u32 proto;
};

struct ct_val {
	__u64 seen; /* bpf_ktime_get_ns of the last packet either way */
	__u32 flags;
	__u32 pad;
};

/* The parts of a packet policy looks at (ports 0 for other protocols and fragments). */
struct flow {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 tcp_flags;
};

struct agent_config {
	__u32 tunnel_ifindex;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct ep_key);
	__type(value, struct ep_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__type(key, struct subnet_key);
	__type(value, struct subnet_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct local_if);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} local_ifs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1048576);
	__type(key, struct pol_key);
	__type(value, struct pol_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct ct_key);
	__type(value, struct ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack SEC(".maps");

/* The agent creates an entry per local interface (and removes it with the interface). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct ep_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ep_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agent_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

static __always_inline int count(__u32 c, int verdict)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &c);
	if (v)
		*v += 1;
	return verdict;
}


static __always_inline void ep_count(__u32 ifindex, __u32 which)
{
	struct ep_counters *v = bpf_map_lookup_elem(&ep_stats, &ifindex);
	if (v && which < 4)
		v->c[which] += 1;
}

/* Reads the flow of an IPv4 packet (header without options or with: ihl is honoured). */
static __always_inline int parse_flow(struct __sk_buff *skb, struct iphdr *iph, struct flow *f)
{
	f->saddr = iph->saddr;
	f->daddr = iph->daddr;
	f->proto = iph->protocol;
	f->sport = f->dport = 0;
	f->tcp_flags = 0;
	if (iph->frag_off & bpf_htons(0x1fff)) /* a later fragment carries no ports */
		return 0;
	int l4 = sizeof(struct ethhdr) + iph->ihl * 4;
	if (f->proto == IPPROTO_TCP || f->proto == IPPROTO_UDP || f->proto == IPPROTO_SCTP) {
		__u16 ports[2];
		if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) < 0)
			return -1;
		f->sport = bpf_ntohs(ports[0]);
		f->dport = bpf_ntohs(ports[1]);
	}
	if (f->proto == IPPROTO_TCP && bpf_skb_load_bytes(skb, l4 + 13, &f->tcp_flags, 1) < 0)
		return -1;
	return 0;
}

/* Does allow set `set` let `peer` use (proto, port)? */
static __always_inline int policy_allows(__u32 set, __u32 peer, __u8 proto, __u16 port)
{
	struct pol_key k = {.prefixlen = 96, .set = set, .ip = peer};
	k.proto = (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP) ? proto : 0;
	struct pol_val *v = bpf_map_lookup_elem(&policy, &k);
	if (!v)
		return 0;
	for (int i = 0; i < POL_RANGES; i++) {
		if (i >= v->count)
			break;
		if (port >= v->lo[i] && port <= v->hi[i])
			return 1;
	}
	return 0;
}

static __always_inline __u64 ct_timeout(struct ct_val *v, __u32 proto)
{
	if (v->flags & CT_CLOSING)
		return CT_CLOSING_TIMEOUT;
	if (proto == IPPROTO_TCP)
		return CT_TCP_TIMEOUT;
	return proto == IPPROTO_UDP ? CT_UDP_TIMEOUT : CT_OTHER_TIMEOUT;
}

static __always_inline void ct_touch(struct ct_val *v, struct flow *f, __u64 now)
{
	if (f->tcp_flags & 0x05) /* FIN or RST: the connection ends soon */
		v->flags |= CT_CLOSING;
	if (now - v->seen > 1000000000ULL || (f->tcp_flags & 0x05))
		v->seen = now; /* at most once a second: no write per packet */
}

/* Is the packet the reply of a tracked connection (its reverse tuple went first)? */
static __always_inline int ct_reply(__u32 vni, struct flow *f)
{
	struct ct_key k = {.vni = vni, .saddr = f->daddr, .daddr = f->saddr, .sport = f->dport,
			   .dport = f->sport, .proto = f->proto};
	struct ct_val *v = bpf_map_lookup_elem(&conntrack, &k);
	if (!v)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (now - v->seen > ct_timeout(v, f->proto)) {
		bpf_map_delete_elem(&conntrack, &k);
		return 0;
	}
	ct_touch(v, f, now);
	count(C_CT_REPLY, 0);
	return 1;
}

/* Records (or refreshes) an allowed packet's connection, so that its replies pass. */
static __always_inline void ct_track(__u32 vni, struct flow *f)
{
	struct ct_key k = {.vni = vni, .saddr = f->saddr, .daddr = f->daddr, .sport = f->sport,
			   .dport = f->dport, .proto = f->proto};
	__u64 now = bpf_ktime_get_ns();
	struct ct_val *v = bpf_map_lookup_elem(&conntrack, &k);
	if (v) {
		ct_touch(v, f, now);
		return;
	}
	struct ct_val nv = {.seen = now, .flags = (f->tcp_flags & 0x05) ? CT_CLOSING : 0};
	bpf_map_update_elem(&conntrack, &k, &nv, BPF_ANY);
}

/* The ingress check of a local destination: replies pass, the rest as its allow set says. */
static __always_inline int ingress_allowed(__u32 vni, struct local_if *dst, struct flow *f, int reply)
{
	if (reply)
		return 1;
	if (dst && dst->ingress_set && !policy_allows(dst->ingress_set, f->saddr, f->proto, f->dport))
		return 0;
	ct_track(vni, f);
	return 1;
}

static __always_inline int set_macs(struct __sk_buff *skb, const __u8 *dst)
{
	if (bpf_skb_store_bytes(skb, 0, dst, ETH_ALEN, 0) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, ETH_ALEN, gw_mac, ETH_ALEN, 0);
}

static __always_inline int deliver(struct __sk_buff *skb, struct ep_val *ep, __u32 vni, struct flow *f, int reply)
{
	__u32 ifindex = ep->ifindex;
	struct local_if *dst = bpf_map_lookup_elem(&local_ifs, &ifindex);
	if (!ingress_allowed(vni, dst, f, reply)) {
		ep_count(ifindex, EPC_INGRESS_DENIED);
		return count(C_DENY_INGRESS, TC_ACT_SHOT);
	}
	ep_count(ifindex, EPC_INGRESS_ALLOWED);
	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, ep->mac, ETH_ALEN);
	if (set_macs(skb, mac) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	count(C_LOCAL, 0);
	return bpf_redirect(ep->ifindex, 0);
}

/* Encapsulate towards host (network order) with the VNI. The inner destination MAC is the
 * one the controller derives from the address (02:00 + the four bytes). */
static __always_inline int encap(struct __sk_buff *skb, __u32 vni, __u32 host, __u32 dst, __u32 counter)
{
	__u32 zero = 0;
	struct agent_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->tunnel_ifindex || !host)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	struct bpf_tunnel_key key = {};
	key.tunnel_id = vni;
	key.remote_ipv4 = bpf_ntohl(host);
	key.tunnel_ttl = 64;
	if (bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	__u8 mac[ETH_ALEN] = {0x02, 0x00};
	__builtin_memcpy(&mac[2], &dst, 4);
	if (set_macs(skb, mac) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	count(counter, 0);
	return bpf_redirect(cfg->tunnel_ifindex, 0);
}

/* A packet that crosses the tunnel again loses one TTL, so that stale entries cannot loop. */
static __always_inline int decrement_ttl(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	if ((void *)(iph + 1) > end || iph->ttl <= 1)
		return -1;
	__u16 old = *(__u16 *)&iph->ttl;
	iph->ttl--;
	__u16 new = *(__u16 *)&iph->ttl;
	return bpf_l3_csum_replace(skb, sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, check), old, new, 2);
}

/* Rewrites the source (or destination) address from `from` to `to`, fixing the IPv4 and the
 * TCP/UDP checksums (pseudo header). Options in the IP header are not supported. */
static __always_inline int rewrite(struct __sk_buff *skb, __u32 from, __u32 to, int daddr)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	if ((void *)(iph + 1) > end || iph->ihl != 5)
		return -1;
	__u8 proto = iph->protocol;
	int l4 = sizeof(struct ethhdr) + sizeof(struct iphdr);
	if (proto == IPPROTO_TCP && bpf_l4_csum_replace(skb, l4 + 16, from, to, BPF_F_PSEUDO_HDR | 4) < 0)
		return -1;
	if (proto == IPPROTO_UDP &&
	    bpf_l4_csum_replace(skb, l4 + 6, from, to, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, check), from, to, 4) < 0)
		return -1;
	int off = sizeof(struct ethhdr) + (daddr ? __builtin_offsetof(struct iphdr, daddr) : __builtin_offsetof(struct iphdr, saddr));
	return bpf_skb_store_bytes(skb, off, &to, 4, 0);
}

static __always_inline int forward(struct __sk_buff *skb, __u32 vni, __u32 dst, __u32 src_subnet, int from_tunnel,
				   struct local_if *li, struct flow *f, int reply)
{
	struct ep_key k = {.vni = vni, .ip = dst};
	struct ep_val *ep = bpf_map_lookup_elem(&endpoints, &k);
	if (ep && (ep->flags & EP_LOCAL))
		return deliver(skb, ep, vni, f, reply);
	if (from_tunnel && decrement_ttl(skb) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	if (ep)
		return encap(skb, vni, ep->host, dst, from_tunnel ? C_BOUNCED : C_TUNNEL);

	struct subnet_key sk = {.prefixlen = 64, .vni = bpf_htonl(vni), .ip = dst};
	struct subnet_val *sn = bpf_map_lookup_elem(&subnets, &sk);
	if (!sn && li && li->egress_ip) { /* outside the VPC's CIDR too */
		/* Outside every subnet of the VPC: through the gateway to the node's stack, under
		 * the pod's unique egress address (the node masquerades it further out). */
		if (rewrite(skb, li->ip, li->egress_ip, 0) < 0)
			return count(C_DROP_OTHER, TC_ACT_SHOT);
		return count(C_EGRESS, TC_ACT_OK);
	}
	if (!sn || (sn->flags & SN_VPC_ONLY))
		return count(C_DROP_UNKNOWN, TC_ACT_SHOT);
	int same_subnet = !from_tunnel && sn->id == src_subnet;
	if (same_subnet || (sn->flags & SN_DIVIDER_SELF)) {
		/* The bouncer knows every endpoint: if that is us, nobody knows it. */
		if (sn->flags & SN_BOUNCER_SELF)
			return count(C_DROP_UNKNOWN, TC_ACT_SHOT);
		return encap(skb, vni, sn->bouncer, dst, from_tunnel ? C_BOUNCED : C_TO_BOUNCER);
	}
	if (from_tunnel)
		return count(C_DROP_UNKNOWN, TC_ACT_SHOT);
	return encap(skb, vni, sn->divider, dst, C_TO_DIVIDER);
}

static __always_inline struct iphdr *ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > end)
		return 0;
	return iph;
}

/* tc ingress of a pod's host-side veth: what the pod sends. */
SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct local_if *li = bpf_map_lookup_elem(&local_ifs, &ifindex);
	if (!li)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	struct iphdr *iph = ipv4(skb);
	if (!iph)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	if (iph->saddr != li->ip)
		return count(C_DROP_SPOOF, TC_ACT_SHOT);
	struct flow f;
	if (parse_flow(skb, iph, &f) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	int reply = ct_reply(li->vni, &f);
	if (!reply) {
		if (li->egress_set && !policy_allows(li->egress_set, f.daddr, f.proto, f.dport)) {
			ep_count(ifindex, EPC_EGRESS_DENIED);
			return count(C_DENY_EGRESS, TC_ACT_SHOT);
		}
		ct_track(li->vni, &f);
	}
	ep_count(ifindex, EPC_EGRESS_ALLOWED);
	return forward(skb, li->vni, f.daddr, li->subnet_id, 0, li, &f, reply);
}

/* tc egress of a pod's host-side veth: replies from the node's stack to the pod's egress
 * address get the pod's own address back. Everything else passes untouched. */
SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct local_if *li = bpf_map_lookup_elem(&local_ifs, &ifindex);
	if (!li || !li->egress_ip)
		return TC_ACT_OK;
	struct iphdr *iph = ipv4(skb);
	if (!iph || iph->daddr != li->egress_ip)
		return TC_ACT_OK;
	struct flow f;
	if (parse_flow(skb, iph, &f) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	f.daddr = li->ip; /* the connection was tracked under the pod's own address */
	if (!ingress_allowed(li->vni, li, &f, ct_reply(li->vni, &f))) {
		ep_count(ifindex, EPC_INGRESS_DENIED);
		return count(C_DENY_INGRESS, TC_ACT_SHOT);
	}
	ep_count(ifindex, EPC_INGRESS_ALLOWED);
	if (rewrite(skb, li->egress_ip, li->ip, 1) < 0)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

/* tc ingress of the tunnel device (external mode): the VNI comes with the tunnel metadata. */
SEC("tc")
int from_tunnel(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	struct iphdr *iph = ipv4(skb);
	if (!iph)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	struct flow f;
	if (parse_flow(skb, iph, &f) < 0)
		return count(C_DROP_OTHER, TC_ACT_SHOT);
	return forward(skb, key.tunnel_id, f.daddr, 0, 1, 0, &f, ct_reply(key.tunnel_id, &f));
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
// Programs the attachment tests attach without bpf links: XDP and a tc filter through
// netlink (ip link / tc), cgroup_skb through BPF_PROG_ATTACH (bpftool cgroup attach).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

// Packets the XDP program saw (and a map, which bpftool loadall pins beside the programs).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} att_hits SEC(".maps");

SEC("xdp")
int att_xdp(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *hits = bpf_map_lookup_elem(&att_hits, &key);

	if (hits)
		__sync_fetch_and_add(hits, 1);
	return XDP_PASS;
}

SEC("tc")
int att_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("cgroup_skb/ingress")
int att_cgroup(struct __sk_buff *skb)
{
	return 1;
}

char _license[] SEC("license") = "GPL";

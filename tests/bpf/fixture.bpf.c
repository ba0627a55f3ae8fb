// SPDX-License-Identifier: GPL-2.0
// Test fixture: a socket filter that counts every packet it sees into maps of many types, so
// that run counts and map contents move for real when loopback traffic flows.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow_key {
	__u32 proto;
	__u16 len_bucket;
	__u8 pkt_type;
	__u8 pad;
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

// Per-CPU hash with string keys, like bpftrace's @NAME[comm] maps (AT_ prefix).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, char[16]);
	__type(value, __u64);
} AT_pkts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} lru_lens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jmp_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, __u32);
} lens_queue SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { &inner },
};

static __always_inline void bump(void *map, const void *key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, key);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	struct flow_key fk = {
		.proto = bpf_ntohs(skb->protocol),
		.len_bucket = skb->len >> 6,
		.pkt_type = skb->pkt_type,
	};
	struct flow_stats *fs, init = { 1, skb->len };
	char name[16] = "other";
	__u32 zero = 0, len = skb->len;
	__u64 one = 1, *c;

	fs = bpf_map_lookup_elem(&flows, &fk);
	if (fs) {
		__sync_fetch_and_add(&fs->packets, 1);
		__sync_fetch_and_add(&fs->bytes, skb->len);
	} else {
		bpf_map_update_elem(&flows, &fk, &init, BPF_NOEXIST);
	}

	if (skb->protocol == bpf_htons(ETH_P_IP))
		__builtin_memcpy(name, "ipv4\0\0\0\0", 8);
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		__builtin_memcpy(name, "ipv6\0\0\0\0", 8);
	c = bpf_map_lookup_elem(&AT_pkts, name);
	if (c)
		*c += 1;
	else
		bpf_map_update_elem(&AT_pkts, name, &one, BPF_NOEXIST);

	bump(&counters, &zero);
	c = bpf_map_lookup_elem(&pcpu_counters, &zero);
	if (c)
		*c += 1;
	bump(&lru_lens, &len);
	bpf_map_push_elem(&lens_queue, &len, BPF_EXIST);
	bpf_ringbuf_output(&events, &len, sizeof(len), 0);

	void *in = bpf_map_lookup_elem(&outer, &zero);
	if (in)
		bump(in, &zero);

	bpf_tail_call(skb, &jmp_table, 0);
	return 0;
}

SEC("socket")
int tail_target(struct __sk_buff *skb)
{
	return 0;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("cgroup_skb/ingress")
int cgroup_allow(struct __sk_buff *skb)
{
	return 1;
}

char _license[] SEC("license") = "GPL";

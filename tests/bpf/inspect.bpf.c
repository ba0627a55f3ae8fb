// SPDX-License-Identifier: GPL-2.0
// Test fixture for the program inspector (tests/kernel/test_xlated.py and friends): programs of
// several types whose translated code holds what a disassembler must get right: subprogram
// calls (static and global), a bounded loop, bpf_loop with a callback (a 64-bit immediate that
// names a subprogram), every kind of atomic, map-in-map, a tail call, 64-bit immediates of maps,
// map values (global variables) and constants, helpers the kernel inlines, and bpf_metadata_*
// variables in .rodata. Built with -mcpu=v3 (atomics with fetch, 32-bit jumps).
// Built again with -DDEVAGENT_COMPAT for kernels before 5.17 (no bpf_loop: a loop calling the
// same callback as a subprogram) and 5.12 (no atomics with fetch: adds only); the tests load
// that one where the kernel refuses the first (tests/conftest.py inspect_fixture).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

// bpftool shows these as the programs' "metadata" (every program of the object is bound to
// the .rodata map by libbpf, whether its code reads the map or not).
const volatile char bpf_metadata_owner[] SEC(".rodata") = "phydev tests";
const volatile int bpf_metadata_version SEC(".rodata") = 7;

// .data and .bss: the code addresses them through map-value immediates.
__u64 packets_seen = 3;
__u64 last_len;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} jumps SEC(".maps");

struct inner_hash {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} inner_h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_hash);
} by_proto SEC(".maps") = {
	.values = { &inner_h },
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} per_cpu SEC(".maps");

static __noinline __u64 mix(__u64 a, __u64 b)
{
	return (a * 0x9e3779b97f4a7c15ULL) ^ (b >> 3);
}

__noinline int global_sum(__u32 n)
{
	__u32 i, sum = 0;

#pragma clang loop unroll(disable)
	for (i = 0; i < 16 && i < n; i++)
		sum += i * i;
	return sum;
}

static __always_inline void atomics(__u64 *v)
{
	__u64 old;

	__sync_fetch_and_add(v, 1);
#ifdef DEVAGENT_COMPAT
	old = *v;
#else
	old = __sync_fetch_and_add(v, 2);
	__sync_fetch_and_or(v, old & 1);
	__sync_fetch_and_and(v, ~0ULL);
	__sync_fetch_and_xor(v, 0);
	old = __sync_fetch_and_or(v, 4);
	old ^= __sync_val_compare_and_swap(v, old, old + 1);
	old ^= __sync_lock_test_and_set(v, old);
#endif
	last_len = old;
}

SEC("socket")
int inspect_socket_filter_with_a_long_name(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *total;

	total = bpf_map_lookup_elem(&totals, &key);
	if (total)
		atomics(total);
	packets_seen += mix(skb->len, bpf_metadata_version);
	if (global_sum(skb->len) == 99)
		bpf_tail_call(skb, &jumps, 0);
	return skb->len;
}

SEC("socket")
int inspect_tail(struct __sk_buff *skb)
{
	return 0;
}

struct loop_ctx {
	__u64 acc;
};

#ifdef DEVAGENT_COMPAT
__attribute__((noinline))
#endif
static int loop_step(__u32 index, void *data)
{
	struct loop_ctx *lc = data;

	lc->acc += index;
	return lc->acc > 1000;
}

SEC("xdp")
int inspect_xdp(struct xdp_md *ctx)
{
	struct loop_ctx lc = { .acc = ctx->data_end - ctx->data };

#ifdef DEVAGENT_COMPAT
	for (__u32 i = 0; i < 32; i++)
		if (loop_step(i, &lc))
			break;
#else
	bpf_loop(32, loop_step, &lc, 0);
#endif
	return lc.acc & 1 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int inspect_tc(struct __sk_buff *skb)
{
	__u32 proto = skb->protocol, zero = 0;
	__u64 *count, one = 1;
	void *inner;

	inner = bpf_map_lookup_elem(&by_proto, &zero);
	if (!inner)
		return TC_ACT_OK;
	count = bpf_map_lookup_elem(inner, &proto);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(inner, &proto, &one, BPF_NOEXIST);
	skb->mark = 0x1234;
	return TC_ACT_OK;
}

SEC("cgroup_skb/egress")
int inspect_cgroup_egress(struct __sk_buff *skb)
{
	return skb->len < 0x10000 ? 1 : 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int inspect_tracepoint(void *ctx)
{
	__u32 zero = 0;
	__u64 *slot, stamp = bpf_ktime_get_ns();

	slot = bpf_map_lookup_elem(&per_cpu, &zero);
	if (slot)
		*slot = stamp ^ bpf_get_smp_processor_id() ^ 0x123456789abcdefULL;
	return bpf_get_current_pid_tgid() >> 32 == 1;
}

char _license[] SEC("license") = "GPL";

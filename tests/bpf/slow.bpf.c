// SPDX-License-Identifier: GPL-2.0
// A socket filter that takes measurable time per run (~20 ms here): bpf_loop over 2^23 steps.
// Test runs with a big repeat would last hours: the tests check that testRun and `inspect
// progs run` stay within their bounds (tests/e2e/test_test_run_bounds.py).
// Built again with -DDEVAGENT_COMPAT for kernels before 5.17 (no bpf_loop): a bounded loop of
// 2^15 steps instead (~50 us a run; the verifier walks every step, so it cannot be longer).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifdef DEVAGENT_COMPAT
#define STEPS (1 << 15)
#else
#define STEPS (1 << 23)
#endif

static int step(__u32 index, void *data)
{
	__u64 *acc = data;

	*acc = *acc * 31 + index;
	return 0;
}

SEC("socket")
int slow_filter(struct __sk_buff *skb)
{
	__u64 acc = skb->len;

#ifdef DEVAGENT_COMPAT
	for (__u32 i = 0; i < STEPS; i++)
		step(i, &acc);
#else
	bpf_loop(STEPS, step, &acc, 0);
#endif
	return acc & 1;
}

char LICENSE[] SEC("license") = "GPL";
